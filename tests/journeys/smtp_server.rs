//! The test SMTP server itself: real lettre transports (as the product
//! uses them) and raw TCP sessions against it, so journeys can trust what
//! it reports and what it refuses.

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Mechanism;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::smtp::{SmtpServer, Stage};

const SENDER: &str = "CRM Recovery <noreply@crm.test>";

fn transport(url: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).expect("smtp url").build()
}

fn plain(to: &str, subject: &str, body: &str) -> Message {
    Message::builder()
        .from(SENDER.parse().expect("sender"))
        .to(to.parse().expect("recipient"))
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .expect("message")
}

/// Line endings as written in the test, whatever the encoding did.
fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[tokio::test]
async fn a_multipart_mail_in_russian_is_read_back_decoded() {
    let server = SmtpServer::start().await;
    let text = "Здравствуйте, Иван!\nВаша ссылка для сброса пароля: https://crm.test/reset/abc\n";
    let html = "<p>Здравствуйте, <b>Иван</b>!</p>\n<p><a href=\"https://crm.test/reset/abc\">Сбросить пароль</a></p>\n";
    let message = Message::builder()
        .from(SENDER.parse().expect("sender"))
        .to("Иван Петров <ivan@example.com>".parse::<Mailbox>().expect("recipient"))
        .subject("Восстановление пароля в CRM")
        .multipart(MultiPart::alternative_plain_html(text.to_owned(), html.to_owned()))
        .expect("message");

    transport(&server.url()).send(message).await.expect("sent");

    let mail = server.next_mail().await;
    assert_eq!(mail.envelope_from, "noreply@crm.test");
    assert_eq!(mail.envelope_to, ["ivan@example.com"]);
    assert_eq!(mail.from, "noreply@crm.test");
    assert_eq!(mail.to, ["ivan@example.com"]);
    assert_eq!(mail.subject, "Восстановление пароля в CRM");
    assert_eq!(lf(mail.text.as_deref().expect("text part")), text);
    assert_eq!(lf(mail.html.as_deref().expect("html part")), html);
    let content_type = mail.header("Content-Type").expect("Content-Type");
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
    // The subject travels encoded (RFC 2047), not as raw UTF-8.
    assert!(mail.header("Subject").expect("Subject").starts_with("=?utf-8?"), "{mail:?}");
    assert!(server.unread().is_empty());
    assert_eq!(server.mails_to("IVAN@example.com").len(), 1);
    assert!(server.mails_to("anna@example.com").is_empty());
    let commands = server.transcript();
    assert!(commands.iter().any(|c| c.starts_with("EHLO ")), "{commands:?}");
    assert!(commands.contains(&"MAIL FROM:<noreply@crm.test>".to_owned()), "{commands:?}");
    assert!(commands.contains(&"RCPT TO:<ivan@example.com>".to_owned()), "{commands:?}");
}

#[tokio::test]
async fn lines_starting_with_a_dot_survive() {
    let server = SmtpServer::start().await;
    let body = ".\n.hidden line\n..two dots\nlast\n.\n";
    transport(&server.url()).send(plain("anna@example.com", "Dots", body)).await.expect("sent");

    let mail = server.next_mail().await;
    // lettre ends the data with CRLF . CRLF after the body even when the
    // body ends with a line break, so the message gains an empty line.
    assert_eq!(lf(mail.text.as_deref().expect("text")), format!("{body}\n"));
    let raw = String::from_utf8(mail.raw).expect("ascii");
    assert!(raw.contains("\r\n.hidden line\r\n..two dots\r\n"), "{raw}");
}

#[tokio::test]
async fn utf8_content_is_sent_as_8bitmime_when_not_encoded() {
    // A raw session, because lettre encodes its bodies to 7-bit text.
    let server = SmtpServer::start().await;
    let mut s = RawSession::open(&server).await;
    s.send("EHLO client.test\r\nMAIL FROM:<a@crm.test> BODY=8BITMIME\r\nRCPT TO:<b@crm.test>\r\nDATA\r\n")
        .await;
    assert_eq!(s.codes(4).await, [250, 250, 250, 354]);
    s.send("Subject: Привет\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nТекст\r\n.\r\n")
        .await;
    assert_eq!(s.codes(1).await, [250]);
    // The same without BODY=8BITMIME is refused at the end of the data.
    s.send("MAIL FROM:<a@crm.test>\r\nRCPT TO:<b@crm.test>\r\nDATA\r\n").await;
    assert_eq!(s.codes(3).await, [250, 250, 354]);
    s.send("Subject: Привет\r\n\r\nТекст\r\n.\r\nQUIT\r\n").await;
    assert_eq!(s.codes(2).await, [554, 221]);

    let mail = server.next_mail().await;
    assert_eq!(mail.subject, "Привет");
    assert_eq!(lf(mail.text.as_deref().expect("text")), "Текст\n");
    assert!(server.unread().is_empty());
}

