//! The rules of study sessions (SPEC §3 Study sessions) and the streak as read (SPEC §3
//! Streaks). Every write is one transaction on the writer that takes `db::lock_user` first, so a
//! user's concurrent requests (two "start" taps, a stop racing a log) run one after the other.
//!
//! Finishing a session — stopping it, logging it after the fact, or closing a forgotten timer at
//! its 4-hour cap — happens in one function, [`finish`], inside the caller's transaction: it sets
//! `ended_at`/`duration_seconds`, awards the session's XP, records the study day and evaluates
//! achievements.
//!
//! A session left open past its cap *is* over, whether or not anything has closed it in the
//! database yet: every read shows it through [`as_read`] (ended at `started_at` + 4 h, 14400
//! seconds, the XP it earns), the streak and the daily statistics count it, and the periodic
//! sweep ([`close_over_cap_session_of`], run by `maintenance`) or the user's next start, stop,
//! log or lesson completion closes it in the database exactly as a stop at the cap would.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::*;
use super::streaks;
use crate::accounts::CurrentUser;
use crate::accounts::service::user_timezone;
use crate::db::{Db, lock_user, violated_unique_constraint};
use crate::entity::{study_sessions, subjects, topics, user_streaks, users};
use crate::gamification::achievements::{self, Criteria};
use crate::gamification::xp;
use crate::http::Page;
use crate::http::error::{AppError, AppResult, FieldError};
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::state::AppState;

/// The longest a session can last (SPEC §3 Study sessions): a timer left running is closed here.
pub const MAX_SESSION_SECONDS: i64 = 4 * 60 * 60;

/// Sessions shorter than this earn no XP and make no study day (SPEC §3 Streaks, XP).
pub const MIN_STUDY_SECONDS: i32 = 60;

/// The most XP one session earns (SPEC §3 XP: 1 per full minute, at most 120).
pub const MAX_SESSION_XP: i32 = 120;

fn max_session() -> Duration {
    Duration::seconds(MAX_SESSION_SECONDS)
}

/// `study_sessions.started_at` of the user's running session (at most one runs), as a column
/// of a statement over `users`: `GET /me` reads it in its one statement.
pub fn open_session_start_of_users_row() -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::Expr::cust(
        "(SELECT s.started_at FROM study_sessions s WHERE s.user_id = users.id AND s.ended_at IS NULL)",
    )
}

/// The study part of `GET /me`'s one statement over `users`: the streak's columns
/// (`current_streak`, `longest_streak`, `last_study_date`; NULL without a streak row).
/// The running session's start comes from [`open_session_start_of_users_row`].
pub fn select_streak_of_users_row(stmt: &mut SelectStatement) {
    stmt.columns([
        (user_streaks::Entity, user_streaks::Column::CurrentStreak),
        (user_streaks::Entity, user_streaks::Column::LongestStreak),
        (user_streaks::Entity, user_streaks::Column::LastStudyDate),
    ])
    .left_join(
        user_streaks::Entity,
        Expr::col((user_streaks::Entity, user_streaks::Column::UserId))
            .equals((users::Entity, users::Column::Id)),
    );
}

/// What [`select_streak_of_users_row`] and [`open_session_start_of_users_row`] read of a user.
#[derive(Debug, Clone, Copy)]
pub struct StreakOfUsersRow {
    pub current_streak: Option<i32>,
    pub longest_streak: Option<i32>,
    pub last_study_date: Option<chrono::NaiveDate>,
    /// The start of the user's running study session, if one runs.
    pub open_session_started_at: Option<DateTime<Utc>>,
}

