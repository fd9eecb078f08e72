//! The mailed links that act on an account — "This wasn't me", and the
//! cancel link of a binding hold: a page that asks to confirm (opening it,
//! or a mail scanner following it, does nothing), and the confirmation.

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
    recovery::{DeadDispute, DeadHold},
};

#[derive(Template)]
#[template(path = "dispute.html")]
struct DisputePage {
    lang: &'static str,
    heading: String,
    message: String,
    confirm: Option<String>,
}

/// A page titled by the `heading` key; with a confirm button labelled by
/// the `confirm` key.
fn page(
    status: StatusCode,
    lang: Lang,
    heading: &str,
    message: String,
    confirm: Option<&str>,
) -> Response {
    let page = DisputePage {
        lang: lang.code(),
        heading: t(lang, heading),
        message,
        confirm: confirm.map(|key| t(lang, key)),
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
    page(StatusCode::NOT_FOUND, lang, "dispute-dead-title", t(lang, "dispute-dead"), None)
}

/// GET: what the link is for, and the confirm button.
pub async fn show(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    match state.recovery.open_dispute(&token).await {
        Ok(Ok(view)) => {
            let message =
                t_args(view.lang, "dispute-ask", &[("login", arg(view.masked_login.clone()))]);
            page(
                StatusCode::OK,
                view.lang,
                "dispute-title",
                message,
                Some("dispute-confirm-button"),
            )
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
            page(StatusCode::OK, lang, "dispute-done-title", t(lang, "dispute-done"), None)
        }
        Ok(Err(gone)) => dead(gone),
        Err(error) => {
            tracing::error!(%error, "dispute not recorded");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn dead_hold(dead: DeadHold) -> Response {
    let lang = match dead {
        DeadHold::Over(lang) => lang,
        DeadHold::Unknown => Lang::default(),
    };
    page(StatusCode::NOT_FOUND, lang, "hold-page-dead-title", t(lang, "hold-page-dead"), None)
}

/// GET on a hold's cancel link: what it cancels, and the confirm button.
pub async fn show_hold(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    match state.recovery.open_hold(&token).await {
        Ok(Ok(view)) => {
            let message =
                t_args(view.lang, "hold-page-ask", &[("login", arg(view.masked_login.clone()))]);
            page(StatusCode::OK, view.lang, "hold-page-title", message, Some("hold-page-button"))
        }
        Ok(Err(dead)) => dead_hold(dead),
        Err(error) => {
            tracing::error!(%error, "hold cancel link not looked up");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// POST: the hold is cancelled and its Telegram user told. Single use.
pub async fn cancel_hold(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let client =
        Some(super::client::client_ip(peer, &headers, state.page.trusted_proxies()).to_string());
    match state.recovery.cancel_hold_by_mail(&token, client).await {
        Ok(Ok(lang)) => {
            page(StatusCode::OK, lang, "hold-page-done-title", t(lang, "hold-page-done"), None)
        }
        Ok(Err(dead)) => dead_hold(dead),
        Err(error) => {
            tracing::error!(%error, "hold not cancelled");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