#[tokio::test]
async fn international_addresses_go_with_smtputf8() {
    let server = SmtpServer::start().await;
    transport(&server.url())
        .send(plain("Андрей <андрей@пример.рф>", "Привет", "Текст"))
        .await
        .expect("sent");

    let mail = server.next_mail().await;
    assert_eq!(mail.envelope_to, ["андрей@пример.рф"]);
    assert_eq!(mail.to, ["андрей@пример.рф"]);
    let mail_from = server.wait_for_commands("MAIL FROM:", 1).await;
    assert!(mail_from[0].contains(" SMTPUTF8"), "{mail_from:?}");
}

#[tokio::test]
async fn opportunistic_tls_goes_on_in_plain_text_and_required_tls_fails() {
    // No STARTTLS is offered: lettre's opportunistic mode sends in plain,
    // its required mode gives up before MAIL.
    let server = SmtpServer::start().await;
    let url = format!("{}?tls=opportunistic", server.url());
    transport(&url).send(plain("a@example.com", "plain", "x")).await.expect("sent");
    assert_eq!(server.next_mail().await.subject, "plain");

    let url = format!("{}?tls=required", server.url());
    let error = transport(&url).send(plain("a@example.com", "tls", "x")).await.unwrap_err();
    assert!(error.is_client(), "{error:?}");
    assert!(server.unread().is_empty());
    assert!(!server.transcript().iter().any(|c| c.starts_with("STARTTLS")));
}

#[tokio::test]
async fn auth_exchanges_over_a_raw_session() {
    let server = SmtpServer::start_with_auth("mailer", "secret").await;
    let mut s = RawSession::open(&server).await;
    s.send("EHLO client.test\r\n").await;
    let ehlo = s.reply().await;
    assert!(ehlo.iter().any(|l| &l[4..] == "AUTH PLAIN LOGIN"), "{ehlo:?}");
    // 334 with an empty challenge, then `*` cancels (RFC 4954 4).
    s.send("AUTH PLAIN\r\n").await;
    assert_eq!(s.reply().await, ["334 "]);
    s.send("*\r\nAUTH CRAM-MD5\r\nMAIL FROM:<a@example.com>\r\n").await;
    assert_eq!(s.codes(3).await, [501, 504, 530]);
    // LOGIN with the user name as initial response: only the password is
    // asked for (base64 of "mailer", "wrong", "secret").
    s.send("AUTH LOGIN bWFpbGVy\r\n").await;
    assert_eq!(s.reply().await, ["334 UGFzc3dvcmQ6"]);
    s.send("d3Jvbmc=\r\n").await;
    assert_eq!(s.codes(1).await, [535]);
    s.send("AUTH LOGIN\r\n").await;
    assert_eq!(s.reply().await, ["334 VXNlcm5hbWU6"]);
    s.send("bWFpbGVy\r\n").await;
    assert_eq!(s.reply().await, ["334 UGFzc3dvcmQ6"]);
    s.send("c2VjcmV0\r\nAUTH PLAIN AG1haWxlcgBzZWNyZXQ=\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n")
        .await;
    assert_eq!(s.codes(4).await, [235, 503, 250, 221]);
    assert_eq!(
        server.transcript(),
        [
            "EHLO client.test",
            "AUTH PLAIN",
            "****",
            "AUTH CRAM-MD5",
            "MAIL FROM:<a@example.com>",
            "AUTH LOGIN ****",
            "****",
            "AUTH LOGIN",
            "****",
            "****",
            "AUTH PLAIN ****",
            "MAIL FROM:<a@example.com>",
            "QUIT",
        ]
    );
}

