#![allow(dead_code)]
//! `spawn_app`: the real application on 127.0.0.1:0 over a fresh database — a temporary
//! SQLite file, or a PostgreSQL database cloned from a migrated template and dropped after
//! the test — plus one helper per endpoint the tests use.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use studium::clock::Clock;
use studium::config::Config;
use studium::db::Db;
use studium::state::AppState;
use tokio::sync::OnceCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL (the server at
/// `STUDIUM_TEST_PG_URL`, by default the local one): `db_test!(name, |app| async move { ... });`
/// makes `name::sqlite` and `name::postgres`. `STUDIUM_TEST_PG=off` at build time compiles the
/// PostgreSQL half as ignored, so the summary counts it as ignored, never as passed. The body gets a fresh app; the configuration can be adjusted with
/// `db_test!(name, config = |c| { ... }, |app| ...)`.
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:expr) => {
        $crate::db_test!($name, config = |_c| {}, |$app| $body);
    };
    ($name:ident, config = |$cfg:ident| $configure:block, |$app:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::helpers::TestApp) {
                $body
            }

            fn configure($cfg: &mut studium::config::Config) {
                $configure
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run($crate::helpers::Backend::Sqlite, configure, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                studium_pg_off,
                ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
            )]
            async fn postgres() {
                $crate::helpers::run($crate::helpers::Backend::Postgres, configure, body).await;
            }
        }
    };
}

/// A `db_test!` whose access tokens outlive the clock jumps a test makes (hours, days,
/// months): for tests of time-based rules, where token expiry is not what is under test.
#[macro_export]
macro_rules! long_session_test {
    ($name:ident, |$app:ident| $body:expr) => {
        $crate::db_test!(
            $name,
            config = |c| {
                c.access_token_ttl_secs = 400 * 24 * 60 * 60;
            },
            |$app| $body
        );
    };
}

/// Runs `scenario(Backend::Sqlite)` and `scenario(Backend::Postgres)` as two tests, for
/// scenarios that start their own loopback servers before the app.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                studium_pg_off,
                ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
            )]
            async fn postgres() {
                super::$scenario($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

/// Starts the app, runs the body, drops the database whatever the outcome, then reports.
pub async fn run<C, B, F>(backend: Backend, configure: C, body: B)
where
    C: FnOnce(&mut Config),
    B: FnOnce(TestApp) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (app, guard) = spawn_app(backend, configure).await;
    let outcome = tokio::spawn(body(app)).await;
    guard.cleanup().await;
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("test task failed: {err}");
    }
}

/// The PostgreSQL server the tests use: `STUDIUM_TEST_PG_URL`, or the local one.
pub fn pg_url() -> String {
    std::env::var("STUDIUM_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_string())
        .trim_end_matches('/')
        .to_string()
}

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Connects to the server's `postgres` database, or stops the test with what to do about it.
async fn pg_admin(url: &str) -> sea_orm::DatabaseConnection {
    match Database::connect(format!("{url}/postgres")).await {
        Ok(db) => db,
        Err(e) => panic!(
            "cannot reach PostgreSQL at {url} ({e}). Start it, point STUDIUM_TEST_PG_URL at a \
             server, or build the tests with STUDIUM_TEST_PG=off to report the PostgreSQL half \
             as ignored"
        ),
    }
}

/// Everything that must be removed after a test.
pub struct Guard {
    pg_db: Option<String>,
    db: Db,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl Guard {
    async fn cleanup(self) {
        self.server.abort();
        let _ = self.server.await;
        self.worker.abort();
        let _ = self.worker.await;
        self.db.close().await;
        if let Some(name) = self.pg_db
            && let Ok(admin) = Database::connect(format!("{}/postgres", pg_url())).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// A migrated PostgreSQL template for this test process; each test clones it, which is far
/// faster than migrating. Templates of test processes that have ended are dropped first.
async fn pg_template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let url = pg_url();
            let admin = pg_admin(&url).await;
            let rows = admin
                .query_all_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    "SELECT datname FROM pg_database WHERE datname LIKE 'studium_tmpl_%'",
                ))
                .await
                .expect("listing databases");
            for row in rows {
                let name: String = row.try_get_by_index(0).expect("datname");
                let pid = name
                    .trim_start_matches("studium_tmpl_")
                    .split('_')
                    .next()
                    .and_then(|p| p.parse::<u32>().ok());
                let alive =
                    pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            }
            let name = format!(
                "studium_tmpl_{}_{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            );
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("creating the template database");
            let db = Database::connect(format!("{url}/{name}"))
                .await
                .expect("connecting to the template");
            Migrator::up(&db, None)
                .await
                .expect("migrating the template");
            db.close().await.expect("closing the template");
            let _ = admin.close().await;
            name
        })
        .await
}

