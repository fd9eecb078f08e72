//! A test-only SMTP server for end-to-end tests of the e-mail the product
//! sends.
//!
//! [`SmtpServer::start`] listens on `127.0.0.1:<random port>` and speaks
//! SMTP (RFC 5321) over plain TCP as a mail server would: greeting, `EHLO`
//! with its extensions (`PIPELINING`, `SIZE`, `8BITMIME`, `SMTPUTF8`,
//! `ENHANCEDSTATUSCODES`, and `AUTH PLAIN LOGIN` when started with
//! [`SmtpServer::start_with_auth`]), `HELO`, `MAIL`, `RCPT`, `DATA`, `RSET`,
//! `NOOP`, `VRFY`, `QUIT`, any number of mails per connection and pipelined
//! commands. Point the product's real `lettre` transport at
//! [`SmtpServer::url`]; tests read each mail as the server received it
//! (envelope, raw bytes, and the headers and bodies decoded by
//! `mail-parser`) with [`SmtpServer::next_mail`], which waits without
//! sleeping, and end by checking [`SmtpServer::unread`] is empty. Failures
//! are injected per stage with [`SmtpServer::fail_next`]; an outage with
//! [`SmtpServer::set_down`].
//!
//! The server refuses what a strict mail server refuses, so that the
//! product cannot come to depend on a lenient one: commands out of order
//! (503), unknown commands (500) and unimplemented ones (502, `STARTTLS`
//! included: it is not offered, so a client must carry on in plain text or
//! give up), syntax errors (501) and unknown parameters (555), command
//! lines over 512 octets and text lines over 1000 (500), mails over the
//! advertised `SIZE` (552), bare LF anywhere (lines end with CRLF; a bare
//! LF before `.` does not end the data, so SMTP smuggling cannot work),
//! 8-bit content without `BODY=8BITMIME`, non-ASCII addresses without
//! `SMTPUTF8` (553), and `MAIL` before authentication when credentials are
//! configured (530). It does not relay, deliver or check that mailboxes
//! exist: every syntactically valid recipient is accepted unless a failure
//! is injected.
//!
//! Every test owns its own instance; the server, and every connection to
//! it, stops when the last clone of the handle is dropped.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_parser::{MessageParser, PartType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::telegram::WAIT_TIMEOUT;

/// The name the server gives itself in its greeting and `EHLO` answer.
pub const HOST: &str = "smtp.crm-recovery.test";
/// The largest mail accepted, advertised as `SIZE`.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF.
const MAX_COMMAND_LINE: usize = 512;
/// RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
const MAX_TEXT_LINE: usize = 1000;
/// RFC 4954 4: `AUTH` lines may be up to 12288 octets; also the most the
/// server buffers of one line before it gives up on it.
const MAX_AUTH_LINE: usize = 12288;
/// RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted; more are
/// refused with 452 as many servers do.
const MAX_RECIPIENTS: usize = 100;
/// The `AUTH LOGIN` challenges, base64 of `Username:` and `Password:`.
const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";
/// What the transcript shows in place of authentication secrets.
const MASKED: &str = "****";

/// Where an injected failure strikes (see [`SmtpServer::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The greeting of a new connection; the server closes it right after.
    Connect,
    /// The answer to `MAIL FROM`.
    Mail,
    /// The answer to one `RCPT TO` (the next one received).
    Rcpt,
    /// The answer after the end of the message data: the mail is refused
    /// and not stored.
    Data,
}

/// One mail the server accepted, in arrival order.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address (`""` for the null reverse-path `<>`).
    pub envelope_from: String,
    /// The accepted `RCPT TO` addresses, in order.
    pub envelope_to: Vec<String>,
    /// The message as received, dot-stuffing undone, CRLF line endings.
    pub raw: Vec<u8>,
    /// The address of the `From:` header (without the display name, which
    /// is in `headers`).
    pub from: String,
    /// The addresses of the `To:` header.
    pub to: Vec<String>,
    /// The decoded `Subject:` (RFC 2047 encoded words decoded).
    pub subject: String,
    /// The first text/plain body, transfer encoding and charset decoded.
    pub text: Option<String>,
    /// The first text/html body, decoded likewise.
    pub html: Option<String>,
    /// Every header field in order, `(name, value)`, the value as sent
    /// (unfolded and trimmed, encoded words not decoded).
    pub headers: Vec<(String, String)>,
}

