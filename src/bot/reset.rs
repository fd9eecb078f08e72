//! "Forgot password" after the identity step: the one-time link, in one
//! message that is taken back once the link is done.

use teloxide::prelude::*;

use super::{BotSettings, BotT, escape, identity::Reply, keyboards, locked, no_preview, show_time};
use crate::{
    domain::Lang,
    i18n::{arg, t, t_args},
    recovery::{IssueOutcome, Recovery, VerifiedAccount},
};

/// Issues the link and shows it; the message's id is recorded so the
/// outbox can delete it when the link is used, revoked or expires. True if
/// a link was sent.
pub async fn send_link(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    verified: VerifiedAccount,
) -> anyhow::Result<bool> {
    let zone = verified.account.zone_or(settings.default_time_zone);
    let now = recovery.now();
    let (text, markup, link) = match recovery.issue_reset_link(&verified, lang).await? {
        IssueOutcome::Issued(link) => {
            let text = t_args(
                lang,
                "reset-link-sent",
                &[
                    ("url", arg(escape(link.url.as_str()))),
                    ("expires", arg(show_time(lang, link.expires_at, zone, now))),
                ],
            );
            let markup = keyboards::reset_link(lang, &link.url, recovery.urls().fit_for_buttons());
            (text, markup, Some(link.token_id))
        }
        IssueOutcome::RateLimited { retry_at, .. } => {
            let at = show_time(lang, retry_at, zone, now);
            let text = t_args(lang, "reset-rate-limited", &[("time", arg(at))]);
            (text, keyboards::back_to_menu(lang), None)
        }
        IssueOutcome::RecoveryBlocked => {
            (t(lang, "reset-recovery-blocked"), keyboards::back_to_menu(lang), None)
        }
    };
    // A new password does not help while the subscription has lapsed: say so.
    let mut text = text;
    if let Some(ended) = recovery.lapsed_licence(&verified.account).await? {
        locked::add_licence_ended(&mut text, lang, ended);
    }
    let sent = match reply {
        Reply::New(chat) => {
            bot.send_message(chat, text)
                .link_preview_options(no_preview())
                .protect_content(true)
                .reply_markup(markup)
                .await?
        }
        Reply::Edit(chat, message_id) => {
            let edited = bot
                .edit_message_text(chat, message_id, text.clone())
                .link_preview_options(no_preview())
                .reply_markup(markup.clone())
                .await;
            match edited {
                Ok(message) => message,
                // The pick message is gone (the user deleted it): the link
                // still gets to the user, in a message of its own.
                Err(error) => {
                    tracing::info!(%error, "account pick not editable; link sent anew");
                    bot.send_message(chat, text)
                        .link_preview_options(no_preview())
                        .protect_content(true)
                        .reply_markup(markup)
                        .await?
                }
            }
        }
    };
    let issued = link.is_some();
    if let Some(token_id) = link {
        recovery.link_message_sent(token_id, sent.id.0).await?;
    }
    Ok(issued)
}
