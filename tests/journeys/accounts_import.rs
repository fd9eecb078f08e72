//! An operator loads accounts from CSV: bad rows are reported by line, good
//! rows still import, passwords are hashed.

use crate::support::*;
use crm_recovery_bot::{
    domain::{CompanyName, Lang},
    recovery::verify_password,
};

on_both_backends!(
    a_full_export_deactivates_the_accounts_it_no_longer_names,
    several_accounts_on_one_phone_are_warned_about,
    csv_with_bad_rows_imports_the_good_ones,
    reimport_updates_by_login,
    flag_columns_set_and_empty_ones_keep,
    a_company_is_warned_about_when_its_rows_disagree,
);

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

async fn flag_columns_set_and_empty_ones_keep(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let report = app
        .import(
            "login,email,phone,full_name,company,company_admin,blocked,active\n\
             ivan.petrov,ivan@example.com,+79161234567,Ivan Petrov,Acme,true,true,\n\
             anna.smith,anna@example.com,+447911123456,Anna Smith,Globex,,,FALSE\n\
             olga.one,olga@example.com,+79261112233,Olga Sidorova,Acme,yes,,\n",
        )
        .await;
    assert_eq!(report.imported, 2);
    assert_eq!(report.rejected, [(4, "company_admin: \"yes\" is not true or false".to_owned())]);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    assert!(ivan.company_admin && ivan.is_blocked() && ivan.is_active());
    let anna = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(!anna.company_admin && !anna.is_blocked() && !anna.is_active());
    // A deactivated account is not found by its phone.
    let phone = anna.phone.clone();
    assert!(app.store.accounts_by_phone(&phone).await.unwrap().is_empty());

    // Empty fields (or no such columns) keep the stored values.
    app.import(ACCOUNTS_CSV).await;
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    assert!(ivan.company_admin && ivan.is_blocked());
    let anna = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(!anna.is_active());

    // Audited like the API's changes, as coming from the file.
    let trail = app.store.audit_trail().await.unwrap();
    let details: Vec<(&str, &str)> = trail
        .iter()
        .filter(|r| r.event != "account_created")
        .map(|r| (r.event.as_str(), r.detail.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        details,
        [
            ("account_updated", "csv: company_admin=true, blocked=true"),
            ("account_deactivated", "csv: 0 live link(s) revoked"),
            // The file's password is hashed afresh (a new salt) each time.
            ("account_updated", "csv: password"),
        ]
    );
    app.stop().await;
}

async fn a_company_is_warned_about_when_its_rows_disagree(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let report = app
        .import(
            "login,email,phone,full_name,company,license_expires_at\n\
             a.one,a1@example.com,+79161230001,A One,Acme,2026-12-31\n\
             b.one,b1@example.com,+79161230002,B One,Globex,2027-06-30\n\
             a.two,a2@example.com,+79161230003,A Two,Acme,\n\
             a.three,a3@example.com,+79161230004,A Three,Acme,2027-01-31\n\
             b.two,b2@example.com,+79161230005,B Two,Globex,2027-06-30\n",
        )
        .await;
    assert_eq!((report.imported, report.rejected.len()), (5, 0));
    assert_eq!(
        report.warnings,
        [(
            5,
            "company \"Acme\": license_expires_at 2027-01-31T23:59:59+00:00 differs from line 2 \
             (2026-12-31T23:59:59+00:00); this later row wins"
                .to_owned()
        )]
    );
    let end = |name: &str| {
        let name = CompanyName::parse(name).unwrap();
        let store = app.store.clone();
        async move { store.company(&name).await.unwrap().unwrap().license_expires_at.unwrap() }
    };
    assert_eq!(end("Acme").await.to_rfc3339(), "2027-01-31T23:59:59+00:00", "the later row");
    assert_eq!(end("Globex").await.to_rfc3339(), "2027-06-30T23:59:59+00:00");

    // A file without the column leaves the licences alone.
    app.import(
        "login,email,phone,full_name,company\na.one,a1@example.com,+79161230001,A One,Acme\n",
    )
    .await;
    assert_eq!(end("Acme").await.to_rfc3339(), "2027-01-31T23:59:59+00:00");
    app.stop().await;
}

/// Several accounts on one phone import (the bot asks which is meant), but
/// the import says so: it is usually a mistake in the export.
async fn several_accounts_on_one_phone_are_warned_about(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let report = app.import(ACCOUNTS_CSV).await;
    assert_eq!(report.imported, 4);
    assert_eq!(
        report.warnings,
        [(
            5,
            "phone +79*******33 is also the phone of \"olga.one\" (line 4); the bot will ask \
             which account is meant"
                .to_owned()
        )]
    );
    // Importing the same file again warns again, and nothing else.
    assert_eq!(app.import(ACCOUNTS_CSV).await.warnings.len(), 1);
    app.stop().await;
}

/// `accounts import --deactivate-missing FILE`, as an operator runs it.
fn import_full_export(db: &TestDb, csv: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, csv).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"))
        .args(["accounts", "import", "--deactivate-missing"])
        .arg(&file)
        .env("DATABASE_URL", &db.config.url)
        .env("RUST_LOG", "warn")
        .env_remove("SMTP_URL")
        .output()
        .unwrap()
}

/// A full export deactivates the active accounts it no longer names (a row
/// refused for a bad field still names its account); a file that imports
/// nothing deactivates nobody.
async fn a_full_export_deactivates_the_accounts_it_no_longer_names(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let export = "login,email,phone,full_name,company\n\
        ivan.petrov,ivan@example.com,+79161234567,Ivan Petrov,Acme\n\
        anna.smith,anna@example.com,+447911123456,Anna Smith,Globex\n\
        olga.one,olga@example.com,not a phone,Olga Sidorova,Acme\n";
    let output = import_full_export(&db, export);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("deactivated 1 account(s) the file does not name"), "{stdout}");
    let active: Vec<String> = sqlx::query_scalar(
        "SELECT login FROM accounts WHERE deactivated_at IS NULL ORDER BY login",
    )
    .fetch_all(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(active, ["anna.smith", "ivan.petrov", "olga.one"]);
    assert!(app.audit_events().await.contains(&"account_deactivated".to_owned()));

    let output = import_full_export(&db, "login,email,phone,full_name,company\n");
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8(output.stderr).unwrap().contains("nothing deactivated"));
    app.stop().await;
}
