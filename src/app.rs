//! Builds the store, the bot and the HTTP server, starts them side by side
//! and stops them gracefully.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use teloxide::{
    adaptors::throttle::Limits,
    dispatching::{ShutdownToken, UpdateHandler},
    error_handlers::{IgnoringErrorHandlerSafe, LoggingErrorHandler},
    prelude::*,
    stop::StopToken,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    bot::{
        self, BotSettings, BotT, Desk, DialogueStorage, Fatal, Languages, OutboxHandle,
        OutboxWorker,
        budget::{BudgetTiming, SendShare},
        inbox,
        storage::DialogueCache,
    },
    clock::{Clock, SystemClock},
    config::{Backend, BotMode, Config, DatabaseConfig},
    domain::PublicUrls,
    http::{self, HttpState, WebhookCheck, WebhookIntake},
    recovery::{HashingQueue, Policies, Recovery, SupportPolicy},
    store::Store,
};

/// What differs between production and tests.
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
    /// A listener bound by the caller; otherwise `HTTP_ADDR` is bound.
    pub http_listener: Option<TcpListener>,
    /// Telegram's rate limits; tests raise them.
    pub telegram_limits: Limits,
    /// The reset page's hashing queue; otherwise one of `HASH_QUEUE_LIMIT`
    /// places. Tests hold places in it.
    pub hashing: Option<HashingQueue>,
    /// How often replicas count each other to share the send budget.
    pub send_budget: BudgetTiming,
    /// The dispatcher's tree instead of the bot's own (`bot::schema`),
    /// under the same inbox, marks and pacing: the bench measures what
    /// that plumbing costs under a tree that only replies.
    pub handler: Option<UpdateHandler<anyhow::Error>>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            http_listener: None,
            telegram_limits: Limits::default(),
            hashing: None,
            send_budget: BudgetTiming::default(),
            handler: None,
        }
    }
}

/// A started application.
pub struct RunningApp {
    pub http_addr: SocketAddr,
    pub store: Store,
    /// Wakes the outbox worker (tests move the clock, then wake it).
    pub outbox: OutboxHandle,
    dispatcher_shutdown: ShutdownToken,
    /// Ends the inbox listener's stream (and polling), which ends
    /// dispatching whatever the dispatcher's own state.
    listener_stop: StopToken,
    /// Stops the HTTP server and the outbox worker.
    background_shutdown: CancellationToken,
    bot_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
    outbox_task: JoinHandle<()>,
    maintenance_task: JoinHandle<()>,
    /// Renews this process's claims in the inbox, and gives them back.
    claims_task: JoinHandle<()>,
    /// Keeps this replica's part of Telegram's limits.
    budget_task: JoinHandle<()>,
    bot: BotT,
    /// Long polling, when the bot polls.
    poll_task: Option<JoinHandle<()>>,
    /// Raised when the process must stop (another instance polls).
    fatal: Fatal,
    /// Held while running on a SQLite file: one `run` per file.
    _run_lock: Option<std::fs::File>,
}

/// The Bot API client: our API URL, retries on 429, Telegram's rate limits.
pub fn telegram_client(config: &Config, limits: Limits) -> BotT {
    bot::client(&config.telegram_token, config.telegram_api_url.clone(), limits)
}

