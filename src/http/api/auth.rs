//! Bearer `API_TOKEN` on every `/api/v1` request, compared in constant time.
//! A refusal is a warning in the log with the client's address, never an
//! audit row (anyone can send them) and never the presented token.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;

/// The configured token, kept only as its SHA-256 so that comparing
/// digests of equal length leaks neither content nor length.
#[derive(Clone)]
pub struct ApiToken(Arc<[u8; 32]>);

impl ApiToken {
    pub fn new(token: &str) -> Self {
        Self(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }

    fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.as_slice().ct_eq(&presented).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

/// Why a request was refused, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoHeader,
    NotBearer,
    WrongToken,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::NoHeader => "no Authorization header",
            Self::NotBearer => "not a Bearer token",
            Self::WrongToken => "wrong token",
        }
    }
}

fn check(token: &ApiToken, headers: &HeaderMap) -> Result<(), Refusal> {
    let value = headers.get(header::AUTHORIZATION).ok_or(Refusal::NoHeader)?;
    let value = value.to_str().map_err(|_| Refusal::NotBearer)?;
    let (scheme, presented) = value.trim().split_once(' ').ok_or(Refusal::NotBearer)?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::NotBearer);
    }
    if token.matches(presented.trim()) { Ok(()) } else { Err(Refusal::WrongToken) }
}

/// Middleware (`from_fn_with_state`): lets a request with the right token
/// through, answers 401 to anything else.
pub async fn require_token(
    State(token): State<ApiToken>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Err(refusal) = check(&token, request.headers()) {
        let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        tracing::warn!(
            client = client.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into()),
            method = %request.method(),
            path = request.uri().path(),
            reason = refusal.as_str(),
            "API request refused"
        );
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = ApiToken::new(TOKEN);
        assert_eq!(check(&token, &with_authorization(&format!("Bearer {TOKEN}"))), Ok(()));
        assert_eq!(check(&token, &with_authorization(&format!("bearer  {TOKEN} "))), Ok(()));
        assert_eq!(check(&token, &HeaderMap::new()), Err(Refusal::NoHeader));
        assert_eq!(check(&token, &with_authorization(TOKEN)), Err(Refusal::NotBearer));
        assert_eq!(
            check(&token, &with_authorization(&format!("Basic {TOKEN}"))),
            Err(Refusal::NotBearer)
        );
        assert_eq!(check(&token, &with_authorization("Bearer ")), Err(Refusal::NotBearer));
        for wrong in ["0123456789abcdef", &format!("{TOKEN}0"), &TOKEN.to_uppercase()] {
            assert_eq!(
                check(&token, &with_authorization(&format!("Bearer {wrong}"))),
                Err(Refusal::WrongToken),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        assert!(!format!("{:?}", ApiToken::new(TOKEN)).contains(TOKEN));
    }
}
