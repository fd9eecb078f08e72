//! `GET/POST /reset/<token>`: the localised page where a new password is set.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;

use super::HttpState;
use crate::{
    domain::{Lang, PasswordRejection, password},
    i18n::{arg, t, t_args},
    recovery::{RecoveryError, ResetFailure},
};

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    lang: &'static str,
    title: String,
    heading: String,
    message: Option<String>,
    error: Option<String>,
    form: Option<FormLabels>,
}

struct FormLabels {
    /// Password length bounds, for the browser's own check.
    min: usize,
    max: usize,
    account: String,
    rules: String,
    password: String,
    confirm: String,
    submit: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn show(
    State(state): State<HttpState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.recovery.open_reset_link(&token).await {
        Ok(Some(view)) => page(StatusCode::OK, form_page(view.lang, &view.login, None)),
        Ok(None) => page(StatusCode::NOT_FOUND, invalid_page(browser_lang(&headers))),
        Err(error) => internal_error(error, browser_lang(&headers)),
    }
}

pub async fn submit(
    State(state): State<HttpState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    // On its own task: if the browser goes away mid-request, axum drops
    // this handler, but a reset that has begun still finishes as a whole.
    let recovery = state.recovery.clone();
    let outcome = tokio::spawn(async move {
        recovery.complete_reset(&token, form.password, form.password_confirm).await
    })
    .await
    .unwrap_or_else(|e| Err(RecoveryError::Task(e.to_string())));
    match outcome {
        Ok(Ok(done)) => page(
            StatusCode::OK,
            ResetPage {
                lang: done.lang.code(),
                title: t(done.lang, "page-title"),
                heading: t(done.lang, "page-done-heading"),
                message: Some(t(done.lang, "page-done-text")),
                error: None,
                form: None,
            },
        ),
        Ok(Err(ResetFailure::Rejected { reason, lang, login })) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(lang, &login, Some(rejection_text(lang, reason))),
        ),
        Ok(Err(ResetFailure::InvalidLink)) => {
            page(StatusCode::NOT_FOUND, invalid_page(browser_lang(&headers)))
        }
        Err(error) => internal_error(error, browser_lang(&headers)),
    }
}

fn form_page(lang: Lang, login: &str, error: Option<String>) -> ResetPage {
    ResetPage {
        lang: lang.code(),
        title: t(lang, "page-title"),
        heading: t(lang, "page-heading"),
        message: None,
        error,
        form: Some(FormLabels {
            min: password::MIN_CHARS,
            max: password::MAX_CHARS,
            account: t_args(lang, "page-account", &[("login", arg(login))]),
            rules: t_args(
                lang,
                "page-rules",
                &[("min", password::MIN_CHARS.into()), ("max", password::MAX_CHARS.into())],
            ),
            password: t(lang, "page-password"),
            confirm: t(lang, "page-confirm"),
            submit: t(lang, "page-submit"),
        }),
    }
}

/// One page for unknown, expired, used and revoked links alike.
fn invalid_page(lang: Lang) -> ResetPage {
    ResetPage {
        lang: lang.code(),
        title: t(lang, "page-title"),
        heading: t(lang, "page-invalid-heading"),
        message: Some(t(lang, "page-invalid-text")),
        error: None,
        form: None,
    }
}

fn rejection_text(lang: Lang, reason: PasswordRejection) -> String {
    match reason {
        PasswordRejection::TooShort => {
            t_args(lang, "password-too-short", &[("min", password::MIN_CHARS.into())])
        }
        PasswordRejection::TooLong => {
            t_args(lang, "password-too-long", &[("max", password::MAX_CHARS.into())])
        }
        PasswordRejection::TooWeak => t(lang, "password-too-weak"),
        PasswordRejection::ContainsIdentity => t(lang, "password-contains-identity"),
        PasswordRejection::Mismatch => t(lang, "password-mismatch"),
        PasswordRejection::SameAsCurrent => t(lang, "password-same-as-current"),
    }
}

fn internal_error(error: RecoveryError, lang: Lang) -> Response {
    tracing::error!(%error, "reset page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        ResetPage {
            lang: lang.code(),
            title: t(lang, "page-title"),
            heading: t(lang, "page-error-heading"),
            message: Some(t(lang, "page-error-text")),
            error: None,
            form: None,
        },
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