/// Connects, migrates, checks the Bot API answers, then serves.
pub async fn start(config: Config, options: AppOptions) -> anyhow::Result<RunningApp> {
    crate::monitoring::install();
    let run_lock = match config.database.backend {
        Backend::Sqlite => Some(lock_sqlite_file(&config.database)?),
        Backend::Postgres => None,
    };
    let store = Store::connect(&config.database)
        .await
        .with_context(|| format!("cannot open the database ({})", config.database.describe()))?;
    store.migrate().await.context("cannot apply database migrations")?;
    // This process's name among the replicas (and on its inbox claims).
    let replica = format!("bot-{}-{:x}", std::process::id(), random_suffix());
    // Its part of the bot's limits is known before anything is sent.
    let mut send_share = SendShare::join(
        store.clone(),
        replica.clone(),
        options.telegram_limits,
        options.send_budget,
    )
    .await;
    let bot = telegram_client(&config, send_share.part());
    send_share.attach(bot.clone());
    let me = bot.get_me().await.with_context(|| {
        format!("the Telegram Bot API at {} did not answer getMe", config.telegram_api_url)
    })?;
    tracing::info!(username = me.username(), "connected to the Telegram Bot API");
    bot::register_commands(&bot).await;

    let settings = BotSettings { default_time_zone: config.default_time_zone };
    let outbox = OutboxHandle::default();
    let worker = OutboxWorker::new(
        bot.clone(),
        store.clone(),
        Arc::clone(&options.clock),
        settings.clone(),
        &outbox,
    );
    // The dummy hash unknown logins are checked against, made before the
    // first request so that its cost never shows in one answer's timing.
    crate::recovery::prepare_sign_in().await.context("cannot prepare sign-in")?;
    let hashing =
        options.hashing.unwrap_or_else(|| HashingQueue::new(config.page.hash_queue_limit));
    let recovery = Recovery::new(
        store.clone(),
        Arc::clone(&options.clock),
        Policies {
            reset: config.reset.clone(),
            password: config.password,
            lockout: config.lockout,
        },
        PublicUrls::new(config.public_base_url.clone()),
        hashing,
        Arc::new(outbox.clone()),
    );
    let mailer = match &config.mail {
        Some(mail) => Some(crate::mail::Mailer::new(mail).context("SMTP_URL cannot be used")?),
        None => {
            tracing::warn!(
                "e-mail is off (SMTP_URL is not set): recovery then trusts the phone \
                alone, and no change is told on a second channel"
            );
            None
        }
    };
    let desk = Desk::new(
        config.support.chat_id,
        config.support.language,
        config.support.admin_ids.clone(),
        SupportPolicy { sla: config.support.sla, hours: config.support.hours },
        config.support.contact.clone(),
        config.default_time_zone,
    );
    desk.load_learned(&recovery).await.context("cannot read the support desk's settings")?;
    match desk.chat() {
        Some(chat) => tracing::info!(chat, "support desk on: tickets go to the staff group"),
        None => tracing::warn!(
            "SUPPORT_CHAT_ID is not set: no tickets can be opened; users \
            are told to contact SUPPORT_CONTACT instead (add the bot to the staff group and \
            send /chatid there to learn its id)"
        ),
    }
    match &config.secret_keys {
        Some(keys) => tracing::info!(key_id = keys.current_key_id(), "two-factor enrolment is on"),
        None => {
            tracing::warn!(
                "two-factor enrolment is off: SECRET_KEY is not set (enrolment answers 409; \
                generate a key with `openssl rand -hex 32`)"
            );
            let enrolled = store.two_factor_count().await.context("cannot read two_factor")?;
            if enrolled > 0 {
                tracing::error!(
                    accounts = enrolled,
                    "accounts have two-factor authentication but SECRET_KEY is not set: \
                    their sign-ins fail until it is set again"
                );
            }
        }
    }
    let recovery = recovery
        .with_two_factor(config.secret_keys.clone(), config.page.brand_name.clone())
        .with_mail(mailer.is_some())
        .with_binding(config.binding, config.contact_cooldown)
        .with_support(desk.chat().map(|_| desk.policy.clone()));
    let mut worker = worker.with_desk(desk.clone(), recovery.clone());
    if let Some(mailer) = mailer {
        tracing::info!(from = config.mail.as_ref().map(|m| m.from.as_str()), "e-mail is on");
        worker = worker.with_mail(mailer, recovery.clone());
    }
    if config.public_base_url.scheme() != "https" {
        tracing::warn!(public_base_url = %config.public_base_url,
            "PUBLIC_BASE_URL is plain http: fine on a local network, never in production");
    }

    let listener = match options.http_listener {
        Some(listener) => listener,
        None => TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on HTTP_ADDR {}", config.http_addr))?,
    };
    let http_addr = listener.local_addr()?;
    let background_shutdown = CancellationToken::new();
    let outbox_task = tokio::spawn(worker.run(background_shutdown.clone()));
    let maintenance_task = tokio::spawn(maintain(
        recovery.clone(),
        config.inbox_retention,
        background_shutdown.clone(),
    ));
    match &config.api_token {
        Some(_) => tracing::info!(base = http::api::BASE, "HTTP API is on"),
        None => tracing::info!("HTTP API is off: API_TOKEN is not set"),
    }
    let api_token = config.api_token.as_deref().map(http::api::ApiToken::new);
    let ready_at = send_share.ready_at();
    let budget_task = tokio::spawn(send_share.run(background_shutdown.clone()));
    inbox::release_stale_claims(&store).await.context("cannot read the inbox")?;
    let dialogue_cache = DialogueCache::default();
    let languages = Languages::default();
    let (intake, mut updates, allowed_updates) =
        inbox::inbox(store.clone(), replica.clone(), dialogue_cache.clone(), languages.clone());
    updates.claim_from(ready_at);
    let claims_task =
        tokio::spawn(inbox::keep_claims(store.clone(), replica, background_shutdown.clone()));
    let mut http_state = HttpState::new(recovery.clone(), &config.page, api_token)
        .with_bot_username(me.user.username.clone());
    if let BotMode::Webhook(webhook) = &config.bot_mode {
        http_state = http_state.with_webhook(
            WebhookIntake::new(intake.clone(), webhook.path(), &webhook.secret),
            WebhookCheck::new(bot.clone(), webhook.url.clone()),
        );
    }
    let http_task = tokio::spawn(http::serve(listener, http_state, background_shutdown.clone()));
    tracing::info!(%http_addr, public_base_url = %config.public_base_url, "HTTP server listening");

    let dialogues = DialogueStorage::sharing(store.clone(), dialogue_cache.clone());
    let marks = inbox::Marks::start(store.clone(), updates.in_flight(), dialogue_cache);
    let tree = options.handler.unwrap_or_else(bot::schema::schema);
    let handler = bot::inbox::measured(tree, marks);
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![recovery, dialogues, settings, desk, languages])
        .default_handler(|_| async {})
        .error_handler(LoggingErrorHandler::with_custom_text("a bot handler failed"))
        .build();
    let dispatcher_shutdown = dispatcher.shutdown_token();
    let listener_stop = updates.stopper();
    let fatal = Fatal::default();
    let (allowed_updates, poll_task) = match &config.bot_mode {
        BotMode::Polling => {
            inbox::delete_webhook_for_polling(&bot).await;
            let poll = inbox::poll(bot.clone(), intake, allowed_updates, fatal.clone());
            (None, Some(tokio::spawn(poll)))
        }
        BotMode::Webhook(_) => (Some(allowed_updates), None),
    };
    let bot_task = tokio::spawn(async move {
        let listener_errors = Arc::new(IgnoringErrorHandlerSafe);
        if let Err(error) = dispatcher.try_dispatch_with_listener(updates, listener_errors).await {
            tracing::error!(%error, "the bot stopped: getMe failed");
        }
    });

    let app = RunningApp {
        http_addr,
        store,
        outbox,
        dispatcher_shutdown,
        listener_stop,
        background_shutdown,
        bot_task,
        http_task,
        outbox_task,
        maintenance_task,
        claims_task,
        budget_task,
        bot: bot.clone(),
        poll_task,
        fatal,
        _run_lock: run_lock,
    };
    match (&config.bot_mode, allowed_updates) {
        (BotMode::Webhook(webhook), Some(allowed)) => {
            if let Err(error) = register_webhook(&bot, webhook, allowed).await {
                app.stop().await;
                return Err(error);
            }
            tracing::info!(url = %webhook.url, "bot takes updates through its webhook");
        }
        _ => tracing::info!("bot is polling for updates"),
    }
    Ok(app)
}

