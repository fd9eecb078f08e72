//! crm-recovery-bot: a Telegram bot and a small HTTP service that get CRM
//! users back into their accounts, and hand the rest to support staff.

pub mod app;
pub mod bot;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod mail;
pub mod monitoring;
pub mod recovery;
pub mod store;
pub mod telemetry;