#[tokio::test]
async fn auth_plain_and_login_accept_the_right_password_only() {
    let server = SmtpServer::start_with_auth("mailer", "s3cret:p@ss/word").await;
    let url = server.url();
    assert!(url.starts_with("smtp://mailer:s3cret%3Ap%40ss%2Fword@127.0.0.1:"), "{url}");

    transport(&url).send(plain("a@example.com", "plain", "one")).await.expect("AUTH PLAIN");
    let login = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .expect("url")
        .authentication(vec![Mechanism::Login])
        .build();
    login.send(plain("a@example.com", "login", "two")).await.expect("AUTH LOGIN");
    assert_eq!(server.next_mail().await.subject, "plain");
    assert_eq!(server.next_mail().await.subject, "login");

    let wrong = url.replace("s3cret", "guess");
    let error = transport(&wrong).send(plain("a@example.com", "x", "x")).await.unwrap_err();
    assert!(error.is_permanent(), "{error:?}");
    assert_eq!(error.status().map(|c| c.to_string()).as_deref(), Some("535"));
    let wrong_login = AsyncSmtpTransport::<Tokio1Executor>::from_url(&wrong)
        .expect("url")
        .authentication(vec![Mechanism::Login])
        .build();
    let error = wrong_login.send(plain("a@example.com", "x", "x")).await.unwrap_err();
    assert!(error.is_permanent(), "{error:?}");

    let anonymous = url.replace("mailer:s3cret%3Ap%40ss%2Fword@", "");
    let error = transport(&anonymous).send(plain("a@example.com", "x", "x")).await.unwrap_err();
    assert!(error.is_permanent(), "{error:?}");
    assert_eq!(error.status().map(|c| c.to_string()).as_deref(), Some("530"));

    let commands = server.transcript();
    assert!(commands.contains(&"AUTH PLAIN ****".to_owned()), "{commands:?}");
    assert!(commands.contains(&"AUTH LOGIN".to_owned()), "{commands:?}");
    assert!(!commands.iter().any(|c| c.contains("s3cret") || c.contains("bWFpbGVy")));
    assert!(server.unread().is_empty());
}

#[tokio::test]
async fn injected_failures_are_transient_or_permanent_for_lettre() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server.url());
    server.fail_next(Stage::Rcpt, 451, "4.3.0 Try again later");
    server.fail_next(Stage::Rcpt, 550, "5.1.1 No such user");
    server.fail_next(Stage::Data, 452, "4.3.1 Insufficient system storage");

    let error = mailer.send(plain("a@example.com", "1", "x")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.status().map(|c| c.to_string()).as_deref(), Some("451"));
    let error = mailer.send(plain("a@example.com", "2", "x")).await.unwrap_err();
    assert!(error.is_permanent(), "{error:?}");
    let error = mailer.send(plain("a@example.com", "3", "x")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    mailer.send(plain("a@example.com", "4", "x")).await.expect("no failure left");

    assert_eq!(server.next_mail().await.subject, "4", "refused mails are not stored");
    assert_eq!(server.wait_for_commands("RCPT TO:<a@example.com>", 4).await.len(), 4);

    server.fail_next(Stage::Connect, 421, "4.3.2 Service not available");
    server.fail_next(Stage::Mail, 421, "4.7.0 Too many connections");
    let error = mailer.send(plain("a@example.com", "5", "x")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let error = mailer.send(plain("a@example.com", "6", "x")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    mailer.send(plain("a@example.com", "7", "x")).await.expect("sent");
    assert_eq!(server.next_mail().await.subject, "7");
    assert!(server.unread().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_cannot_be_reached() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server.url());
    mailer.send(plain("a@example.com", "before", "x")).await.expect("sent");

    // The pooled connection breaks too, as it would in a real outage.
    server.set_down(true);
    let error = mailer.send(plain("a@example.com", "during", "x")).await.unwrap_err();
    assert!(!error.is_permanent() && !error.is_transient(), "{error:?}");
    assert!(error.status().is_none(), "{error:?}");

    server.set_down(false);
    mailer.send(plain("a@example.com", "after", "x")).await.expect("sent");
    assert_eq!(server.next_mail().await.subject, "before");
    assert_eq!(server.next_mail().await.subject, "after");
    assert!(server.unread().is_empty());
}

#[tokio::test]
async fn a_pooled_connection_carries_several_mails() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server.url());
    mailer.send(plain("a@example.com", "first", "1")).await.expect("first");
    // lettre hands the connection back to its pool in a task it spawns;
    // on this single-threaded runtime one yield lets that task run. (A
    // send right after another may otherwise open a second connection.)
    tokio::task::yield_now().await;
    mailer.send(plain("b@example.com", "second", "2")).await.expect("second");

    assert_eq!(server.next_mail_to("b@example.com").await.subject, "second");
    assert_eq!(server.next_mail().await.subject, "first");
    assert_eq!(server.connections(), 1);
    assert_eq!(server.all_mails().len(), 2);
    assert!(server.unread().is_empty());
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = SmtpServer::start().await;
    let mut s = RawSession::open(&server).await;
    s.send(
        "EHLO client.test\r\nMAIL FROM:<> SIZE=200\r\nRCPT TO:<a@example.com>\r\n\
         RCPT TO:<no-domain>\r\nRCPT TO:<b@example.com> NOTIFY=NEVER\r\nRCPT TO:<Postmaster>\r\nDATA\r\n",
    )
    .await;
    let ehlo = s.reply().await;
    for extension in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 10485760"] {
        assert!(ehlo.iter().any(|l| &l[4..] == extension), "{extension} in {ehlo:?}");
    }
    assert!(!ehlo.iter().any(|l| l.contains("AUTH") || l.contains("STARTTLS")), "{ehlo:?}");
    assert_eq!(s.codes(6).await, [250, 250, 501, 555, 250, 354]);
    s.send("Subject: pipelined\r\n\r\n..\r\n.\r\nRSET\r\nNOOP\r\nVRFY a\r\nEXPN list\r\nFROB\r\nQUIT\r\n")
        .await;
    assert_eq!(s.codes(7).await, [250, 250, 250, 252, 502, 500, 221]);
    s.closed().await;

    let mail = server.next_mail().await;
    assert_eq!(mail.envelope_from, "");
    assert_eq!(mail.envelope_to, ["a@example.com", "Postmaster"]);
    assert_eq!(lf(mail.text.as_deref().expect("text")), ".\n");
}

