//! Periodic maintenance: the work no request triggers. Every `STUDIUM_MAINTENANCE_INTERVAL_SECS`
//! each process running a worker queues a `maintenance.run` job keyed by the interval's start
//! ([`queue_run`], from [`run_periodically`]), so however many instances and workers there are,
//! one run per interval happens, on whichever worker claims it, and a run interrupted by a crash
//! is taken up again by another. The job calls [`run_once`]; tests call it directly.
//!
//! One run
//! - closes every study session left open past its 4-hour cap (SPEC §3 Study sessions) exactly
//!   as a stop at the cap would — XP, study day, achievements — through the study area's own
//!   [`study::service::close_over_cap_session_of`], so it happens even when the user never comes
//!   back;
//! - purges rows past their use, so these tables do not grow without end:
//!   - `auth_sessions` revoked, or idle (no refresh), for longer than the refresh-token lifetime;
//!     their refresh tokens go with them (ON DELETE CASCADE). A revoked session is kept that long
//!     so that presenting one of its tokens still answers "this session was ended";
//!   - `refresh_tokens` expired, or used more than the refresh-token lifetime ago (a used token
//!     is kept while it is valid, because presenting it again is how reuse is detected);
//!   - `email_tokens` expired or used (single-use: neither can ever be spent again);
//!   - `rate_limit_buckets` whose window has ended;
//! - expires AI reservations past their deadline (a process died mid-call): each is marked
//!   `error` and its unit given back once ([`ai::usage::expire_stale`]).
//!
//! Several instances may run it at the same moment: every purge is one idempotent `DELETE`,
//! and the sweep closes each user's session in its own transaction under the user's lock,
//! reading the session again there (`ended_at IS NULL`), with the XP award exactly-once by
//! constraint — so a session is closed, and rewarded, once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use tokio::sync::watch;

use crate::entity::{auth_sessions, email_tokens, refresh_tokens};
use crate::http::error::AppResult;
use crate::jobs::periodic::Periodic;
use crate::state::AppState;
use crate::{ai, jobs, ratelimit, study};

/// How many users with a session past its cap one query of the sweep fetches.
const SWEEP_PAGE: u64 = 200;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Study sessions closed at their cap by this run.
    pub study_sessions_closed: u64,
    /// Users whose session past its cap could not be closed (logged; retried next run).
    pub study_sessions_failed: u64,
    pub auth_sessions_purged: u64,
    pub refresh_tokens_purged: u64,
    pub email_tokens_purged: u64,
    pub rate_limit_buckets_purged: u64,
    pub ai_reservations_expired: u64,
}

impl Report {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One maintenance run at the state's clock: the sweep, then the purges.
pub async fn run_once(state: &AppState) -> AppResult<Report> {
    let now = state.clock.now();
    let mut report = Report::default();
    sweep_over_cap_sessions(state, now, &mut report).await?;

    let db = state.db.write();
    let refresh_lifetime = chrono::Duration::days(state.config.refresh_token_ttl_days);
    // Tokens first: those of a purged session would go by cascade anyway, and counted here
    // they are reported as what they are.
    report.refresh_tokens_purged = purge_refresh_tokens(db, now, now - refresh_lifetime).await?;
    report.auth_sessions_purged = purge_auth_sessions(db, now - refresh_lifetime).await?;
    report.email_tokens_purged = purge_email_tokens(db, now).await?;
    report.rate_limit_buckets_purged = ratelimit::purge_expired(&state.db, now).await?;
    report.ai_reservations_expired = ai::usage::expire_stale(db, now).await?;
    let purged = crate::changes::purge(db).await?;
    tracing::debug!(purged, "old change feed records purged");
    Ok(report)
}

/// Closes every session past its cap at `now`, one user at a time. A user whose close fails is
/// logged and counted, and the sweep goes on: one bad row must not keep every other forgotten
/// timer open.
async fn sweep_over_cap_sessions(
    state: &AppState,
    now: DateTime<Utc>,
    report: &mut Report,
) -> AppResult<()> {
    let mut after = None;
    loop {
        let users =
            study::service::users_with_over_cap_sessions(state.db.read(), now, after, SWEEP_PAGE)
                .await?;
        let Some(last) = users.last().copied() else {
            return Ok(());
        };
        for user_id in users {
            match study::service::close_over_cap_session_of(&state.db, user_id, now).await {
                Ok(true) => report.study_sessions_closed += 1,
                Ok(false) => {}
                Err(err) => {
                    report.study_sessions_failed += 1;
                    tracing::warn!(%user_id, error = %err, "closing a study session past its cap failed");
                }
            }
        }
        after = Some(last);
    }
}

/// Deletes refresh tokens that expired (`expires_at` ≤ `now`, so they can never be used) or were
/// used before `used_before`.
pub async fn purge_refresh_tokens(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    used_before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let purged = refresh_tokens::Entity::delete_many()
        .filter(
            Condition::any()
                .add(refresh_tokens::Column::ExpiresAt.lte(now))
                .add(refresh_tokens::Column::UsedAt.lt(used_before)),
        )
        .exec(conn)
        .await?;
    Ok(purged.rows_affected)
}

/// Deletes sign-in sessions revoked, or last used, before `cutoff` (with their refresh tokens,
/// by cascade). A session unused that long has no valid refresh token left, and its access
/// tokens expired long ago.
pub async fn purge_auth_sessions(
    conn: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let purged = auth_sessions::Entity::delete_many()
        .filter(
            Condition::any()
                .add(auth_sessions::Column::RevokedAt.lt(cutoff))
                .add(auth_sessions::Column::LastUsedAt.lt(cutoff)),
        )
        .exec(conn)
        .await?;
    Ok(purged.rows_affected)
}

/// Deletes email tokens that expired or were used: single-use, so neither can be spent again.
pub async fn purge_email_tokens(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let purged = email_tokens::Entity::delete_many()
        .filter(
            Condition::any()
                .add(email_tokens::Column::ExpiresAt.lte(now))
                .add(email_tokens::Column::UsedAt.is_not_null()),
        )
        .exec(conn)
        .await?;
    Ok(purged.rows_affected)
}

/// The `maintenance.run` job's handler: one [`run_once`].
pub async fn run_job(state: &AppState, _payload: serde_json::Value) -> anyhow::Result<()> {
    let report = run_once(state).await?;
    if report.is_empty() {
        tracing::debug!("maintenance: nothing to do");
    } else {
        tracing::info!(?report, "maintenance run");
    }
    Ok(())
}

/// The periodic maintenance run: queued once per interval of `every` across all processes,
/// under the unique key `maintenance:<interval start, Unix seconds>`.
pub fn periodic(every: Duration) -> Periodic {
    Periodic {
        kind: jobs::handlers::MAINTENANCE_RUN,
        key_prefix: "maintenance",
        every,
    }
}

/// Queues the maintenance run of the interval of length `every` that holds now, unless it has
/// been queued already (by this or any other process).
pub async fn queue_run(state: &AppState, every: Duration) -> Result<jobs::Enqueued, DbErr> {
    periodic(every).queue(state).await
}

/// Queues the maintenance run of the current interval at once and then every `every`, until
/// `stop` turns true (or its sender is dropped).
pub async fn run_periodically(state: AppState, every: Duration, stop: watch::Receiver<bool>) {
    periodic(every).run(state, stop).await
}
