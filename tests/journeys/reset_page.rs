//! The reset page's own behaviour: its language, its meter and buttons, and
//! its defences (a bounded hashing queue, a per-address limit on bad links).

use crate::support::*;
use crm_recovery_bot::{
    domain::{Lang, PasswordRejection},
    i18n::{password_rejection, t},
    recovery::HashingQueue,
};
use reqwest::{StatusCode, header};
use tokio::io::AsyncWriteExt;

on_both_backends!(
    the_page_offers_a_meter_a_toggle_and_the_way_back,
    the_meter_gives_the_same_verdict_without_counting,
    bad_links_from_one_address_are_limited_but_real_links_are_not,
    forwarded_addresses_are_believed_only_from_trusted_proxies,
    a_full_hashing_queue_answers_busy_and_keeps_the_link,
    an_expired_link_speaks_the_language_it_was_issued_in,
    an_unknown_link_speaks_the_browsers_language,
    a_reset_finishes_when_the_browser_leaves,
);

const PASSWORD: &str = "correct horse battery staple";

async fn anna_link(app: &TestApp) -> String {
    app.import(ACCOUNTS_CSV).await;
    app.open_forgot_password(&anna()).await;
    link_in(&app.share_own_phone(&anna(), ANNA_PHONE).await)
}

async fn the_page_offers_a_meter_a_toggle_and_the_way_back(db: TestDb) {
    let app = TestApp::spawn_with(&db, |config| {
        config.page.brand_name = "Acme CRM".into();
        config.page.crm_login_url = Some("https://crm.example.com/login".parse().unwrap());
    })
    .await;
    let link = anna_link(&app).await;
    let html = app.get(&link).await.text().await.unwrap();
    assert!(html.contains("<title>Acme CRM: new password</title>"), "{html}");
    assert!(html.contains(&in_html(&t(Lang::En, "page-show-password"))));
    assert!(html.contains(r#"<script src="../assets/reset.js" defer></script>"#));
    assert!(html.contains(r#"href="https://crm.example.com/login""#));
    assert!(html.contains("Back to Acme CRM sign-in"));
    assert!(html.contains("prefers-color-scheme: dark"), "reads well in dark mode");
    assert!(html.contains(r#"name="viewport""#), "and on a phone");

    let script = app.get("/assets/reset.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript")
    );
    assert!(script.text().await.unwrap().contains("data-strength"));

    let audit = app.store.audit_trail().await.unwrap();
    let opened = audit.iter().find(|r| r.event == "reset_page_opened").expect("opening is audited");
    assert_eq!(opened.client_addr.as_deref(), Some("127.0.0.1"));
    assert!(opened.detail.is_none(), "never the token");
    app.stop().await;
}

async fn the_meter_gives_the_same_verdict_without_counting(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let link = anna_link(&app).await;
    let meter = |password: &str| {
        app.http.post(format!("{link}/strength")).form(&[("password", password)]).send()
    };
    let weak: serde_json::Value = meter("password123456789").await.unwrap().json().await.unwrap();
    assert_eq!(weak["ok"], false);
    assert_eq!(weak["verdict"], password_rejection(Lang::En, &PasswordRejection::Common));
    let strong: serde_json::Value = meter(PASSWORD).await.unwrap().json().await.unwrap();
    assert_eq!((strong["ok"].clone(), strong["score"].as_u64().unwrap() >= 3), (true.into(), true));
    assert_eq!(strong["verdict"], t(Lang::En, "page-strength-ok"));
    for _ in 0..6 {
        meter("short").await.unwrap();
    }
    // None of that counted against the link's five tries.
    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    app.tg.next_sent(anna().id).await;
    assert!(app.audit_events().await.iter().all(|e| e != "password_rejected"));
    app.stop().await;
}

async fn bad_links_from_one_address_are_limited_but_real_links_are_not(db: TestDb) {
    let app = TestApp::spawn_with(&db, |config| config.page.bad_tokens_per_minute = 3).await;
    let link = anna_link(&app).await;
    let forged = format!("/reset/{}", "A".repeat(43));
    for _ in 0..3 {
        assert_eq!(app.get(&forged).await.status(), StatusCode::NOT_FOUND);
    }
    let refused = app
        .http
        .get(format!("{}{forged}", app.base_url))
        .header(header::ACCEPT_LANGUAGE, "ru-RU,ru;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = refused.text().await.unwrap();
    assert!(html.contains(&in_html(&t(Lang::Ru, "page-too-many-heading"))), "{html}");
    assert_eq!(app.get("/reset/short").await.status(), StatusCode::TOO_MANY_REQUESTS);

    // A real link from the same address is never stopped by this.
    for _ in 0..5 {
        assert_eq!(app.get(&link).await.status(), StatusCode::OK);
    }
    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    app.tg.next_sent(anna().id).await;
    // And the stranger's requests left no audit rows.
    let audit = app.store.audit_trail().await.unwrap();
    assert!(audit.iter().all(|r| r.event != "reset_link_invalid"));

    // A used link opened over and over is audited only while the address is
    // within its allowance: the table does not grow at a client's will.
    for _ in 0..10 {
        app.get(&link).await;
    }
    let audit = app.store.audit_trail().await.unwrap();
    assert!(audit.iter().all(|r| r.event != "reset_link_invalid"), "over the limit: none");
    app.stop().await;
}

async fn forwarded_addresses_are_believed_only_from_trusted_proxies(db: TestDb) {
    let trusted = TestApp::spawn_with(&db, |config| {
        config.page.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let link = anna_link(&trusted).await;
    let forwarded = |app: &TestApp| {
        app.http.get(&link).header("x-forwarded-for", "198.51.100.7, 127.0.0.1").send()
    };
    assert_eq!(forwarded(&trusted).await.unwrap().status(), StatusCode::OK);
    let audit = trusted.store.audit_trail().await.unwrap();
    let opened = audit.iter().rfind(|r| r.event == "reset_page_opened").unwrap();
    assert_eq!(opened.client_addr.as_deref(), Some("198.51.100.7"));
    trusted.stop().await;

    // Without TRUSTED_PROXIES the header is anybody's word: ignored.
    let app = TestApp::spawn(&db).await;
    let link = {
        app.open_forgot_password(&anna()).await;
        link_in(&app.share_own_phone(&anna(), ANNA_PHONE).await)
    };
    let response = app.http.get(&link).header("x-forwarded-for", "198.51.100.7").send().await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    let audit = app.store.audit_trail().await.unwrap();
    let opened = audit.iter().rfind(|r| r.event == "reset_page_opened").unwrap();
    assert_eq!(opened.client_addr.as_deref(), Some("127.0.0.1"));
    app.stop().await;
}

async fn a_full_hashing_queue_answers_busy_and_keeps_the_link(db: TestDb) {
    let queue = HashingQueue::new(1);
    let app = TestApp::spawn_with_queue(&db, queue.clone()).await;
    let link = anna_link(&app).await;
    // Another request holds the only place.
    let held = queue.admit().expect("a free place");
    let busy = app.post_password(&link, PASSWORD, PASSWORD).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()[header::RETRY_AFTER], "60");
    assert!(busy.text().await.unwrap().contains(&in_html(&t(Lang::En, "page-busy-text"))));
    // A mismatch needs no hashing: it is still answered at once.
    let mismatch = app.post_password(&link, PASSWORD, "something else entirely").await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The meter has its own queue: a busy page does not silence it, and
    // however busy the meter, it never takes the resets' places.
    let meter = app.http.post(format!("{link}/strength")).form(&[("password", PASSWORD)]);
    let meter: serde_json::Value = meter.send().await.unwrap().json().await.unwrap();
    assert_eq!(meter["ok"], true);

    drop(held);
    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    app.tg.next_sent(anna().id).await;
    app.stop().await;
}

async fn an_expired_link_speaks_the_language_it_was_issued_in(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    app.open_forgot_password(&ivan()).await;
    let link = link_in(&app.share_own_phone(&ivan(), IVAN_PHONE).await);
    app.advance(chrono::Duration::minutes(11));
    let page = app.http.get(&link).header(header::ACCEPT_LANGUAGE, "en-GB").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="ru">"#));
    assert!(html.contains(&in_html(&t(Lang::Ru, "page-invalid-text"))));
    app.stop().await;
}

async fn an_unknown_link_speaks_the_browsers_language(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let forged = format!("{}/reset/{}", app.base_url, "B".repeat(43));
    for (accept, lang) in [("ru-RU,ru;q=0.9,en;q=0.8", Lang::Ru), ("de-DE", Lang::En)] {
        let page = app.http.get(&forged).header(header::ACCEPT_LANGUAGE, accept).send().await;
        let html = page.unwrap().text().await.unwrap();
        assert!(html.contains(&format!(r#"<html lang="{}">"#, lang.code())), "{accept}");
        assert!(html.contains(&in_html(&t(lang, "page-invalid-heading"))), "{accept}");
    }
    app.stop().await;
}

/// A browser that sends the form and goes away while the password is being
/// hashed: the reset still happens as a whole, with its notice.
async fn a_reset_finishes_when_the_browser_leaves(db: TestDb) {
    let queue = HashingQueue::new(4);
    let app = TestApp::spawn_with_queue(&db, queue.clone()).await;
    let link = anna_link(&app).await;
    let path = link.strip_prefix(&app.base_url).unwrap().to_owned();
    let body = format!("password={0}&password_confirm={0}", PASSWORD.replace(' ', "+"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // The reset has begun once its password is in the hashing queue (or,
    // faster than we looked, the notice is already out).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let sent_before = app.tg.all_sent(anna().id).len();
    while queue.taken() == 0 && app.tg.all_sent(anna().id).len() == sent_before {
        assert!(std::time::Instant::now() < deadline, "the reset never began");
        tokio::task::yield_now().await;
    }
    drop(stream);

    let notice = app.tg.next_sent(anna().id).await;
    assert!(notice.text_str().contains("anna.smith"));
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert_eq!(account.credentials_version, 1);
    app.stop().await;
}