/// The current streak `GET /me` shows from the columns it read: a session past its 4-hour cap
/// reads as closed there, study day included (SPEC §3).
pub fn displayed_streak_of_row(
    user_id: Uuid,
    row: StreakOfUsersRow,
    tz: Tz,
    now: DateTime<Utc>,
) -> i32 {
    let streak = row
        .current_streak
        .map(|current_streak| user_streaks::Model {
            user_id,
            current_streak,
            longest_streak: row.longest_streak.unwrap_or(current_streak),
            last_study_date: row.last_study_date,
            updated_at: now,
        });
    let streak = match row.open_session_started_at {
        Some(started) if past_cap(started, now) => streaks::with_study_day(
            streak,
            user_id,
            tz,
            started + Duration::seconds(MAX_SESSION_SECONDS),
        ),
        _ => streak,
    };
    streaks::displayed_current(streak.as_ref(), tz, now)
}

/// Whether a session open since `started_at` has reached its 4-hour cap at `now`, and so is
/// over (SPEC §3 Study sessions: "a session open longer than 4 hours is closed at 4 hours").
pub fn past_cap(started_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= started_at + max_session()
}

/// `session` as every read shows it at `now`: a session still open in the database but past
/// its cap reads as closed at the cap — `ended_at` = `started_at` + 4 h, `duration_seconds`
/// 14400 and the XP that closing it awards — before anything has closed it in the database.
pub fn as_read(session: study_sessions::Model, now: DateTime<Utc>) -> study_sessions::Model {
    if session.ended_at.is_some() || !past_cap(session.started_at, now) {
        return session;
    }
    let duration = i32::try_from(MAX_SESSION_SECONDS).unwrap_or(i32::MAX);
    study_sessions::Model {
        ended_at: Some(session.started_at + max_session()),
        duration_seconds: Some(duration),
        xp_awarded: session_xp(duration),
        ..session
    }
}

