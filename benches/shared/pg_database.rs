//! A PostgreSQL database of the benches' own, shared by both benches as a
//! file (`#[path]`).

use sqlx::{Connection, Executor, PgConnection};

/// A database of its own on the server of `BENCH_DATABASE_URL`, dropped
/// with this value; the server's other databases (the tests' `test`) are
/// never touched.
pub struct PgDatabase {
    /// The server's `postgres` database, for CREATE/DROP and pg_stat_activity.
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(server: &str) -> PgDatabase {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("bench_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut url = url::Url::parse(server).expect("BENCH_DATABASE_URL is a URL");
        url.set_path("/postgres");
        let admin_url = url.to_string();
        url.set_path(&format!("/{name}"));
        let mut admin = PgConnection::connect(&admin_url).await.expect("PostgreSQL reachable");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the bench database");
        admin.close().await.ok();
        PgDatabase { admin_url, name, url: url.to_string() }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Dropped inside a runtime or outside one: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            runtime.map_err(|e| e.to_string())?.block_on(async {
                let mut admin =
                    PgConnection::connect(&admin_url).await.map_err(|e| e.to_string())?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin.execute(sqlx::AssertSqlSafe(sql)).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: bench database {} not dropped: {dropped:?}", self.name);
        }
    }
}