#[tokio::test]
async fn what_a_strict_server_refuses_is_refused() {
    let server = SmtpServer::start().await;
    let mut s = RawSession::open(&server).await;
    let long = format!("NOOP {}\r\n", "x".repeat(600));
    s.send("MAIL FROM:<a@example.com>\r\nAUTH PLAIN\r\nHELO client.test\r\nRCPT TO:<a@example.com>\r\nDATA\r\n")
        .await;
    assert_eq!(s.codes(5).await, [503, 503, 250, 503, 503]);
    s.send(&long).await;
    s.send("NOOP bare\nSTARTTLS\r\nMAIL FROM: <a@example.com>\r\nMAIL FROM:<a@example.com> BODY=8BITMIME\r\n")
        .await;
    assert_eq!(s.codes(5).await, [500, 500, 502, 501, 555]);
    s.send(
        "MAIL FROM:<ä@example.com>\r\nMAIL FROM:<a@example.com>\r\nMAIL FROM:<a@example.com>\r\n",
    )
    .await;
    assert_eq!(s.codes(3).await, [553, 250, 503]);
    let line = format!("{}\r\n", "y".repeat(1001));
    s.send(&format!("RCPT TO:<b@example.com>\r\nDATA\r\n{line}.\r\n")).await;
    assert_eq!(s.codes(3).await, [250, 354, 500]);
    // A bare LF before the dot does not end the data (no SMTP smuggling).
    s.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n").await;
    assert_eq!(s.codes(3).await, [250, 250, 354]);
    s.send("one\n.\r\nMAIL FROM:<evil@example.com>\r\n\r\n.\r\nQUIT\r\n").await;
    assert_eq!(s.codes(2).await, [554, 221]);
    assert!(server.all_mails().is_empty());
}

/// A client session over a plain TCP stream, reading replies line by line.
struct RawSession {
    reader: BufReader<TcpStream>,
}

impl RawSession {
    async fn open(server: &SmtpServer) -> RawSession {
        let stream = TcpStream::connect(server.addr()).await.expect("connect");
        let mut session = RawSession { reader: BufReader::new(stream) };
        let greeting = session.reply().await;
        assert!(greeting[0].starts_with("220 ") && greeting[0].ends_with(" ESMTP"), "{greeting:?}");
        session
    }

    /// Writes all of `text` in one write: pipelining.
    async fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).await.expect("write");
    }

    /// One reply, all its lines, without CRLF.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.expect("read");
            assert!(line.ends_with("\r\n"), "reply line {line:?} after {lines:?}");
            let line = line.trim_end_matches("\r\n").to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// The codes of the next `n` replies.
    async fn codes(&mut self, n: usize) -> Vec<u16> {
        let mut codes = Vec::new();
        for _ in 0..n {
            let reply = self.reply().await;
            codes.push(reply[0][..3].parse().expect("reply code"));
        }
        codes
    }

    /// The server closed the connection.
    async fn closed(&mut self) {
        let mut rest = String::new();
        let n = self.reader.read_line(&mut rest).await.expect("read");
        assert_eq!(n, 0, "expected the connection closed, got {rest:?}");
    }
}

#[tokio::test]
#[should_panic(
    expected = "waiting for a mail to <b@example.com>\nmails received (1 total, 0 read):\n  \
                           [UNREAD] <noreply@crm.test> -> [\"a@example.com\"] \"to a\""
)]
async fn waiting_in_vain_reports_what_was_received() {
    let server = SmtpServer::start().await;
    server.set_wait_timeout(std::time::Duration::from_millis(50));
    transport(&server.url()).send(plain("a@example.com", "to a", "x")).await.expect("sent");
    server.next_mail_to("b@example.com").await;
}
