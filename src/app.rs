//! Builds the store, the bot and the HTTP server, starts them side by side
//! and stops them gracefully.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use teloxide::{
    adaptors::throttle::Limits, dispatching::ShutdownToken, error_handlers::LoggingErrorHandler,
    prelude::*, update_listeners,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    bot::{self, BotSettings, BotT, TelegramNotifier},
    clock::{Clock, SystemClock},
    config::Config,
    http::{self, HttpState},
    recovery::Recovery,
    store::Store,
};

/// What differs between production and tests.
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
    /// A listener bound by the caller; otherwise `HTTP_ADDR` is bound.
    pub http_listener: Option<TcpListener>,
    /// Telegram's rate limits; tests raise them.
    pub telegram_limits: Limits,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            http_listener: None,
            telegram_limits: Limits::default(),
        }
    }
}

/// A started application.
pub struct RunningApp {
    pub http_addr: SocketAddr,
    pub store: Store,
    dispatcher_shutdown: ShutdownToken,
    /// Stops the HTTP server and the outbox worker.
    background_shutdown: CancellationToken,
    bot_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
    outbox_task: JoinHandle<()>,
}

/// The Bot API client: our API URL, retries on 429, Telegram's rate limits.
pub fn telegram_client(config: &Config, limits: Limits) -> BotT {
    let bot = Bot::new(&config.telegram_token).set_api_url(config.telegram_api_url.clone());
    bot.throttle(limits)
}

/// Connects, migrates, checks the Bot API answers, then serves.
pub async fn start(config: Config, options: AppOptions) -> anyhow::Result<RunningApp> {
    let store = Store::connect(&config.database).await.context("cannot open the database")?;
    store.migrate().await.context("cannot apply database migrations")?;
    let bot = telegram_client(&config, options.telegram_limits);
    let me = bot.get_me().await.with_context(|| {
        format!("the Telegram Bot API at {} did not answer getMe", config.telegram_api_url)
    })?;
    tracing::info!(username = me.username(), "connected to the Telegram Bot API");
    bot::register_commands(&bot).await;

    let (notifier, outbox) =
        TelegramNotifier::new(bot.clone(), store.clone(), Arc::clone(&options.clock));
    let recovery = Recovery::new(
        store.clone(),
        options.clock,
        config.reset.clone(),
        config.public_base_url.clone(),
        Arc::new(notifier),
    );

    let listener = match options.http_listener {
        Some(listener) => listener,
        None => TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on HTTP_ADDR {}", config.http_addr))?,
    };
    let http_addr = listener.local_addr()?;
    let background_shutdown = CancellationToken::new();
    let outbox_task = tokio::spawn(outbox.run(background_shutdown.clone()));
    match &config.api_token {
        Some(_) => tracing::info!(base = http::api::BASE, "HTTP API is on"),
        None => tracing::info!("HTTP API is off: API_TOKEN is not set"),
    }
    let http_state = HttpState {
        recovery: recovery.clone(),
        api_token: config.api_token.as_deref().map(http::api::ApiToken::new),
    };
    let http_task = tokio::spawn(http::serve(listener, http_state, background_shutdown.clone()));
    tracing::info!(%http_addr, public_base_url = %config.public_base_url, "HTTP server listening");

    let settings = BotSettings { default_time_zone: config.default_time_zone };
    let mut dispatcher = Dispatcher::builder(bot.clone(), bot::schema::schema())
        .dependencies(dptree::deps![recovery, Arc::new(store.clone()), settings])
        .default_handler(|_| async {})
        .error_handler(LoggingErrorHandler::with_custom_text("a bot handler failed"))
        .build();
    let dispatcher_shutdown = dispatcher.shutdown_token();
    let polling = update_listeners::polling_default(bot).await;
    let bot_task = tokio::spawn(async move {
        let polling_errors = LoggingErrorHandler::with_custom_text("getUpdates failed");
        if let Err(error) = dispatcher.try_dispatch_with_listener(polling, polling_errors).await {
            tracing::error!(%error, "the bot stopped: getMe failed");
        }
    });
    tracing::info!("bot is polling for updates");

    Ok(RunningApp {
        http_addr,
        store,
        dispatcher_shutdown,
        background_shutdown,
        bot_task,
        http_task,
        outbox_task,
    })
}

impl RunningApp {
    /// Stops polling (confirming processed updates to Telegram), lets the
    /// handlers and HTTP requests in flight finish, then closes the pool.
    pub async fn stop(mut self) {
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
            let _ = (&mut self.bot_task).await;
        }
        self.background_shutdown.cancel();
        let _ = self.http_task.await;
        let _ = self.outbox_task.await;
        self.store.close().await;
        tracing::info!("stopped");
    }
}
