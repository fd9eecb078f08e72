//! An operator loads accounts from CSV: bad rows are reported by line, good
//! rows still import, passwords are hashed.

use crate::support::*;
use crm_recovery_bot::{
    domain::{CompanyName, Lang},
    recovery::verify_password,
};

on_both_backends!(csv_with_bad_rows_imports_the_good_ones, reimport_updates_by_login);

async fn csv_with_bad_rows_imports_the_good_ones(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let csv = "\
login,email,phone,full_name,company,password,time_zone,license_expires_at
good.one,one@example.com,+79161234567,One,Acme,Quiet-Harbour-Lantern-42,Europe/Moscow,2027-01-31
bad email,two@example.com,+79161234568,Two,Acme,,,
three,not-an-email,+79161234569,Three,Acme,,,
four,four@example.com,12345,Four,Acme,,,
five,five@example.com,+79161234570,,Acme,,,
six,six@example.com,+79161234571,Six,Acme,,Mars/Base,
seven,seven@example.com,+79161234572,Seven,Acme,,,someday
eight,eight@example.com,+79161234573,Eight
good.two,two@example.com,79161234574,Two,Globex,,,
weak,weak@example.com,+79161234575,Weak,Acme,password123456789,,
named,named@example.com,+79161234576,Named Person,Acme,acme-harbour-lantern-42,,
";
    let report = app.import(csv).await;
    assert_eq!(report.imported, 2);
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 11, 12]);
    assert!(report.rejected[0].1.starts_with("login"));
    assert!(report.rejected[2].1.starts_with("phone"));
    assert!(report.rejected[6].1.starts_with("unreadable row"));
    // Passwords in the file meet the same rules as on the reset page.
    assert_eq!(report.rejected[7].1, "password: on the list of common passwords");
    assert!(report.rejected[8].1.starts_with("password: contains the login"), "company name");

    let one = app.store.account_by_login("good.one").await.unwrap().unwrap();
    assert_eq!(one.phone.as_str(), "+79161234567");
    assert_eq!(one.time_zone, Some(chrono_tz::Europe::Moscow));
    let acme = app.store.company(&CompanyName::parse("Acme").unwrap()).await.unwrap().unwrap();
    let end = acme.license_expires_at.unwrap();
    assert_eq!(end.to_rfc3339(), "2027-01-31T23:59:59+00:00", "the company's licence");
    let hash = one.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "never stored in clear");
    assert!(verify_password("Quiet-Harbour-Lantern-42".into(), hash).await.unwrap());
    let two = app.store.account_by_login("good.two").await.unwrap().unwrap();
    assert_eq!(two.phone.as_str(), "+79161234574", "normalised to E.164");
    assert!(two.password_hash.is_none());
    app.stop().await;
}

async fn reimport_updates_by_login(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let before = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    let report = app
        .import("login,email,phone,full_name,company\nanna.smith,anna@globex.com,+447911123456,Anna Smith,Globex\n")
        .await;
    assert_eq!((report.imported, report.rejected.len()), (1, 0));
    let after = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert_eq!(after.id, before.id);
    assert_eq!(after.email.as_str(), "anna@globex.com");
    assert_eq!(after.lang, Some(Lang::En), "absent columns keep stored values");
    app.stop().await;
}
