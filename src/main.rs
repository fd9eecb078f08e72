//! The `crm-recovery-bot` command line: run, migrate, import accounts.

use std::{fs::File, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use crm_recovery_bot::{
    app::{self, AppOptions},
    config::{self, Config, DatabaseConfig},
    recovery::{self, import_accounts_with, unblock_recovery, unlock_login},
    store::Store,
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "crm-recovery-bot",
    version,
    about = "Telegram bot that gets CRM users back into their accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot (long polling, or webhook with BOT_MODE=webhook) and the
    /// HTTP server until Ctrl-C or SIGTERM.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage CRM accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Load accounts from a CSV file with a header row (upsert by login).
    Import {
        file: PathBuf,
        /// Also deactivate the active accounts the file does not name (for a
        /// full export of the CRM's users).
        #[arg(long)]
        deactivate_missing: bool,
    },
    /// Lift a sign-in lock (temporary or permanent) and an administrative
    /// block from a login.
    Unlock { login: String },
    /// Everything `unlock` lifts, and the recovery block an "It wasn't me"
    /// set on the account; audited.
    Unblock { login: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        // dotenvy quotes the bad line, newline included: one line here.
        let error = error.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("error: .env is unreadable: {error}");
        return ExitCode::from(2);
    }
    let log_format = match config::log_format() {
        Ok(format) => format,
        Err(error) => return config_error(error),
    };
    telemetry::init(log_format);
    match run(cli.command).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            let config = match Config::from_env() {
                Ok(config) => config,
                Err(error) => return Ok(config_error(error)),
            };
            let signals = Signals::listen();
            let app = app::start(config, AppOptions::default()).await?;
            let halted = tokio::select! {
                () = signals.received() => None,
                reason = app.halted() => Some(reason),
            };
            tracing::info!("shutting down");
            app.stop().await;
            if let Some(reason) = halted {
                anyhow::bail!(reason);
            }
        }
        Command::Migrate => {
            let database = match DatabaseConfig::from_env() {
                Ok(database) => database,
                Err(error) => return Ok(config_error(error)),
            };
            open_database(&database).await?.close().await;
            println!("migrations applied");
        }
        Command::Accounts { command: AccountsCommand::Import { file, deactivate_missing } } => {
            let (database, policy) = match DatabaseConfig::from_env()
                .and_then(|db| Ok((db, config::password_policy()?)))
            {
                Ok(settings) => settings,
                Err(error) => return Ok(config_error(error)),
            };
            let input = File::open(&file)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
            let store = open_database(&database).await?;
            // The running bot mails contact changes if e-mail is on.
            let mail_on = std::env::var("SMTP_URL").is_ok_and(|url| !url.trim().is_empty());
            let report =
                import_accounts_with(&store, input, &policy, chrono::Utc::now(), mail_on).await?;
            for (line, reason) in &report.rejected {
                eprintln!("line {line}: {reason}");
            }
            for (line, warning) in &report.warnings {
                eprintln!("line {line}: warning: {warning}");
            }
            println!(
                "imported {} account(s), skipped {} row(s)",
                report.imported,
                report.rejected.len()
            );
            if deactivate_missing {
                // A file that imported nothing is not a full export: it
                // must not deactivate everyone.
                if report.imported == 0 {
                    eprintln!("error: the file imported no account; nothing deactivated");
                    return Ok(ExitCode::from(3));
                }
                let now = chrono::Utc::now();
                let n = recovery::deactivate_missing(&store, &report.logins, now, mail_on).await?;
                println!("deactivated {n} account(s) the file does not name");
            }
            if !report.rejected.is_empty() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Accounts { command: AccountsCommand::Unblock { login } } => {
            let database = match DatabaseConfig::from_env() {
                Ok(database) => database,
                Err(error) => return Ok(config_error(error)),
            };
            let store = open_database(&database).await?;
            let now = chrono::Utc::now();
            let unlocked = unlock_login(&store, &login, now).await?;
            let recovery = unblock_recovery(&store, &login, now).await?;
            store.close().await;
            let mut lifted = Vec::new();
            if unlocked.lockout.is_some() {
                lifted.push("its sign-in lock or failure count");
            }
            if unlocked.unblocked {
                lifted.push("a block");
            }
            if recovery {
                lifted.push("the recovery block");
            }
            if lifted.is_empty() {
                println!("{login}: nothing to unblock");
            } else {
                println!("{login}: lifted {}", lifted.join(" and "));
            }
        }
        Command::Accounts { command: AccountsCommand::Unlock { login } } => {
            let database = match DatabaseConfig::from_env() {
                Ok(database) => database,
                Err(error) => return Ok(config_error(error)),
            };
            let store = open_database(&database).await?;
            let unlocked = unlock_login(&store, &login, chrono::Utc::now()).await?;
            store.close().await;
            let mut lifted = Vec::new();
            if let Some(state) = unlocked.lockout {
                lifted.push(match (state.locked_permanently_at, state.locked_until) {
                    (Some(_), _) => "a permanent lock".to_owned(),
                    (None, Some(until)) if until > chrono::Utc::now() => {
                        format!("a lock until {}", until.to_rfc3339())
                    }
                    _ => "its failure count".to_owned(),
                });
            }
            if unlocked.unblocked {
                lifted.push("a block".to_owned());
            }
            if lifted.is_empty() {
                println!("{login}: nothing to unlock");
            } else {
                println!("{login}: lifted {}", lifted.join(" and "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects and migrates; an error names the database and the cause.
async fn open_database(database: &DatabaseConfig) -> anyhow::Result<Store> {
    let store = Store::connect(database)
        .await
        .with_context(|| format!("cannot open the database ({})", database.describe()))?;
    store.migrate().await.context("cannot apply database migrations")?;
    Ok(store)
}

fn config_error(error: crm_recovery_bot::config::ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// Ctrl-C, or SIGTERM from a container runtime: listened for from before
/// the start, so that one arriving while the bot starts stops it gracefully
/// once it has started (instead of the default action, an abrupt exit).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    None
                }
            };
            Signals {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn received(mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => {}
                () = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