impl ReceivedMail {
    /// The value of the first header field of this name (case-insensitive),
    /// as in `headers`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// One-line description used in panic messages:
    /// `<a@x> -> [b@y] "Subject" (1234 bytes)`.
    pub fn summary(&self) -> String {
        format!(
            "<{}> -> {:?} {:?} ({} bytes)",
            self.envelope_from,
            self.envelope_to,
            self.subject,
            self.raw.len()
        )
    }

    fn parse(envelope_from: String, envelope_to: Vec<String>, raw: Vec<u8>) -> ReceivedMail {
        let mut mail = ReceivedMail {
            envelope_from,
            envelope_to,
            raw: Vec::new(),
            from: String::new(),
            to: Vec::new(),
            subject: String::new(),
            text: None,
            html: None,
            headers: Vec::new(),
        };
        if let Some(message) = MessageParser::default().parse(&raw[..]) {
            let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
                a.map(|a| a.iter().filter_map(|a| a.address()).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            mail.from = addresses(message.from()).into_iter().next().unwrap_or_default();
            mail.to = addresses(message.to());
            mail.subject = message.subject().unwrap_or_default().to_owned();
            // Only real text/plain and text/html parts: mail-parser would
            // otherwise convert one into the other when a part is missing.
            mail.text = message.text_bodies().find_map(|p| match &p.body {
                PartType::Text(t) => Some(t.to_string()),
                _ => None,
            });
            mail.html = message.html_bodies().find_map(|p| match &p.body {
                PartType::Html(h) => Some(h.to_string()),
                _ => None,
            });
            mail.headers = message
                .headers_raw()
                .map(|(name, value)| (name.to_owned(), value.replace("\r\n", "").trim().to_owned()))
                .collect();
        }
        mail.raw = raw;
        mail
    }
}

/// Handle to a running server. Cheap to clone; the server stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct SmtpServer {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: aborting it drops
        // the set, which aborts every open session too.
        self.server.abort();
    }
}

struct Shared {
    /// `(user, password)` the server requires, if any.
    credentials: Option<(String, String)>,
    state: Mutex<State>,
    /// Woken when a command or a mail is recorded.
    activity: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct State {
    mails: Vec<ReceivedMail>,
    /// Parallel to `mails`: read by `next_mail`/`next_mail_to`.
    read: Vec<bool>,
    failures: HashMap<Stage, VecDeque<Reply>>,
    down: bool,
    log: Vec<LogLine>,
    connections: usize,
    /// Overrides [`WAIT_TIMEOUT`].
    wait_timeout: Option<Duration>,
}

/// One line of a session, for the transcript and for reports.
struct LogLine {
    connection: usize,
    kind: LogKind,
    text: String,
}

#[derive(PartialEq, Eq)]
enum LogKind {
    /// A command the client sent (secrets masked).
    Command,
    /// The server's answer.
    Reply,
    /// What happened that is neither (a message received, a close).
    Note,
}

#[derive(Clone, Debug)]
struct Reply {
    code: u16,
    text: String,
}

impl SmtpServer {
    /// Binds `127.0.0.1:0` and serves SMTP without authentication.
    pub async fn start() -> SmtpServer {
        Self::launch(None).await
    }

    /// Like [`start`](Self::start), but offers `AUTH PLAIN LOGIN` and
    /// refuses mail until the client authenticates as `user`/`password`.
    pub async fn start_with_auth(user: &str, password: &str) -> SmtpServer {
        Self::launch(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> SmtpServer {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("smtp server: bind");
        let addr = listener.local_addr().expect("smtp server: local_addr");
        let shared = Arc::new(Shared {
            credentials,
            state: Mutex::new(State::default()),
            activity: Notify::new(),
        });
        let accepting = Arc::clone(&shared);
        let server = tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (connection, down) = {
                    let mut state = accepting.lock();
                    state.connections += 1;
                    (state.connections, state.down)
                };
                if down {
                    // Closed before the greeting: to the client the server
                    // is unreachable.
                    accepting.note(connection, "connection closed at once: server down");
                    drop(stream);
                    continue;
                }
                // Reap finished sessions so the set does not grow.
                while sessions.try_join_next().is_some() {}
                sessions.spawn(Session::new(Arc::clone(&accepting), connection).run(stream));
            }
        })
        .abort_handle();
        SmtpServer { handle: Arc::new(Handle { shared, addr, server }) }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared().lock()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// A connection URL for lettre's `AsyncSmtpTransport::from_url`:
    /// `smtp://127.0.0.1:<port>`, with `user:password@` (percent-encoded)
    /// when the server requires authentication. Plain SMTP, no TLS.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&format!("smtp://{}", self.addr())).expect("smtp url");
        if let Some((user, password)) = &self.shared().credentials {
            url.set_username(user).expect("smtp url: user");
            url.set_password(Some(password)).expect("smtp url: password");
        }
        url.as_str().trim_end_matches('/').to_owned()
    }

