//! `GET/POST /reset/<token>`: the localised page where a new password is
//! set, its strength meter, and its defences (a bounded hashing queue, a
//! per-address limit on bad links).

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use askama::Template;
use axum::{
    Form, Json,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{HttpState, client::client_ip};
use crate::{
    config::PageConfig,
    domain::{Lang, PasswordPolicy},
    i18n::{arg, password_rejection, password_rules, t, t_args},
    recovery::{Assessment, RecoveryError, ResetFailure},
};

/// The strength meter's endpoint, relative to the page's own URL.
pub const STRENGTH_ROUTE: &str = "/reset/{token}/strength";
/// The page's script (the meter and the show-password toggle).
pub const SCRIPT_ROUTE: &str = "/assets/reset.js";

/// The page's settings and its per-address limiter.
pub struct PageSettings {
    brand_name: String,
    crm_login_url: Option<Url>,
    trusted_proxies: Vec<IpNet>,
    bad_links: DefaultKeyedRateLimiter<IpAddr>,
    /// Counts checks, to forget idle addresses now and then.
    checks: AtomicU64,
}

impl PageSettings {
    /// Proxies whose `X-Forwarded-For` is believed (the API uses them too).
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    pub fn new(config: &PageConfig) -> Self {
        let per_minute = NonZeroU32::new(config.bad_tokens_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            brand_name: config.brand_name.clone(),
            crm_login_url: config.crm_login_url.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            bad_links: RateLimiter::keyed(Quota::per_minute(per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts a request for a bad link from `ip`; false once the address
    /// has used up its allowance. Real links are never counted, so a whole
    /// company behind one address is not stopped by this. An IPv6 client
    /// is counted by its /64, the block one host usually holds.
    fn allow_bad_link(&self, ip: IpAddr) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.bad_links.retain_recent();
        }
        self.bad_links.check_key(&limit_key(ip)).is_ok()
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    lang: &'static str,
    title: String,
    heading: String,
    message: Option<String>,
    error: Option<String>,
    form: Option<FormLabels>,
    /// "Back to sign-in": the label and where it leads.
    sign_in: Option<(String, String)>,
}

struct FormLabels {
    /// The shortest password, for the browser's own check (no maximum: the
    /// browser counts UTF-16 units, not characters, and would cut a long
    /// password silently; the server says "too long" instead).
    min: usize,
    /// The meter's endpoint, relative to the page.
    strength_url: String,
    account: String,
    rules: String,
    password: String,
    confirm: String,
    show: String,
    hide: String,
    strength: String,
    submit: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

#[derive(Deserialize)]
pub struct StrengthForm {
    #[serde(default)]
    password: String,
}

/// The meter's answer.
#[derive(Serialize)]
struct StrengthAnswer {
    score: u8,
    ok: bool,
    verdict: String,
}

/// The address a limit applies to: IPv4 as it is, IPv6 by its /64.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// What the handlers need to know about the request.
struct Request {
    ip: IpAddr,
    browser_lang: Lang,
}

impl Request {
    fn new(state: &HttpState, peer: SocketAddr, headers: &HeaderMap) -> Self {
        Self {
            ip: client_ip(peer, headers, &state.page.trusted_proxies),
            browser_lang: browser_lang(headers),
        }
    }
}

pub async fn show(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request = Request::new(&state, peer, &headers);
    let opened = state.recovery.open_reset_link(&token, Some(request.ip.to_string())).await;
    match opened {
        Ok(Ok(view)) => page(
            StatusCode::OK,
            form_page(&state, view.lang, &token, &view.login, &view.policy, None),
        ),
        Ok(Err(failure)) => failure_page(&state, &request, &token, failure).await,
        Err(error) => internal_error(&state, error, request.browser_lang),
    }
}

pub async fn submit(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    let request = Request::new(&state, peer, &headers);
    // On its own task: if the browser goes away mid-request, axum drops
    // this handler, but a reset that has begun still finishes as a whole.
    let recovery = state.recovery.clone();
    let client = Some(request.ip.to_string());
    let task_token = token.clone();
    let outcome = tokio::spawn(async move {
        recovery.complete_reset(&task_token, form.password, form.password_confirm, client).await
    })
    .await
    .unwrap_or_else(|e| Err(RecoveryError::Task(e.to_string())));
    match outcome {
        Ok(Ok(done)) => page(
            StatusCode::OK,
            message_page(&state, done.lang, "page-done-heading", t(done.lang, "page-done-text")),
        ),
        Ok(Err(failure)) => failure_page(&state, &request, &token, failure).await,
        Err(error) => internal_error(&state, error, request.browser_lang),
    }
}

/// The meter: the same rules as a submission, nothing counted or stored.
pub async fn strength(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StrengthForm>,
) -> Response {
    let request = Request::new(&state, peer, &headers);
    match state.recovery.assess_password(&token, form.password).await {
        Ok(Ok(Some(Assessment { score, verdict, lang }))) => {
            let (ok, verdict) = match verdict {
                Ok(()) => (true, t(lang, "page-strength-ok")),
                Err(reason) => (false, password_rejection(lang, &reason)),
            };
            Json(StrengthAnswer { score, ok, verdict }).into_response()
        }
        Ok(Ok(None)) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Ok(Err(_)) => {
            if !state.page.allow_bad_link(request.ip) {
                return StatusCode::TOO_MANY_REQUESTS.into_response();
            }
            StatusCode::NOT_FOUND.into_response()
        }
        Err(error) => {
            tracing::error!(%error, "strength meter failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The page's script: same origin, so the page's CSP allows it.
pub async fn script() -> Response {
    let mut response = include_str!("templates/reset.js").into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    response
}

async fn failure_page(
    state: &HttpState,
    request: &Request,
    token: &str,
    failure: ResetFailure,
) -> Response {
    match failure {
        ResetFailure::InvalidLink { lang, dead } => {
            let lang = lang.unwrap_or(request.browser_lang);
            // Checked before anything is written: over its allowance, an
            // address gets the 429 page and leaves no audit row.
            if !state.page.allow_bad_link(request.ip) {
                tracing::warn!(client = %request.ip, "reset page: too many bad links from one address");
                let text = t(lang, "page-too-many-text");
                return page(
                    StatusCode::TOO_MANY_REQUESTS,
                    message_page(state, lang, "page-too-many-heading", text),
                );
            }
            if let Some(dead) = dead {
                state.recovery.record_dead_link(dead, Some(request.ip.to_string())).await;
            }
            let text = t(lang, "page-invalid-text");
            page(StatusCode::NOT_FOUND, message_page(state, lang, "page-invalid-heading", text))
        }
        ResetFailure::Rejected { reason, lang, login, policy } => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(state, lang, token, &login, &policy, Some(password_rejection(lang, &reason))),
        ),
        ResetFailure::Spent { reason, lang } => {
            let mut spent =
                message_page(state, lang, "page-invalid-heading", t(lang, "page-spent-text"));
            spent.error = Some(password_rejection(lang, &reason));
            page(StatusCode::UNPROCESSABLE_ENTITY, spent)
        }
        ResetFailure::Busy { lang } => {
            let busy = message_page(state, lang, "page-busy-heading", t(lang, "page-busy-text"));
            let mut response = page(StatusCode::SERVICE_UNAVAILABLE, busy);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
    }
}

fn form_page(
    state: &HttpState,
    lang: Lang,
    token: &str,
    login: &str,
    policy: &PasswordPolicy,
    error: Option<String>,
) -> ResetPage {
    let mut page = message_page(state, lang, "page-heading", String::new());
    page.message = None;
    page.error = error;
    page.form = Some(FormLabels {
        min: policy.min_length,
        strength_url: STRENGTH_ROUTE.replace("/reset/{token}", token),
        account: t_args(lang, "page-account", &[("login", arg(login))]),
        rules: password_rules(lang, policy),
        password: t(lang, "page-password"),
        confirm: t(lang, "page-confirm"),
        show: t(lang, "page-show-password"),
        hide: t(lang, "page-hide-password"),
        strength: t(lang, "page-strength"),
        submit: t(lang, "page-submit"),
    });
    page
}

/// A page with a heading and a message, no form.
fn message_page(state: &HttpState, lang: Lang, heading: &str, message: String) -> ResetPage {
    let brand = &state.page.brand_name;
    ResetPage {
        lang: lang.code(),
        title: t_args(lang, "page-title", &[("brand", arg(brand.clone()))]),
        heading: t(lang, heading),
        message: Some(message),
        error: None,
        form: None,
        sign_in: state.page.crm_login_url.as_ref().map(|url| {
            (
                t_args(lang, "page-back-to-sign-in", &[("brand", arg(brand.clone()))]),
                url.to_string(),
            )
        }),
    }
}

fn internal_error(state: &HttpState, error: RecoveryError, lang: Lang) -> Response {
    tracing::error!(%error, "reset page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        message_page(state, lang, "page-error-heading", t(lang, "page-error-text")),
    )
}

/// The page language when the link itself does not say: Accept-Language.
fn browser_lang(headers: &HeaderMap) -> Lang {
    Lang::from_code(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// Renders the page; the security headers that keep the token in the URL
/// private are added to every answer by the router (`http::router`).
fn page(status: StatusCode, page: ResetPage) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "reset page template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Shared by the router.
pub type SharedPage = Arc<PageSettings>;
