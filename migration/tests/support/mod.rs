//! What the migration tests share: a fresh PostgreSQL database per test.
//!
//! The PostgreSQL half runs by default against the local server and fails when it cannot reach
//! it; `STUDIUM_TEST_PG=off` at build time compiles those tests as ignored (see `build.rs`).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432";

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Runs `test` on a fresh database of its own on the PostgreSQL server `STUDIUM_TEST_PG_URL`
/// names (by default the local one) (any database path in it is replaced), and drops that database even if `test` panics.
pub async fn on_postgres<F, Fut>(test: F) -> Result<(), DbErr>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = Result<(), DbErr>> + Send + 'static,
{
    static DATABASES: AtomicU32 = AtomicU32::new(0);
    let url = std::env::var("STUDIUM_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_string());
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", &url));
    let server = format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "studium_seedtest_{}_{}_{nanos}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );

    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {server} ({e}). Start it, point STUDIUM_TEST_PG_URL \
                 at a server, or build the tests with STUDIUM_TEST_PG=off to report the \
                 PostgreSQL half as ignored"
            )
        });
    exec(&admin, &format!("CREATE DATABASE {name}")).await?;
    let outcome = match Database::connect(format!("{server}/{name}")).await {
        // Spawned, so that a failed assertion comes back here as a JoinError.
        Ok(db) => tokio::spawn(test(db)).await,
        Err(e) => Ok(Err(e)),
    };
    exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await?;
    admin.close().await?;
    match outcome {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(DbErr::Custom(e.to_string())),
        },
    }
}
