//! Sending e-mail over SMTP (lettre, rustls): the second channel every
//! recovery is told on. What a mail says is decided where it is rendered;
//! this only delivers a subject, a plain-text body and an HTML body.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use crate::config::MailConfig;

/// How long one SMTP conversation may take before it counts as failed
/// (and is retried by the outbox).
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A mail that was not sent.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// Worth trying again later: a 4xx answer, or the server unreachable.
    pub transient: bool,
    pub message: String,
}

/// The SMTP client; cheap to clone (connections are pooled).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    /// `smtp://` tries STARTTLS and goes on in plain text only if the
    /// server does not offer it; `smtps://` is TLS from the first byte.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let fail = |message: String| MailError { transient: false, message };
        let url = &config.smtp_url;
        let host = url.host_str().unwrap_or_default().to_owned();
        let tls = TlsParameters::new(host.clone()).map_err(|e| fail(e.to_string()))?;
        let (tls, default_port) = match url.scheme() {
            "smtps" => (Tls::Wrapper(tls), 465),
            _ => (Tls::Opportunistic(tls), 587),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or_default());
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from =
            config.from.parse().map_err(|e: lettre::address::AddressError| fail(e.to_string()))?;
        Ok(Self { transport: builder.build(), from })
    }

    /// Sends one mail with a plain-text and an HTML part.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), MailError> {
        let permanent = |message: String| MailError { transient: false, message };
        let to: Mailbox =
            to.parse().map_err(|e: lettre::address::AddressError| permanent(e.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) => Err(MailError {
                // A definite refusal (5xx) or our own mistake is final;
                // anything else (4xx, the server down, a timeout) may pass.
                transient: !(error.is_permanent() || error.is_client()),
                message: error.to_string(),
            }),
        }
    }
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A notice as the account's owner reads it: in `lang`, the time in the
/// account's zone (else `default_zone`), the Telegram account named with
/// its id masked, and the "This wasn't me" link (for a hold, the link that
/// cancels it).
pub fn render_notice(
    lang: crate::domain::Lang,
    notice: &crate::domain::MailNotice,
    default_zone: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
    dispute: &url::Url,
    code: Option<&str>,
) -> RenderedMail {
    use crate::{
        domain::MailEvent,
        i18n::{arg, local_time, t, t_args},
    };
    let zone = notice.time_zone.as_deref().and_then(|tz| tz.parse().ok()).unwrap_or(default_zone);
    let name = notice.via_name.clone().unwrap_or_else(|| t(lang, "mail-telegram-unnamed"));
    let telegram = format!("{name} (id {})", mask_telegram_id(notice.via_id.0));
    let until = notice.until.map(|until| local_time(lang, until, zone, now)).unwrap_or_default();
    let args = [
        ("login", arg(notice.login.clone())),
        ("time", arg(local_time(lang, notice.at, zone, now))),
        ("telegram", arg(telegram)),
        ("code", arg(code.unwrap_or_default().to_owned())),
        ("until", arg(until)),
    ];
    let (subject, body) = match notice.event {
        MailEvent::ResetLinkIssued => ("mail-reset-link-subject", "mail-reset-link-body"),
        MailEvent::PasswordChanged => {
            ("mail-password-changed-subject", "mail-password-changed-body")
        }
        MailEvent::BindingCode => ("mail-code-subject", "mail-code-body"),
        MailEvent::TelegramBound => ("mail-bound-subject", "mail-bound-body"),
        MailEvent::ContactChanged => ("mail-contact-subject", "mail-contact-body"),
        MailEvent::BindingHold => ("mail-hold-subject", "mail-hold-body"),
        MailEvent::HoldEnded => ("mail-hold-ended-subject", "mail-hold-ended-body"),
        MailEvent::TwoFactorOff => ("mail-2fa-off-subject", "mail-2fa-off-body"),
    };
    let subject = t_args(lang, subject, &args);
    let body = t_args(lang, body, &args);
    // A hold's mail links to its cancel page; every other one to "This
    // wasn't me".
    let (not_me, label) = match notice.event {
        MailEvent::BindingHold => ("mail-hold-not-me", "mail-hold-cancel-link"),
        _ => ("mail-not-me", "mail-not-me-link"),
    };
    let not_me = t(lang, not_me);
    let label = t(lang, label);
    let footer = t(lang, "mail-footer");
    let text = format!("{body}\n\n{not_me}\n{label}: {dispute}\n\n-- \n{footer}\n");
    let escape = teloxide::utils::html::escape;
    let html = format!(
        "<!DOCTYPE html><html lang=\"{}\"><body style=\"font-family:sans-serif\">\
         <p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p style=\"color:#666\">{}</p></body></html>",
        lang.code(),
        escape(&body),
        escape(&not_me),
        escape(dispute.as_str()),
        escape(&label),
        escape(&footer)
    );
    RenderedMail { subject, text, html }
}

/// A Telegram id as a mail shows it: enough to tell two apart, not to look
/// one up (`12…89`).
pub fn mask_telegram_id(id: i64) -> String {
    let digits = id.unsigned_abs().to_string();
    if digits.len() <= 4 {
        return "…".to_owned() + &digits[digits.len().saturating_sub(2)..];
    }
    format!("{}…{}", &digits[..2], &digits[digits.len() - 2..])
}

/// `%XX` escapes in a URL's user or password.
fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_ids_are_masked() {
        assert_eq!(mask_telegram_id(123_456_789), "12…89");
        assert_eq!(mask_telegram_id(1002), "…02");
    }

    #[test]
    fn notices_escape_what_they_insert_in_html() {
        use crate::domain::{Lang, MailEvent, MailNotice, TelegramUserId};
        let notice = MailNotice {
            event: MailEvent::PasswordChanged,
            login: "a<b>".into(),
            at: chrono::DateTime::from_timestamp(1_764_061_200, 0).unwrap(),
            time_zone: Some("Europe/Moscow".into()),
            via_id: TelegramUserId(123_456_789),
            via_name: Some("Eve & Co".into()),
            code_id: None,
            hold_id: None,
            until: None,
        };
        let url: url::Url = "https://help.example.com/dispute/abc".parse().unwrap();
        let mail = render_notice(Lang::En, &notice, chrono_tz::Tz::UTC, notice.at, &url, None);
        assert!(mail.subject.contains("a<b>"));
        assert!(mail.text.contains("Eve & Co (id 12…89)"), "{}", mail.text);
        assert!(mail.text.contains("https://help.example.com/dispute/abc"));
        assert!(mail.html.contains("a&lt;b&gt;") && mail.html.contains("Eve &amp; Co"));
        assert!(!mail.html.contains("<b>"));
    }

    #[test]
    fn credentials_in_the_url_are_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%3Aword"), "p@ss:word");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
