//! `AppState`: what every area may read — database, configuration, clock, keys, mailer.

use std::sync::{Arc, Weak};

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use migration::{Migrator, MigratorTrait};

use crate::accounts::google::GoogleVerifier;
use crate::accounts::session_cache::{self, SessionCache};
use crate::accounts::tokens::JwtKeys;
use crate::ai::Provider;
use crate::changes::{self, Feed, UserCache};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::materials::Storage;
use crate::me::cache::MeCache;
use crate::notified_cache::{self, Notified};
use crate::social::boards::FriendsBoards;
use crate::social::leaderboard::TopCache;
use crate::social::standings::Standings;

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
    /// What `GET /me` read of each user (see `me::cache`).
    pub me: Arc<MeCache>,
    /// The friends leaderboards this instance computed (see `social::boards`).
    pub friend_boards: Arc<FriendsBoards>,
    /// The change feed that keeps `me` and `friend_boards` in step (see `changes`).
    pub changes: Arc<Feed>,
    /// The AI provider: offline unless `STUDIUM_AI_BASE_URL` names a hosted one.
    pub ai: Provider,
    /// The object store of uploaded files (`STUDIUM_STORAGE_URL`).
    pub storage: Storage,
    /// The global leaderboard tops this instance has parsed (see `social::leaderboard`).
    pub leaderboard_tops: Arc<TopCache>,
    /// Every user's XP in the current periods, for the global board's own line (see
    /// `social::standings`).
    pub standings: Arc<Standings>,
}

impl AppState {
    /// After a commit that ended sessions or changed a user's account: this instance forgets
    /// the user's checked sessions and what `GET /me` read of them (other instances hear of it
    /// through the database's notifications).
    pub fn forget_user(&self, user_id: uuid::Uuid) {
        self.sessions.invalidate_user(user_id);
        self.forget_user_data(user_id);
    }

    /// After a commit that changed what a user's `GET /me` or friends leaderboards show: this
    /// instance forgets what it read of them (other instances hear of it through the feed).
    pub fn forget_user_data(&self, user_id: uuid::Uuid) {
        self.me.forget(user_id);
        self.friend_boards.member_changed(user_id);
        self.standings.member_changed(user_id);
    }

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
        let me = MeCache::new();
        let friend_boards = FriendsBoards::new();
        let standings = Standings::new();
        let feed = Arc::new(Feed::default());
        let caches: Vec<Weak<dyn UserCache>> = vec![
            Arc::downgrade(&me) as Weak<dyn UserCache>,
            Arc::downgrade(&friend_boards) as Weak<dyn UserCache>,
            Arc::downgrade(&standings) as Weak<dyn UserCache>,
        ];
        let sessions = match db.backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let sessions = SessionCache::new(false);
                let sessions_weak: Weak<dyn Notified> = Arc::downgrade(&sessions) as _;
                notified_cache::listen(
                    db.read().get_postgres_connection_pool().clone(),
                    vec![(session_cache::CHANNEL, sessions_weak)],
                );
                // The primary: `me_changes` is unlogged, so a replica would not have it.
                changes::watch(Arc::downgrade(&feed), caches, db.write().clone());
                sessions
            }
            _ => {
                // A reading connection: SQLite's one writing connection is for writes.
                changes::watch(Arc::downgrade(&feed), caches, db.read().clone());
                SessionCache::new(true)
            }
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
            me,
            friend_boards,
            changes: feed,
            ai,
            storage,
            leaderboard_tops: Arc::default(),
            standings,
        })
    }
}