    // ----- configuration -------------------------------------------------

    /// Makes the next `stage` answer `code text` instead of succeeding,
    /// e.g. `fail_next(Stage::Rcpt, 451, "4.3.0 Try again later")` or
    /// `fail_next(Stage::Rcpt, 550, "5.1.1 No such user")`. Failures queue
    /// up per stage. At [`Stage::Connect`] the greeting carries the code
    /// (421 is usual) and the connection is closed.
    pub fn fail_next(&self, stage: Stage, code: u16, text: &str) {
        assert!((400..600).contains(&code), "smtp server: {code} is not a failure code");
        self.state()
            .failures
            .entry(stage)
            .or_default()
            .push_back(Reply { code, text: text.to_owned() });
    }

    /// While down, new connections are accepted and closed at once, before
    /// any greeting, and open ones are closed when their next command
    /// arrives: the client sees the server as unreachable.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// How long this server's waits last before they panic (default
    /// [`WAIT_TIMEOUT`]).
    pub fn set_wait_timeout(&self, timeout: Duration) {
        self.state().wait_timeout = Some(timeout);
    }

    // ----- reading what was received -------------------------------------

    /// The next mail no `next_mail`/`next_mail_to` has read, in arrival
    /// order. Waits up to [`WAIT_TIMEOUT`], then panics with what was
    /// received and the session transcript.
    pub async fn next_mail(&self) -> ReceivedMail {
        self.wait("a mail", |state| {
            let idx = state.read.iter().position(|read| !read)?;
            state.read[idx] = true;
            Some(state.mails[idx].clone())
        })
        .await
    }

    /// The next unread mail whose envelope recipients include `addr`
    /// (ASCII case-insensitive); mails to others stay unread. Waits like
    /// [`next_mail`](Self::next_mail).
    pub async fn next_mail_to(&self, addr: &str) -> ReceivedMail {
        self.wait(&format!("a mail to <{addr}>"), |state| {
            let idx = (0..state.mails.len())
                .find(|&i| !state.read[i] && is_addressed_to(&state.mails[i], addr))?;
            state.read[idx] = true;
            Some(state.mails[idx].clone())
        })
        .await
    }

    /// Every mail received so far whose envelope recipients include `addr`
    /// (read or not; this does not mark them read).
    pub fn mails_to(&self, addr: &str) -> Vec<ReceivedMail> {
        self.state().mails.iter().filter(|m| is_addressed_to(m, addr)).cloned().collect()
    }

    /// Every mail received so far (read or not).
    pub fn all_mails(&self) -> Vec<ReceivedMail> {
        self.state().mails.clone()
    }

