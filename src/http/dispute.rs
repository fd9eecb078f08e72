//! The mailed "This wasn't me" link: a page that asks to confirm (opening
//! it, or a mail scanner following it, does nothing), and the confirmation
//! that blocks recovery of the account.

use askama::Template;
use axum::{
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use std::net::SocketAddr;

use super::HttpState;
use crate::{
    domain::Lang,
    i18n::{arg, t, t_args},
    recovery::DeadDispute,
};

#[derive(Template)]
#[template(path = "dispute.html")]
struct DisputePage {
    lang: &'static str,
    heading: String,
    message: String,
    confirm: Option<String>,
}

fn page(status: StatusCode, lang: Lang, heading: &str, message: String, confirm: bool) -> Response {
    let page = DisputePage {
        lang: lang.code(),
        heading: t(lang, heading),
        message,
        confirm: confirm.then(|| t(lang, "dispute-confirm-button")),
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "dispute page not rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn dead(dead: DeadDispute) -> Response {
    let lang = match dead {
        DeadDispute::Spent(lang) => lang,
        DeadDispute::Unknown => Lang::default(),
    };
    page(StatusCode::NOT_FOUND, lang, "dispute-dead-title", t(lang, "dispute-dead"), false)
}

/// GET: what the link is for, and the confirm button.
pub async fn show(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    match state.recovery.open_dispute(&token).await {
        Ok(Ok(view)) => {
            let message =
                t_args(view.lang, "dispute-ask", &[("login", arg(view.masked_login.clone()))]);
            page(StatusCode::OK, view.lang, "dispute-title", message, true)
        }
        Ok(Err(gone)) => dead(gone),
        Err(error) => {
            tracing::error!(%error, "dispute link not looked up");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// POST: confirmed. Single use: a second confirmation finds the link spent.
pub async fn confirm(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let client =
        Some(super::client::client_ip(peer, &headers, state.page.trusted_proxies()).to_string());
    match state.recovery.confirm_dispute(&token, client).await {
        Ok(Ok(lang)) => {
            page(StatusCode::OK, lang, "dispute-done-title", t(lang, "dispute-done"), false)
        }
        Ok(Err(gone)) => dead(gone),
        Err(error) => {
            tracing::error!(%error, "dispute not recorded");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