/// Tells Telegram where to post updates, with the secret it must send
/// back. Every replica does this at start with the same values, which
/// Telegram takes as a no-op; none deletes the webhook when it stops, since
/// the others still serve it.
async fn register_webhook(
    bot: &BotT,
    webhook: &crate::config::WebhookConfig,
    allowed: inbox::AllowedUpdates,
) -> anyhow::Result<()> {
    let Some((allowed, _stopped)) = allowed.get().await else {
        anyhow::bail!("the bot did not start, so its webhook was not registered");
    };
    bot.set_webhook(webhook.url.clone())
        .secret_token(webhook.secret.clone())
        .allowed_updates(allowed)
        .await
        .map_err(|error| {
            crate::monitoring::telegram_error(&error);
            anyhow::anyhow!(
                "Telegram refused the webhook WEBHOOK_URL {} (setWebhook: {error})",
                webhook.url
            )
        })?;
    Ok(())
}

/// One `run` per SQLite file: an exclusive lock on a file beside it, held
/// while the process runs and released by the system when it exits, even
/// after a crash. `migrate` and `accounts import` do not take it.
fn lock_sqlite_file(database: &DatabaseConfig) -> anyhow::Result<std::fs::File> {
    let Some(path) = database.sqlite_path() else {
        anyhow::bail!("DATABASE_URL names no SQLite file");
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".run-lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let cannot_open = || format!("cannot open the database ({})", database.describe());
    if let Some(dir) = lock_path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .context("cannot create its directory")
            .with_context(cannot_open)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open its lock file {}", lock_path.display()))
        .with_context(cannot_open)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "another `crm-recovery-bot run` is using the SQLite file {} (it holds {}); \
             stop it first: only one process may run on a SQLite file (use PostgreSQL for \
             replicas)",
            path.display(),
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(error)) => Err(error)
            .with_context(|| format!("cannot lock {}", lock_path.display()))
            .with_context(cannot_open),
    }
}