    /// The mails no `next_mail`/`next_mail_to` has read. A journey should
    /// end with none; `ReceivedMail::summary` describes each.
    pub fn unread(&self) -> Vec<ReceivedMail> {
        let state = self.state();
        state
            .mails
            .iter()
            .zip(&state.read)
            .filter(|(_, read)| !**read)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Every command the server received, over all connections, in order,
    /// as sent except that authentication secrets read `****`; message
    /// contents are not included.
    pub fn transcript(&self) -> Vec<String> {
        self.state()
            .log
            .iter()
            .filter(|l| l.kind == LogKind::Command)
            .map(|l| l.text.clone())
            .collect()
    }

    /// Waits until at least `n` received commands start with `prefix`
    /// (ASCII case-insensitive, e.g. `"RCPT TO:<anna@"`) and returns them:
    /// how a test knows an attempt that failed has been made.
    pub async fn wait_for_commands(&self, prefix: &str, n: usize) -> Vec<String> {
        self.wait(&format!("{n} commands starting with {prefix:?}"), |state| {
            let found: Vec<String> = state
                .log
                .iter()
                .filter(|l| l.kind == LogKind::Command && starts_with_ignore_case(&l.text, prefix))
                .map(|l| l.text.clone())
                .collect();
            (found.len() >= n).then_some(found)
        })
        .await
    }

    /// TCP connections accepted so far, including those closed at once
    /// while down or by an injected [`Stage::Connect`] failure.
    pub fn connections(&self) -> usize {
        self.state().connections
    }

    /// Polls `check` under the lock each time something is recorded.
    async fn wait<T>(&self, what: &str, mut check: impl FnMut(&mut State) -> Option<T>) -> T {
        let timeout = self.state().wait_timeout.unwrap_or(WAIT_TIMEOUT);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared().activity.notified();
            tokio::pin!(notified);
            // Registered before the check, so nothing recorded in between
            // is missed.
            notified.as_mut().enable();
            if let Some(found) = check(&mut self.state()) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(found) = check(&mut self.state()) {
                    return found;
                }
                let report = self.report();
                panic!("smtp server: timed out after {timeout:?} waiting for {what}\n{report}");
            }
        }
    }

    fn report(&self) -> String {
        let state = self.state();
        let mut out = format!(
            "mails received ({} total, {} read):\n",
            state.mails.len(),
            state.read.iter().filter(|r| **r).count()
        );
        for (mail, read) in state.mails.iter().zip(&state.read) {
            let mark = if *read { "read" } else { "UNREAD" };
            out.push_str(&format!("  [{mark}] {}\n", mail.summary()));
        }
        let pending: Vec<String> = state
            .failures
            .iter()
            .flat_map(|(stage, q)| {
                q.iter().map(move |r| format!("{stage:?}: {} {}", r.code, r.text))
            })
            .collect();
        if !pending.is_empty() {
            out.push_str(&format!("failures still queued: {pending:?}\n"));
        }
        if state.down {
            out.push_str("the server is down\n");
        }
        out.push_str(&format!("transcript ({} connections):\n", state.connections));
        for line in &state.log {
            let arrow = match line.kind {
                LogKind::Command => ">",
                LogKind::Reply => "<",
                LogKind::Note => "*",
            };
            out.push_str(&format!("  c{} {arrow} {}\n", line.connection, line.text));
        }
        out
    }
}

impl Shared {
    fn record(&self, connection: usize, kind: LogKind, text: String) {
        self.lock().log.push(LogLine { connection, kind, text });
        self.activity.notify_waiters();
    }

    fn note(&self, connection: usize, text: &str) {
        self.record(connection, LogKind::Note, text.to_owned());
    }

    fn take_failure(&self, stage: Stage) -> Option<Reply> {
        self.lock().failures.get_mut(&stage).and_then(VecDeque::pop_front)
    }
}

fn is_addressed_to(mail: &ReceivedMail, addr: &str) -> bool {
    mail.envelope_to.iter().any(|to| to.eq_ignore_ascii_case(addr))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

// ----- the protocol --------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Greeted {
    No,
    Helo,
    Ehlo,
}

/// What the next line the client sends is.
enum Mode {
    Command,
    /// Message text after `354`, until `<CRLF>.<CRLF>`.
    Data(DataBuffer),
    /// The `AUTH PLAIN` response after `334 `.
    AuthPlain,
    /// The `AUTH LOGIN` user name, then the password.
    AuthLoginUser,
    AuthLoginPassword(String),
}

#[derive(Default)]
struct DataBuffer {
    bytes: Vec<u8>,
    /// The previous line ended with CRLF (the `DATA` line did), so a `.`
    /// line now ends the data.
    after_crlf: bool,
    bare_lf: bool,
    line_too_long: bool,
    too_big: bool,
}

/// A mail transaction, from `MAIL` to the end of `DATA`.
struct Transaction {
    from: String,
    to: Vec<String>,
    smtputf8: bool,
    eight_bit: bool,
}

struct Session {
    shared: Arc<Shared>,
    connection: usize,
    greeted: Greeted,
    authenticated: bool,
    transaction: Option<Transaction>,
    mode: Mode,
    /// Replies not yet written: flushed when every complete line read so
    /// far has been handled, so pipelined commands get their answers in
    /// order and in as few writes as possible.
    out: Vec<u8>,
    close: bool,
}