/// One instance of the app over `config`'s database: its own pool, state, HTTP server and job
/// worker (as `serve` runs it; the periodic maintenance is not scheduled, tests run it).
async fn start_instance(
    config: Config,
    clock: Clock,
    backend: Backend,
) -> (
    TestApp,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
) {
    let state = AppState::init(config, clock.clone())
        .await
        .expect("starting the app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = studium::app::build(state.clone());
    // The stop sender lives as long as the task, which is aborted with the instance.
    let worker_state = state.clone();
    let worker = tokio::spawn(async move {
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        studium::jobs::worker::run(worker_state, stopped).await;
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let app = TestApp {
        address: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        clock,
        state,
        backend,
        counter: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    };
    (app, server, worker)
}

/// A second instance of a running app: another pool, state and HTTP server over the same
/// database, as a second server behind a load balancer would be. Stops when dropped.
pub struct Instance {
    pub app: TestApp,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
        self.worker.abort();
    }
}

impl TestApp {
    /// Waits until this instance's change feed has polled twice: a poll that began after
    /// whatever was committed before the call has told the caches of it (as it tells them of
    /// a change made by a job, a CLI command or another instance).
    pub async fn feed_told(&self) {
        let polls = self.state.changes.polls();
        while self.state.changes.polls() < polls + 2 {
            tokio::time::sleep(studium::changes::POLL_INTERVAL).await;
        }
    }

    pub async fn second_instance(&self) -> Instance {
        let config = (*self.state.config).clone();
        let (app, server, worker) = start_instance(config, self.clock.clone(), self.backend).await;
        Instance {
            app,
            server,
            worker,
        }
    }
}

pub async fn spawn_app(backend: Backend, configure: impl FnOnce(&mut Config)) -> (TestApp, Guard) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        storage_url: dir.path().join("uploads").display().to_string(),
        jwt_secret: None,
        seed_demo: false,
        db_max_connections: 5,
        google_client_id: Some("studium-test-client".into()),
        google_jwks_min_refresh_secs: 0,
        job_poll_ms: 25,
        ..Config::default()
    };
    let mut pg_db = None;
    config.database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("studium.db").display()),
        Backend::Postgres => {
            let url = pg_url();
            let template = pg_template().await;
            let name = format!("studium_t_{}", uuid::Uuid::now_v7().simple());
            let admin = pg_admin(&url).await;
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await
                .expect("cloning the template");
            let _ = admin.close().await;
            pg_db = Some(name.clone());
            format!("{url}/{name}")
        }
    };
    configure(&mut config);
    config.validate().expect("test configuration is valid");

    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap());
    let (app, server, worker) = start_instance(config, clock, backend).await;
    let state = app.state.clone();
    let guard = Guard {
        pg_db,
        db: state.db.clone(),
        _dir: dir,
        server,
        worker,
    };
    (app, guard)
}

#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: AppState,
    pub backend: Backend,
    counter: Arc<std::sync::atomic::AtomicUsize>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The problem type's slug (`urn:studium:problem:<slug>`).
    pub fn problem_slug(&self) -> &str {
        self.body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:studium:problem:"))
            .unwrap_or("")
    }

    pub fn is_problem(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("application/problem+json")
            && self.body["status"].as_u64() == Some(u64::from(self.status.as_u16()))
    }
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

pub const PASSWORD: &str = "correct-horse-battery-staple-42";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') && !path.starts_with("/api") && !is_root_path(path) {
            format!("{}/api/v1{path}", self.address)
        } else {
            format!("{}{path}", self.address)
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, None).await
    }

    /// A fresh email address for this app.
    pub fn unique_email(&self, prefix: &str) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let run = uuid::Uuid::now_v7().simple().to_string();
        format!("{prefix}{n}.{}@example.com", &run[20..])
    }

    pub async fn register_as(&self, email: &str, password: &str, full_name: &str) -> Resp {
        self.post(
            "/auth/register",
            None,
            json!({"email": email, "password": password, "full_name": full_name}),
        )
        .await
    }

    /// Registers a new student and returns its tokens.
    pub async fn student(&self) -> TestUser {
        let email = self.unique_email("student");
        let res = self.register_as(&email, PASSWORD, "Ada Student").await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        user_from(&res, &email)
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers a user and makes them an admin (through the same code as `studium create-admin`).
    pub async fn admin(&self) -> TestUser {
        let email = self.unique_email("admin");
        studium::accounts::service::create_admin(&self.state, &email, PASSWORD.into(), "Ada Admin")
            .await
            .expect("create admin");
        let res = self.login(&email, PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        user_from(&res, &email)
    }

    pub fn set_time(&self, at: DateTime<Utc>) {
        self.clock.set(at);
    }
}

fn is_root_path(path: &str) -> bool {
    ["/healthz", "/readyz", "/metrics", "/docs"]
        .iter()
        .any(|p| path.starts_with(p))
}

pub fn user_from(res: &Resp, email: &str) -> TestUser {
    TestUser {
        id: res.body["user"]["id"]
            .as_str()
            .expect("user id")
            .to_string(),
        email: email.to_string(),
        password: PASSWORD.to_string(),
        access: res.body["access_token"]
            .as_str()
            .expect("access token")
            .to_string(),
        refresh: res.body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_string(),
    }
}

pub async fn read(res: reqwest::Response) -> Resp {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}
