//! The service's public addresses, named once: the router serves these
//! routes and every link the product sends is built here.

use url::Url;

use super::ResetToken;

/// The reset page's route (axum syntax); its one path parameter is the token.
pub const RESET_ROUTE: &str = "/reset/{token}";

/// The "This wasn't me" page's route; its one path parameter is the token.
pub const DISPUTE_ROUTE: &str = "/dispute/{token}";

/// The page that cancels a binding hold; its one path parameter is the
/// token.
pub const HOLD_ROUTE: &str = "/hold/{token}";

/// Builds absolute links on `PUBLIC_BASE_URL`.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    base: Url,
}

impl PublicUrls {
    pub fn new(base: Url) -> Self {
        Self { base }
    }

    /// `PUBLIC_BASE_URL/reset/<token>`, keeping any path prefix of the base
    /// (a service mounted under `/crm-help/` behind a proxy).
    pub fn reset_link(&self, token: &ResetToken) -> Url {
        self.at(&RESET_ROUTE.replace("{token}", token.expose()))
    }

    /// `PUBLIC_BASE_URL/dispute/<token>`: the mailed "This wasn't me".
    pub fn dispute_link(&self, token: &ResetToken) -> Url {
        self.at(&DISPUTE_ROUTE.replace("{token}", token.expose()))
    }

    /// `PUBLIC_BASE_URL/hold/<token>`: the mailed cancel link of a hold.
    pub fn hold_link(&self, token: &ResetToken) -> Url {
        self.at(&HOLD_ROUTE.replace("{token}", token.expose()))
    }

    /// Whether Telegram will take these links in a URL button: https on a
    /// public domain name. It refuses others ("Wrong HTTP URL"), so those
    /// links are shown in the text only.
    pub fn fit_for_buttons(&self) -> bool {
        let public_name = match self.base.host() {
            Some(url::Host::Domain(name)) => {
                name.contains('.') && !name.ends_with(".localhost") && !name.ends_with(".local")
            }
            _ => false,
        };
        self.base.scheme() == "https" && public_name
    }

    fn at(&self, route: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{route}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_links_on_public_names_go_into_buttons() {
        for (base, fit) in [
            ("https://help.example.com", true),
            ("http://help.example.com", false),
            ("https://localhost:8443", false),
            ("https://192.168.1.20", false),
            ("https://crm.local", false),
            ("https://intranet", false),
        ] {
            assert_eq!(PublicUrls::new(base.parse().unwrap()).fit_for_buttons(), fit, "{base}");
        }
    }

    #[test]
    fn links_keep_the_base_path() {
        let token = ResetToken::from_url(&"a".repeat(43)).unwrap();
        for (base, expected) in [
            ("https://help.example.com", "https://help.example.com/reset/"),
            ("https://help.example.com/", "https://help.example.com/reset/"),
            ("https://example.com/crm-help/", "https://example.com/crm-help/reset/"),
        ] {
            let urls = PublicUrls::new(base.parse().unwrap());
            assert_eq!(urls.reset_link(&token).as_str(), format!("{expected}{}", "a".repeat(43)));
        }
    }
}