impl Session {
    fn new(shared: Arc<Shared>, connection: usize) -> Session {
        Session {
            shared,
            connection,
            greeted: Greeted::No,
            authenticated: false,
            transaction: None,
            mode: Mode::Command,
            out: Vec::new(),
            close: false,
        }
    }

    async fn run(mut self, mut stream: TcpStream) {
        match self.shared.take_failure(Stage::Connect) {
            Some(failure) => {
                self.reply(failure.code, &format!("{HOST} {}", failure.text));
                self.close = true;
            }
            None => self.reply(220, &format!("{HOST} ESMTP")),
        }
        let mut input: Vec<u8> = Vec::new();
        // A line longer than the server buffers is dropped up to its LF.
        let mut discarding = false;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            while !self.close {
                let Some(end) = input.iter().position(|&b| b == b'\n') else { break };
                let line: Vec<u8> = input.drain(..=end).collect();
                if std::mem::take(&mut discarding) {
                    self.reply(500, "5.5.2 Error: line too long");
                    continue;
                }
                self.line(&line);
            }
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                if stream.write_all(&out).await.is_err() {
                    break;
                }
            }
            if self.close {
                break;
            }
            if !matches!(self.mode, Mode::Data(_)) && input.len() > MAX_AUTH_LINE {
                input.clear();
                discarding = true;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    self.shared.note(self.connection, "client closed the connection");
                    return;
                }
                Ok(n) => input.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = stream.shutdown().await;
        self.shared.note(self.connection, "server closed the connection");
    }

    fn reply(&mut self, code: u16, text: &str) {
        self.out.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
        self.shared.record(self.connection, LogKind::Reply, format!("{code} {text}"));
    }

    fn reply_failure(&mut self, failure: Reply) {
        self.reply(failure.code, &failure.text);
    }

    /// A multi-line reply: `250-first`, ..., `250 last`.
    fn reply_lines(&mut self, code: u16, lines: &[String]) {
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.out.extend_from_slice(format!("{code}{sep}{line}\r\n").as_bytes());
        }
        self.shared.record(
            self.connection,
            LogKind::Reply,
            format!("{code} {}", lines.join(" | ")),
        );
    }

    /// One line as read, with its LF.
    fn line(&mut self, line: &[u8]) {
        if let Mode::Data(data) = &mut self.mode {
            if data.after_crlf && line == b".\r\n" {
                let Mode::Data(data) = std::mem::replace(&mut self.mode, Mode::Command) else {
                    unreachable!()
                };
                self.end_of_data(data);
                return;
            }
            data.after_crlf = line.ends_with(b"\r\n");
            data.bare_lf |= !data.after_crlf;
            data.line_too_long |= line.len() > MAX_TEXT_LINE;
            // Transparency (RFC 5321 4.5.2): a leading dot was doubled.
            let line = line.strip_prefix(b".").unwrap_or(line);
            if data.bytes.len() + line.len() > MAX_MESSAGE_BYTES {
                data.too_big = true;
            } else if !data.too_big {
                data.bytes.extend_from_slice(line);
            }
            return;
        }
        if self.shared.lock().down {
            self.shared.note(self.connection, "connection dropped: server down");
            self.close = true;
            return;
        }
        let Some(line) = line.strip_suffix(b"\r\n") else {
            self.record_command(&String::from_utf8_lossy(line));
            self.mode = Mode::Command;
            self.reply(500, "5.5.2 Error: bare <LF> received; lines end with <CR><LF>");
            return;
        };
        let Ok(line) = std::str::from_utf8(line) else {
            self.record_command(&String::from_utf8_lossy(line));
            self.mode = Mode::Command;
            self.reply(500, "5.5.2 Error: command is not valid UTF-8");
            return;
        };
        self.record_command(line);
        let in_auth = !matches!(self.mode, Mode::Command);
        let is_auth = starts_with_ignore_case(line, "AUTH ");
        let limit = if in_auth || is_auth { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
        if line.len() + 2 > limit {
            self.mode = Mode::Command;
            self.reply(500, "5.5.2 Error: line too long");
            return;
        }
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Command => self.command(line),
            Mode::AuthPlain => self.auth_plain(line),
            Mode::AuthLoginUser => self.auth_login_user(line),
            Mode::AuthLoginPassword(user) => self.auth_login_password(&user, line),
            Mode::Data(_) => unreachable!("handled above"),
        }
    }

    fn record_command(&self, line: &str) {
        let shown = if !matches!(self.mode, Mode::Command) {
            MASKED.to_owned()
        } else if starts_with_ignore_case(line, "AUTH ") {
            // Keep the mechanism, hide any initial response.
            let mut words = line.splitn(3, ' ');
            let verb = words.next().unwrap_or_default();
            let mechanism = words.next().unwrap_or_default();
            match words.next() {
                Some(_) => format!("{verb} {mechanism} {MASKED}"),
                None => format!("{verb} {mechanism}"),
            }
        } else {
            line.to_owned()
        };
        self.shared.record(self.connection, LogKind::Command, shown);
    }

    fn command(&mut self, line: &str) {
        let (verb, args) = match line.split_once(' ') {
            Some((verb, args)) => (verb, args),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.hello(Greeted::Ehlo, args),
            "HELO" => self.hello(Greeted::Helo, args),
            "MAIL" => self.mail(args),
            "RCPT" => self.rcpt(args),
            "DATA" => self.data(args),
            "RSET" if args.is_empty() => {
                self.transaction = None;
                self.reply(250, "2.0.0 Ok");
            }
            "NOOP" => self.reply(250, "2.0.0 Ok"),
            "QUIT" if args.is_empty() => {
                self.reply(221, "2.0.0 Bye");
                self.close = true;
            }
            "RSET" | "QUIT" => self.reply(501, "5.5.4 Syntax error: no parameters allowed"),
            "VRFY" if args.trim().is_empty() => self.reply(501, "5.5.4 Syntax: VRFY address"),
            // RFC 5321 3.5.3: 252 when the server will not say.
            "VRFY" => self.reply(252, "2.0.0 Cannot VRFY user, but will accept message"),
            "AUTH" => self.auth(args),
            "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" | "STARTTLS" | "SEND" | "SOML" | "SAML" => {
                self.reply(502, "5.5.1 Error: command not implemented")
            }
            _ => self.reply(500, "5.5.2 Error: command not recognized"),
        }
    }

    fn hello(&mut self, kind: Greeted, args: &str) {
        let client = args.trim();
        if client.is_empty() || client.contains(' ') {
            let verb = if kind == Greeted::Ehlo { "EHLO" } else { "HELO" };
            self.reply(501, &format!("5.5.4 Syntax: {verb} hostname"));
            return;
        }
        // RFC 5321 4.1.4: EHLO/HELO also resets any transaction.
        self.transaction = None;
        self.greeted = kind;
        if kind == Greeted::Helo {
            self.reply(250, HOST);
            return;
        }
        let mut lines = vec![
            format!("{HOST} greets {client}"),
            "PIPELINING".to_owned(),
            format!("SIZE {MAX_MESSAGE_BYTES}"),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.shared.credentials.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        self.reply_lines(250, &lines);
    }

    fn mail(&mut self, args: &str) {
        if self.greeted == Greeted::No {
            return self.reply(503, "5.5.1 Error: send HELO/EHLO first");
        }
        if self.transaction.is_some() {
            return self.reply(503, "5.5.1 Error: nested MAIL command");
        }
        if self.shared.credentials.is_some() && !self.authenticated {
            return self.reply(530, "5.7.0 Authentication required");
        }
        let (from, params) = match parse_path(args, "FROM:") {
            Ok(parsed) => parsed,
            Err(text) => return self.reply(501, &text),
        };
        if !params.is_empty() && self.greeted != Greeted::Ehlo {
            return self.reply(555, "5.5.4 Error: parameters need EHLO");
        }
        let (mut smtputf8, mut eight_bit) = (false, false);
        for param in params {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (param, None),
            };
            match (key.to_ascii_uppercase().as_str(), value) {
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => eight_bit = true,
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => eight_bit = false,
                ("BODY", _) => return self.reply(501, "5.5.4 Error: unsupported BODY type"),
                ("SMTPUTF8", None) => smtputf8 = true,
                ("SIZE", Some(v)) => match v.parse::<usize>() {
                    Ok(size) if size > MAX_MESSAGE_BYTES => {
                        return self
                            .reply(552, "5.3.4 Message size exceeds fixed maximum message size");
                    }
                    Ok(_) => {}
                    Err(_) => return self.reply(501, "5.5.4 Error: bad SIZE value"),
                },
                // RFC 4954 5: the authenticated submitter; nothing to check.
                ("AUTH", Some(_)) if self.shared.credentials.is_some() => {}
                _ => return self.reply(555, &format!("5.5.4 Unsupported option: {param}")),
            }
        }
        if !from.is_empty() && !is_address(&from) {
            return self.reply(501, "5.1.7 Bad sender address syntax");
        }
        if !from.is_ascii() && !smtputf8 {
            return self.reply(553, "5.6.7 Non-ASCII address needs SMTPUTF8");
        }
        if let Some(failure) = self.shared.take_failure(Stage::Mail) {
            return self.reply_failure(failure);
        }
        self.transaction = Some(Transaction { from, to: Vec::new(), smtputf8, eight_bit });
        self.reply(250, "2.1.0 Ok");
    }

    fn rcpt(&mut self, args: &str) {
        let Some(transaction) = &self.transaction else {
            return self.reply(503, "5.5.1 Error: need MAIL command");
        };
        let smtputf8 = transaction.smtputf8;
        let recipients = transaction.to.len();
        let (to, params) = match parse_path(args, "TO:") {
            Ok(parsed) => parsed,
            Err(text) => return self.reply(501, &text),
        };
        if let Some(param) = params.first() {
            return self.reply(555, &format!("5.5.4 Unsupported option: {param}"));
        }
        if !is_address(&to) && !to.eq_ignore_ascii_case("postmaster") {
            return self.reply(501, "5.1.3 Bad recipient address syntax");
        }
        if !to.is_ascii() && !smtputf8 {
            return self.reply(553, "5.6.7 Non-ASCII address needs SMTPUTF8");
        }
        if recipients >= MAX_RECIPIENTS {
            return self.reply(452, "4.5.3 Error: too many recipients");
        }
        if let Some(failure) = self.shared.take_failure(Stage::Rcpt) {
            return self.reply_failure(failure);
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.to.push(to);
        }
        self.reply(250, "2.1.5 Ok");
    }

    fn data(&mut self, args: &str) {
        if !args.is_empty() {
            return self.reply(501, "5.5.4 Syntax: DATA");
        }
        match &self.transaction {
            None => self.reply(503, "5.5.1 Error: need MAIL command"),
            Some(t) if t.to.is_empty() => self.reply(554, "5.5.1 Error: no valid recipients"),
            Some(_) => {
                self.mode = Mode::Data(DataBuffer { after_crlf: true, ..DataBuffer::default() });
                self.reply(354, "End data with <CR><LF>.<CR><LF>");
            }
        }
    }

    fn end_of_data(&mut self, data: DataBuffer) {
        let Some(transaction) = self.transaction.take() else {
            unreachable!("DATA is only accepted inside a transaction")
        };
        let size = data.bytes.len();
        self.shared.note(self.connection, &format!("message of {size} bytes received"));
        if data.bare_lf {
            return self.reply(554, "5.6.0 Error: bare <LF> in message; lines end with <CR><LF>");
        }
        if data.too_big {
            return self.reply(552, "5.3.4 Message size exceeds fixed maximum message size");
        }
        if data.line_too_long {
            return self.reply(500, "5.5.2 Error: message line longer than 1000 octets");
        }
        if !transaction.eight_bit && !data.bytes.is_ascii() {
            return self.reply(554, "5.6.1 Error: 8-bit message without BODY=8BITMIME");
        }
        if let Some(failure) = self.shared.take_failure(Stage::Data) {
            return self.reply_failure(failure);
        }
        let mail = ReceivedMail::parse(transaction.from, transaction.to, data.bytes);
        let id = {
            let mut state = self.shared.lock();
            state.mails.push(mail);
            state.read.push(false);
            state.mails.len()
        };
        self.reply(250, &format!("2.0.0 Ok: queued as {id:08X}"));
    }

    fn auth(&mut self, args: &str) {
        if self.shared.credentials.is_none() {
            return self.reply(503, "5.5.1 Error: authentication not enabled");
        }
        if self.greeted != Greeted::Ehlo {
            return self.reply(503, "5.5.1 Error: send EHLO first");
        }
        if self.authenticated {
            return self.reply(503, "5.5.1 Error: already authenticated");
        }
        if self.transaction.is_some() {
            return self.reply(503, "5.5.1 Error: MAIL transaction in progress");
        }
        let (mechanism, initial) = match args.split_once(' ') {
            Some((m, i)) => (m, Some(i)),
            None => (args, None),
        };
        match (mechanism.to_ascii_uppercase().as_str(), initial) {
            ("PLAIN", None) => {
                self.mode = Mode::AuthPlain;
                self.reply(334, "");
            }
            ("PLAIN", Some(response)) => self.auth_plain(response),
            ("LOGIN", None) => {
                self.mode = Mode::AuthLoginUser;
                self.reply(334, LOGIN_USERNAME);
            }
            ("LOGIN", Some(response)) => self.auth_login_user(response),
            _ => self.reply(504, "5.5.4 Unrecognized authentication type"),
        }
    }

    /// The client's base64 answer to a challenge; `None` once the failure
    /// has been answered (`*` cancels, RFC 4954 4).
    fn auth_response(&mut self, line: &str) -> Option<String> {
        if line == "*" {
            self.reply(501, "5.7.0 Authentication aborted");
            return None;
        }
        // RFC 4954 4: `=` is an empty initial response.
        let line = if line == "=" { "" } else { line };
        let decoded = BASE64.decode(line).ok().and_then(|b| String::from_utf8(b).ok());
        if decoded.is_none() {
            self.reply(501, "5.5.2 Cannot decode response");
        }
        decoded
    }

    fn auth_plain(&mut self, line: &str) {
        let Some(response) = self.auth_response(line) else { return };
        // RFC 4616: authzid NUL authcid NUL passwd; authzid empty or the same.
        let mut parts = response.split('\0');
        let (authzid, user, password) = (parts.next(), parts.next(), parts.next());
        match (authzid, user, password, parts.next()) {
            (Some(authzid), Some(user), Some(password), None)
                if authzid.is_empty() || authzid == user =>
            {
                self.check_credentials(user, password)
            }
            _ => self.reply(535, "5.7.8 Authentication credentials invalid"),
        }
    }

    fn auth_login_user(&mut self, line: &str) {
        let Some(user) = self.auth_response(line) else { return };
        self.mode = Mode::AuthLoginPassword(user);
        self.reply(334, LOGIN_PASSWORD);
    }

    fn auth_login_password(&mut self, user: &str, line: &str) {
        let Some(password) = self.auth_response(line) else { return };
        self.check_credentials(user, &password);
    }

    fn check_credentials(&mut self, user: &str, password: &str) {
        let accepted = self
            .shared
            .credentials
            .as_ref()
            .is_some_and(|(u, p)| u.as_str() == user && p.as_str() == password);
        if accepted {
            self.authenticated = true;
            self.reply(235, "2.7.0 Authentication successful");
        } else {
            self.reply(535, "5.7.8 Authentication credentials invalid");
        }
    }
}

/// `FROM:<a@b> PARAM=V ...` (or `TO:`): the address inside the brackets,
/// source route dropped, and the parameters. Strict RFC 5321 syntax: no
/// space after the colon, angle brackets required.
fn parse_path<'a>(args: &'a str, keyword: &str) -> Result<(String, Vec<&'a str>), String> {
    let syntax = || format!("5.5.4 Syntax: {}<address>", keyword.to_ascii_uppercase());
    if !starts_with_ignore_case(args, keyword) {
        return Err(syntax());
    }
    let rest = &args[keyword.len()..];
    let inner = rest.strip_prefix('<').ok_or_else(syntax)?;
    let (path, params) = inner.split_once('>').ok_or_else(syntax)?;
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax());
    }
    // RFC 5321 4.1.2: an obsolete source route `@a,@b:` is ignored.
    let address = match path.strip_prefix('@') {
        Some(route) => route.split_once(':').map(|(_, a)| a).ok_or_else(syntax)?,
        None => path,
    };
    Ok((address.to_owned(), params.split_whitespace().collect()))
}

/// `local@domain`, both non-empty, no spaces or control characters.
fn is_address(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}
