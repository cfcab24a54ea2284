//! Rate limits on credential endpoints (SPEC §5), held in the database so every instance
//! counts into the same buckets: a fixed window per key, incremented atomically by one upsert.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};

use crate::db::Db;
use crate::entity::rate_limit_buckets::{Column, Entity};
use crate::http::error::AppError;
use crate::state::AppState;

/// Counts one attempt against `key`; over `limit` in the current window → 429 with the seconds
/// until the window ends.
pub async fn hit(
    db: &Db,
    key: &str,
    limit: i64,
    window_secs: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let start_ts = now.timestamp().div_euclid(window_secs) * window_secs;
    let window_start = DateTime::from_timestamp(start_ts, 0).unwrap_or(now);
    let expires_at = window_start + Duration::seconds(window_secs);
    let stmt = Query::insert()
        .into_table(Entity)
        .columns([
            Column::Key,
            Column::WindowStart,
            Column::Hits,
            Column::ExpiresAt,
        ])
        .values_panic([
            key.into(),
            window_start.into(),
            1i64.into(),
            expires_at.into(),
        ])
        .on_conflict(
            OnConflict::columns([Column::Key, Column::WindowStart])
                .value(Column::Hits, Expr::col((Entity, Column::Hits)).add(1))
                .to_owned(),
        )
        .returning_col(Column::Hits)
        .to_owned();
    let hits: i64 = match db.write().query_one(&stmt).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 1,
    };
    if hits > limit {
        let retry_after_secs = std::cmp::max((expires_at - now).num_seconds(), 1) as u64;
        return Err(AppError::RateLimited { retry_after_secs });
    }
    Ok(())
}

/// [`hit`] with the configured window, at the application's clock.
pub async fn check(state: &AppState, key: &str, limit: i64) -> Result<(), AppError> {
    hit(
        &state.db,
        key,
        limit,
        state.config.rate_limit_window_secs,
        state.clock.now(),
    )
    .await
}

/// Drops buckets whose window has ended.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    let stmt = Query::delete()
        .from_table(Entity)
        .and_where(Expr::col(Column::ExpiresAt).lt(now))
        .to_owned();
    Ok(db.write().execute(&stmt).await?.rows_affected())
}
