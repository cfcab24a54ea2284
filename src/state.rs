//! `AppState`: what every area may read — database, configuration, clock, keys, mailer.

use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use migration::{Migrator, MigratorTrait};

use crate::accounts::google::GoogleVerifier;
use crate::accounts::session_cache::{self, SessionCache};
use crate::accounts::tokens::JwtKeys;
use crate::ai::Provider;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::materials::Storage;
use crate::social::leaderboard::TopCache;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub jwt: Arc<JwtKeys>,
    pub mailer: Mailer,
    pub google: Arc<GoogleVerifier>,
    pub metrics: Option<PrometheusHandle>,
    /// Open sessions this instance has checked (see `accounts::session_cache`).
    pub sessions: Arc<SessionCache>,
    /// The AI provider: offline unless `STUDIUM_AI_BASE_URL` names a hosted one.
    pub ai: Provider,
    /// The object store of uploaded files (`STUDIUM_STORAGE_URL`).
    pub storage: Storage,
    /// The global leaderboard tops this instance has parsed (see `social::leaderboard`).
    pub leaderboard_tops: Arc<TopCache>,
}

impl AppState {
    /// Connects, migrates, and loads (or creates) the shared secrets.
    pub async fn init(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let db = Db::connect(&config)
            .await
            .with_context(|| "cannot open the database (STUDIUM_DATABASE_URL)")?;
        Migrator::up(db.write(), None)
            .await
            .context("migrating the database")?;
        Self::with_db(config, clock, db).await
    }

    /// Builds the state over an already migrated database.
    pub async fn with_db(config: Config, clock: Clock, db: Db) -> anyhow::Result<Self> {
        let secret = crate::accounts::tokens::jwt_secret(&db, config.jwt_secret.as_deref(), &clock)
            .await
            .context("loading the JWT secret")?;
        let mailer = Mailer::new(config.smtp_url.as_deref(), &config.mail_from)
            .context("STUDIUM_SMTP_URL")?;
        let google = GoogleVerifier::new(&config);
        let ai = Provider::from_config(&config).context("setting up the AI provider")?;
        let storage = Storage::from_config(&config)?;
        let sessions = match db.backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let sessions = Arc::new(SessionCache::new(false));
                session_cache::listen(&sessions, db.read().get_postgres_connection_pool().clone());
                sessions
            }
            _ => Arc::new(SessionCache::new(true)),
        };
        Ok(Self {
            db,
            jwt: Arc::new(JwtKeys::new(secret.as_bytes())),
            config: Arc::new(config),
            clock,
            mailer,
            google: Arc::new(google),
            metrics: crate::telemetry::metrics_handle(),
            sessions,
            ai,
            storage,
            leaderboard_tops: Arc::default(),
        })
    }
}
