//! Achievements (SPEC §3 Achievements).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// Evaluates every achievement for the user after an event that can move one; unlocks each
/// at most once. Returns the ids unlocked now. Call inside the event's transaction.
pub async fn evaluate(
    _conn: &impl ConnectionTrait,
    _user_id: Uuid,
    _now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(Vec::new())
}