impl RunningApp {
    /// Resolves with the reason when the process must stop by itself
    /// (another instance already polls with this token).
    pub async fn halted(&self) -> String {
        self.fatal.raised().await
    }

    /// This replica's part of Telegram's limits, as its client paces
    /// messages now.
    pub fn send_limits(&self) -> Limits {
        self.bot.limits()
    }

    /// Stops polling (confirming processed updates to Telegram), lets the
    /// handlers and HTTP requests in flight finish, then closes the pool.
    pub async fn stop(mut self) {
        // The listener is stopped directly, not only through the
        // dispatcher: teloxide's shutdown wakes only a dispatcher already
        // waiting for it, so one that was just starting (or between two
        // updates) would never pass it on, and dispatching never ended.
        // With its stream ended, the dispatcher finishes the updates it
        // has, then stops.
        self.listener_stop.stop();
        loop {
            if self.bot_task.is_finished() {
                break;
            }
            match self.dispatcher_shutdown.shutdown() {
                Ok(done) => {
                    tokio::select! {
                        _ = done => {}
                        _ = &mut self.bot_task => {}
                    }
                    break;
                }
                // Not dispatching yet: it is still fetching getMe; try again shortly.
                Err(_idle) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        if !self.bot_task.is_finished() {
            joined("the bot", (&mut self.bot_task).await);
        }
        if let Some(poll_task) = self.poll_task.take() {
            joined("polling", poll_task.await);
        }
        self.background_shutdown.cancel();
        joined("the HTTP server", self.http_task.await);
        joined("the outbox worker", self.outbox_task.await);
        joined("maintenance", self.maintenance_task.await);
        joined("the inbox claims", self.claims_task.await);
        joined("the send budget", self.budget_task.await);
        self.store.close().await;
        tracing::info!("stopped");
    }
}

/// Housekeeping, at start and then hourly: records that no longer mean
/// anything are removed.
async fn maintain(
    recovery: Recovery,
    inbox_retention: chrono::Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(error) = recovery.prune_sign_in_failures().await {
            tracing::warn!(%error, "maintenance: sign-in failure records not pruned");
        }
        // Real time, like the inbox's own stamps.
        let before = chrono::Utc::now() - inbox_retention;
        match recovery.store.prune_inbox(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "handled updates removed from the inbox"),
            Err(error) => tracing::warn!(%error, "maintenance: the inbox not pruned"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

/// A random number for names that must differ between processes.
fn random_suffix() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    }
    u64::from_le_bytes(bytes)
}

/// A task that panicked is reported, not ignored.
fn joined(what: &str, result: Result<(), tokio::task::JoinError>) {
    if let Err(error) = result {
        tracing::error!(%error, "{what} stopped abnormally");
    }
}
