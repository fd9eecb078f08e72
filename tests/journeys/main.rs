//! Every user journey in one test binary: the real application against a
//! fake Telegram Bot API server and a real database (SQLite, and PostgreSQL
//! when `TEST_DATABASE_URL` is set). One binary links once and shares the
//! support code; each module is one thing a person does.

#[macro_use]
mod support;

mod accounts_api;
mod accounts_import;
mod api;
mod cli;
mod conversation;
mod crash;
mod fake_telegram;
mod identity;
mod inbox;
mod locked;
mod logging;
mod mail;
mod notices;
mod operations;
mod outbox;
mod password_reset;
mod replicas;
mod reset_link;
mod reset_page;
mod security_events;
mod signin;
mod smtp_server;
mod subscription;
mod support_desk;
mod support_operations;
mod support_two_factor;
mod two_factor;
mod two_factor_bot;