/// The user's session that is still open in the database but past its cap at `now`, as it
/// reads ([`as_read`]: closed at the cap); `None` when there is none.
pub async fn over_cap_open_session(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<study_sessions::Model>, sea_orm::DbErr> {
    Ok(find_open(conn, user_id)
        .await?
        .filter(|open| past_cap(open.started_at, now))
        .map(|open| as_read(open, now)))
}

/// The user's streak row as it reads at `now` (SPEC §3 Streaks): `row` (their `user_streaks`
/// row) with the study day of a session past its cap counted, as closing it will count it.
/// Every read of the streak goes through this, so none shows a streak the sweep is about to
/// change.
pub async fn streak_as_read(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    tz: Tz,
    row: Option<user_streaks::Model>,
    now: DateTime<Utc>,
) -> Result<Option<user_streaks::Model>, sea_orm::DbErr> {
    Ok(match over_cap_open_session(conn, user_id, now).await? {
        Some(capped) if capped.duration_seconds.unwrap_or(0) >= MIN_STUDY_SECONDS => {
            let ended_at = capped.ended_at.unwrap_or(now);
            streaks::with_study_day(row, user_id, tz, ended_at)
        }
        _ => row,
    })
}

/// XP for a session of `duration_seconds` (SPEC §3 XP): 1 per full minute, at most 120, so
/// 0 under a minute.
pub fn session_xp(duration_seconds: i32) -> i32 {
    std::cmp::min(std::cmp::max(duration_seconds, 0) / 60, MAX_SESSION_XP)
}

/// `POST /study-sessions/start` (SPEC §3 Study sessions: one open session per user). A timer
/// left running past the 4-hour cap is closed at the cap first, so a forgotten session never
/// blocks the next one; a session still within its 4 hours is a 409 naming it.
pub async fn start(
    state: &AppState,
    user: &CurrentUser,
    req: StartSessionRequest,
) -> AppResult<StudySessionView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    lock_user(&txn, user.id).await?;
    let (subject_id, topic_id) = resolve_refs(&txn, req.subject_id, req.topic_id).await?;
    if let Some(open) = close_over_cap(&txn, user.id, now).await? {
        return Err(already_open(open.id));
    }
    let inserted = study_sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        subject_id: Set(subject_id),
        topic_id: Set(topic_id),
        started_at: Set(now),
        ended_at: Set(None),
        duration_seconds: Set(None),
        xp_awarded: Set(0),
        notes: Set(clean_notes(req.notes)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    let session = match inserted {
        Ok(session) => session,
        // The partial unique index is the last word on "one open session"; the user lock makes
        // this rare, but a writer that skipped the lock still cannot open a second one.
        Err(e) if violated_unique_constraint(&e) == Some("study_sessions_one_open_key") => {
            txn.rollback().await?;
            let open = find_open(state.db.read(), user.id).await?;
            return Err(open.map_or_else(
                || AppError::conflict("session-already-open", "a study session is already running"),
                |o| already_open(o.id),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    txn.commit().await?;
    Ok(session.into())
}

fn already_open(id: Uuid) -> AppError {
    AppError::conflict(
        "session-already-open",
        format!("a study session is already running: {id}; stop it before starting another"),
    )
}

/// `POST /study-sessions/{id}/stop` (SPEC §3 Study sessions): ends the caller's open session
/// now, or at `started_at` + 4 h when it ran longer — then as of that moment, as the sweep
/// would have closed it. Someone else's session is a 404; an ended one a 409.
pub async fn stop(
    state: &AppState,
    user: &CurrentUser,
    session_id: Uuid,
) -> AppResult<FinishedSessionResponse> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    lock_user(&txn, user.id).await?;
    let session = study_sessions::Entity::find_by_id(session_id)
        .filter(study_sessions::Column::UserId.eq(user.id))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("study session"))?;
    if session.ended_at.is_some() {
        return Err(AppError::conflict(
            "session-already-stopped",
            "this study session has already ended",
        ));
    }
    let ended_at = capped_end(session.started_at, now);
    let tz = user_timezone(&txn, user.id).await?;
    let (session, xp_awarded) = finish(&txn, session, ended_at, tz, ended_at).await?;
    let streak = streaks::find(&txn, user.id).await?;
    txn.commit().await?;
    Ok(FinishedSessionResponse {
        session: session.into(),
        xp_awarded,
        current_streak: streaks::displayed_current(streak.as_ref(), tz, now),
    })
}

/// Where an open session started at `started_at` ends if stopped at `now`: now, but no more
/// than 4 hours after the start (and never before it, should the clock have been set back).
fn capped_end(started_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    std::cmp::max(started_at, std::cmp::min(now, started_at + max_session()))
}

/// `POST /study-sessions` (SPEC §3 Study sessions): a session logged after the fact. It must
/// end after it starts, not in the future, last at most 4 hours (422 per field) and not overlap
/// another of the user's sessions (409 `session-overlap`; an open session counts as running
/// until now). The overlap check runs inside the write transaction after `lock_user`, so two
/// overlapping logs sent at once cannot both pass it.
pub async fn log(
    state: &AppState,
    user: &CurrentUser,
    req: LogSessionRequest,
) -> AppResult<FinishedSessionResponse> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    if req.ended_at <= req.started_at {
        errors.push(FieldError::new("ended_at", "must be after started_at"));
    } else if req.ended_at - req.started_at > max_session() {
        errors.push(FieldError::new(
            "ended_at",
            "a session lasts at most 4 hours after started_at",
        ));
    }
    if req.ended_at > now {
        errors.push(FieldError::new("ended_at", "must not be in the future"));
    }
    if req.started_at > now {
        errors.push(FieldError::new("started_at", "must not be in the future"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }

    let txn = state.db.begin_write().await?;
    lock_user(&txn, user.id).await?;
    let (subject_id, topic_id) = resolve_refs(&txn, req.subject_id, req.topic_id).await?;
    // A forgotten timer is closed at its cap first: it then overlaps only its real 4 hours.
    close_over_cap(&txn, user.id, now).await?;
    // Half-open intervals: a session may start the instant another ends. An open session
    // runs until now, which is after `started_at` here, so it overlaps when it started before
    // `ended_at`.
    let overlapping = study_sessions::Entity::find()
        .filter(study_sessions::Column::UserId.eq(user.id))
        .filter(study_sessions::Column::StartedAt.lt(req.ended_at))
        .filter(
            Condition::any()
                .add(study_sessions::Column::EndedAt.gt(req.started_at))
                .add(study_sessions::Column::EndedAt.is_null()),
        )
        .order_by_asc(study_sessions::Column::StartedAt)
        .one(&txn)
        .await?;
    if let Some(other) = overlapping {
        return Err(AppError::conflict(
            "session-overlap",
            format!(
                "this time overlaps your study session {} (started {})",
                other.id,
                other.started_at.to_rfc3339()
            ),
        ));
    }
    let session = study_sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        subject_id: Set(subject_id),
        topic_id: Set(topic_id),
        started_at: Set(req.started_at),
        // Written ended, so that it never counts as a second running session (the partial
        // unique index allows one) while a timer runs; `finish` completes the row.
        ended_at: Set(Some(req.ended_at)),
        duration_seconds: Set(None),
        xp_awarded: Set(0),
        notes: Set(clean_notes(req.notes)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let tz = user_timezone(&txn, user.id).await?;
    let (session, xp_awarded) = finish(&txn, session, req.ended_at, tz, now).await?;
    let streak = streaks::find(&txn, user.id).await?;
    txn.commit().await?;
    Ok(FinishedSessionResponse {
        session: session.into(),
        xp_awarded,
        current_streak: streaks::displayed_current(streak.as_ref(), tz, now),
    })
}

/// The user's open session, if any.
async fn find_open(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<study_sessions::Model>, sea_orm::DbErr> {
    study_sessions::Entity::find()
        .filter(study_sessions::Column::UserId.eq(user_id))
        .filter(study_sessions::Column::EndedAt.is_null())
        .one(conn)
        .await
}

/// Closes the user's open session at its 4-hour cap when it has run past it (SPEC §3 Study
/// sessions), exactly as a stop at the cap would: ended at `started_at` + 4 h, with the XP,
/// study day and achievements of that moment. Returns the open session that is still running,
/// if any. Call inside a write transaction after `lock_user`: the session is read again there,
/// so a session another request or instance closed meanwhile is left alone. Any event that
/// records a study day calls this first, so the capped session's day is counted before a later
/// one (only the last study day is stored).
pub async fn close_over_cap(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<study_sessions::Model>> {
    let Some(open) = find_open(conn, user_id).await? else {
        return Ok(None);
    };
    if !past_cap(open.started_at, now) {
        return Ok(Some(open));
    }
    let tz = user_timezone(conn, user_id).await?;
    let ended_at = open.started_at + max_session();
    finish(conn, open, ended_at, tz, ended_at).await?;
    Ok(None)
}

/// The periodic sweep's query: users (in id order, after `after`, at most `limit`) whose open
/// session has passed its cap at `now`. A user has at most one open session, so each appears
/// once.
pub async fn users_with_over_cap_sessions(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let mut select = study_sessions::Entity::find()
        .select_only()
        .column(study_sessions::Column::UserId)
        .filter(study_sessions::Column::EndedAt.is_null())
        .filter(study_sessions::Column::StartedAt.lte(now - max_session()))
        .order_by_asc(study_sessions::Column::UserId)
        .limit(limit);
    if let Some(after) = after {
        select = select.filter(study_sessions::Column::UserId.gt(after));
    }
    select.into_tuple().all(conn).await
}

/// The sweep's step for one user: closes their session past its cap (see [`close_over_cap`]) in
/// its own write transaction under the user's lock. Returns whether it closed one — `false`
/// when another request or instance got there first. Safe to run from any number of instances
/// at once: the lock serialises them, the open session is read again under it, and the XP award
/// is exactly-once by constraint.
pub async fn close_over_cap_session_of(
    db: &Db,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let txn = db.begin_write().await?;
    lock_user(&txn, user_id).await?;
    let was_open = find_open(&txn, user_id)
        .await?
        .is_some_and(|open| past_cap(open.started_at, now));
    if !was_open {
        return Ok(false);
    }
    close_over_cap(&txn, user_id, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Ends `session` at `ended_at` and applies what a finished session earns (SPEC §3 Study
/// sessions, Streaks, XP, Achievements), inside the caller's transaction after `lock_user`:
/// `duration_seconds` is computed here, never taken from the client; XP is 1 per full minute
/// (at most 120, awarded once per session by the xp_logs constraint); a session of at least
/// 60 s makes a study day. The study day is the user's local date at which the session
/// *finished* — a session from 23:30 to 00:30 counts for the day it ended on, the day the
/// student actually completed the work — matching how lessons and quizzes count on the day
/// they are completed. `now` is the moment the effects are dated (the XP award, the achievements
/// it unlocks): the time of the request, or the cap when a session past it is closed. Returns
/// the updated session and the XP awarded.
async fn finish(
    conn: &impl ConnectionTrait,
    session: study_sessions::Model,
    ended_at: DateTime<Utc>,
    tz: Tz,
    now: DateTime<Utc>,
) -> AppResult<(study_sessions::Model, i32)> {
    let seconds = (ended_at - session.started_at)
        .num_seconds()
        .clamp(0, MAX_SESSION_SECONDS);
    let duration = i32::try_from(seconds).unwrap_or(0);
    let user_id = session.user_id;
    let xp_awarded = xp::award(
        conn,
        user_id,
        xp::XpSource::StudySession,
        session.id,
        session_xp(duration),
        &format!("Study session of {} min", duration / 60),
        now,
    )
    .await?;
    let mut active: study_sessions::ActiveModel = session.into();
    active.ended_at = Set(Some(ended_at));
    active.duration_seconds = Set(Some(duration));
    active.xp_awarded = Set(xp_awarded);
    let session = active.update(conn).await?;
    if duration >= MIN_STUDY_SECONDS {
        streaks::record_study_day(conn, user_id, tz, ended_at, now).await?;
    }
    achievements::evaluate(
        conn,
        user_id,
        &[Criteria::StudyMinutes, Criteria::StreakDays],
        now,
    )
    .await?;
    Ok((session, xp_awarded))
}

/// Checks that the subject and topic exist (422 per field otherwise) and belong together; a
/// topic without a subject takes its subject from the topic.
async fn resolve_refs(
    conn: &impl ConnectionTrait,
    subject_id: Option<Uuid>,
    topic_id: Option<Uuid>,
) -> AppResult<(Option<Uuid>, Option<Uuid>)> {
    let mut errors = Vec::new();
    if let Some(id) = subject_id
        && subjects::Entity::find_by_id(id).one(conn).await?.is_none()
    {
        errors.push(FieldError::new("subject_id", "no such subject"));
    }
    let mut subject = subject_id;
    if let Some(id) = topic_id {
        match topics::Entity::find_by_id(id).one(conn).await? {
            None => errors.push(FieldError::new("topic_id", "no such topic")),
            Some(topic) => match subject_id {
                Some(s) if s != topic.subject_id => errors.push(FieldError::new(
                    "topic_id",
                    "this topic belongs to another subject",
                )),
                _ => subject = Some(topic.subject_id),
            },
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok((subject, topic_id))
}

fn clean_notes(notes: Option<String>) -> Option<String> {
    notes
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// `GET /study-sessions?from=&to=`: the caller's own sessions whose `started_at` lies in
/// `[from, to)`, keyset-paginated by id (UUID v7, so in the order they were recorded), each
/// as it reads now ([`as_read`]: one past its cap shows as closed at the cap).
pub async fn list(
    state: &AppState,
    user: &CurrentUser,
    query: SessionListQuery,
) -> AppResult<Page<StudySessionView>> {
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(AppError::invalid("to", "must be after from"));
    }
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit();
    let mut select = study_sessions::Entity::find()
        .filter(study_sessions::Column::UserId.eq(user.id))
        .order_by_asc(study_sessions::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(study_sessions::Column::Id.gt(after));
    }
    if let Some(from) = query.from {
        select = select.filter(study_sessions::Column::StartedAt.gte(from));
    }
    if let Some(to) = query.to {
        select = select.filter(study_sessions::Column::StartedAt.lt(to));
    }
    let now = state.clock.now();
    let mut rows = select.limit(limit + 1).all(state.db.read()).await?;
    let next_cursor = next_page(&mut rows, limit, |s| encode_cursor(s.id));
    Ok(Page {
        items: rows
            .into_iter()
            .map(|s| StudySessionView::from(as_read(s, now)))
            .collect(),
        next_cursor,
    })
}

/// The caller's running session, if one runs now: a session past its 4-hour cap is over
/// ([`as_read`]), so it is not running even before anything has closed it in the database.
pub async fn running(state: &AppState, user: &CurrentUser) -> AppResult<Option<StudySessionView>> {
    let now = state.clock.now();
    Ok(find_open(state.db.read(), user.id)
        .await?
        .filter(|open| !past_cap(open.started_at, now))
        .map(StudySessionView::from))
}

/// The caller's `limit` most recent sessions, newest first, each as it reads now.
pub async fn recent(
    state: &AppState,
    user: &CurrentUser,
    limit: u64,
) -> AppResult<Vec<StudySessionView>> {
    let now = state.clock.now();
    let rows = study_sessions::Entity::find()
        .filter(study_sessions::Column::UserId.eq(user.id))
        .order_by_desc(study_sessions::Column::Id)
        .limit(limit)
        .all(state.db.read())
        .await?;
    Ok(rows
        .into_iter()
        .map(|s| StudySessionView::from(as_read(s, now)))
        .collect())
}

/// `GET /me/streak` (SPEC §3 Streaks): the streak as it stands at this moment in the user's
/// time zone. A streak whose last study day is before yesterday shows 0; one that is alive but
/// has no study day today yet is at risk of breaking at local midnight. A session past its cap
/// counts as the study day closing it will record ([`streak_as_read`]).
pub async fn streak(state: &AppState, user: &CurrentUser) -> AppResult<StreakView> {
    let now = state.clock.now();
    let db = state.db.read();
    let tz = user_timezone(db, user.id).await?;
    let row = streaks::find(db, user.id).await?;
    let row = streak_as_read(db, user.id, tz, row, now).await?;
    let today = streaks::local_date(tz, now);
    let current_streak = streaks::displayed_current(row.as_ref(), tz, now);
    let last_study_date = row.as_ref().and_then(|r| r.last_study_date);
    let studied_today = last_study_date == Some(today);
    Ok(StreakView {
        current_streak,
        longest_streak: row.as_ref().map_or(0, |r| r.longest_streak),
        last_study_date,
        studied_today,
        at_risk: current_streak > 0 && !studied_today,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn session_xp_is_one_per_full_minute_capped_at_120() {
        assert_eq!(session_xp(0), 0);
        assert_eq!(session_xp(59), 0);
        assert_eq!(session_xp(60), 1);
        assert_eq!(session_xp(25 * 60 + 59), 25);
        assert_eq!(session_xp(120 * 60), 120);
        assert_eq!(session_xp(14_400), 120);
        assert_eq!(session_xp(-5), 0);
    }

    #[test]
    fn an_open_session_ends_at_most_four_hours_after_it_started() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        assert_eq!(
            capped_end(start, start + Duration::minutes(30)),
            start + Duration::minutes(30)
        );
        assert_eq!(
            capped_end(start, start + Duration::hours(9)),
            start + Duration::hours(4)
        );
        assert_eq!(capped_end(start, start - Duration::hours(1)), start);
    }
}
