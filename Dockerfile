# Build: the release binary. Locales, migrations and the page template are
# compiled into it. The whole context is copied (see .dockerignore) rather
# than stubbing the crate to cache dependencies: Cargo.toml may declare
# targets (benches, tests) whose files must exist for any cargo command.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    && cp target/release/crm-recovery-bot /usr/local/bin/crm-recovery-bot

# Run: a slim Debian with CA certificates and an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/data \
    && chown -R app:app /app

COPY --from=builder /usr/local/bin/crm-recovery-bot /usr/local/bin/crm-recovery-bot

WORKDIR /app
USER app
# The default DATABASE_URL (sqlite://data/crm-recovery-bot.db) lives here.
VOLUME ["/app/data"]
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["crm-recovery-bot"]
CMD ["run"]
