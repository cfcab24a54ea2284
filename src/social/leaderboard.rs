//! Leaderboards (SPEC §3 Leaderboards): weekly (XP since Monday 00:00 UTC) and monthly (since
//! the 1st, 00:00 UTC), global or among friends, ties sharing a rank.
//!
//! Each XP award adds to the user's `leaderboard_scores` row of both current periods
//! ([`record_xp`], in the award's transaction). The global top [`TOP_N`] of a period is
//! precomputed into `leaderboard_cache` by the `leaderboard.refresh` job, queued once per
//! `STUDIUM_LEADERBOARD_REFRESH_SECS` interval across all instances (unique key per interval);
//! reads take it from there, parsed once per refresh by each instance ([`TopCache`]). My own
//! rank and the friends scope are computed live. The rank is 1 + the users above my XP: those
//! of the [`XP_BUCKET_WIDTH`]-wide buckets above mine (`leaderboard_xp_buckets`) plus those of
//! the exact XP values inside my bucket above mine (`leaderboard_xp_counts`), both kept by
//! [`record_xp`] in the award's transaction — about a hundred rows for 100k users, where the
//! exact counts alone were ~1 800. Each instance keeps the same tally in memory
//! (`social::standings`, every user's XP in the current periods, kept in step by the change
//! feed), so the global read makes no round trip while no user's data changed, and one
//! statement ([`my_standing`]) when the memory cannot answer. The friends scope is one
//! statement over my friendships, their profiles and their scores, each lookup one search of a
//! covering index ([`friends_board`]); each instance keeps the boards it computed, patching in
//! a member whose XP or name changed, and computes a board again when a friendship changes
//! (`social::boards`).
//!
//! `bench/leaderboard.py` (100k users, 2M awards, release build, p50 / p99) measures every
//! read beside Redis; the figures are in bench/README.md.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use super::boards::{Cached, patched};
use super::standings::Mine;
use crate::accounts::CurrentUser;
use crate::entity::{leaderboard_cache, leaderboard_scores, user_profiles};
use crate::http::error::AppResult;
use crate::jobs;
use crate::jobs::periodic::Periodic;
use crate::state::AppState;

/// How many entries the global board holds.
pub const TOP_N: u64 = 100;

/// The job kind of the periodic refresh; payload `{}`.
pub const JOB_KIND: &str = "leaderboard.refresh";

/// A leaderboard period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Weekly,
    Monthly,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Weekly, Period::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// The first day of the period holding `at` (UTC): the Monday, or the 1st of the month.
    pub fn start(self, at: DateTime<Utc>) -> NaiveDate {
        let day = at.date_naive();
        match self {
            Period::Weekly => day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(day),
            Period::Monthly => day.with_day(1).unwrap_or(day),
        }
    }
}

/// Whose ranking: everyone, or my friends and me.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Global,
    Friends,
}

/// One line of a leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1 for the most XP; users with equal XP share a rank (1, 1, 3).
    pub rank: i64,
    pub user_id: Uuid,
    pub full_name: String,
    pub xp: i64,
}

/// `GET /leaderboards/{period}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardView {
    pub period_type: Period,
    pub scope: Scope,
    pub period_start: NaiveDate,
    /// When the ranking was computed: the cache refresh for the global scope, now for friends.
    pub generated_at: DateTime<Utc>,
    pub entries: Vec<LeaderboardEntry>,
    /// My own line, also when I am not among the entries.
    pub me: LeaderboardEntry,
}

/// Adds an XP award made at `at` to the user's score of both periods holding `at`. Call it in
/// the award's transaction, only for an award actually written.
pub async fn record_xp(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    amount: i32,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    use leaderboard_scores::{Column, Entity};
    let amount = i64::from(amount);
    for period in Period::ALL {
        let start = period.start(at);
        let stmt = Query::insert()
            .into_table(Entity)
            .columns([
                Column::PeriodType,
                Column::PeriodStart,
                Column::UserId,
                Column::Xp,
            ])
            .values_panic([
                period.as_str().into(),
                start.into(),
                user_id.into(),
                amount.into(),
            ])
            .on_conflict(
                OnConflict::columns([Column::PeriodType, Column::PeriodStart, Column::UserId])
                    .value(Column::Xp, Expr::col((Entity, Column::Xp)).add(amount))
                    .to_owned(),
            )
            .returning_col(Column::Xp)
            .to_owned();
        let new_xp: i64 = match conn.query_one(&stmt).await? {
            Some(row) => row.try_get_by_index(0)?,
            None => amount,
        };
        // Move the user from the count of their old XP to that of the new, and from the old
        // XP's bucket to the new one's when the award crosses a bucket boundary.
        let old_xp = new_xp - amount;
        if old_xp > 0 {
            add_users(conn, UserCount::Xp, period, start, old_xp, -1).await?;
        }
        add_users(conn, UserCount::Xp, period, start, new_xp, 1).await?;
        // A user without XP before this award is in no bucket yet.
        let old_bucket = (old_xp > 0).then(|| xp_bucket(old_xp));
        let new_bucket = xp_bucket(new_xp);
        if old_bucket != Some(new_bucket) {
            if let Some(old_bucket) = old_bucket {
                add_users(conn, UserCount::Bucket, period, start, old_bucket, -1).await?;
            }
            add_users(conn, UserCount::Bucket, period, start, new_bucket, 1).await?;
        }
    }
    Ok(())
}

/// The bucket holding `xp`: `leaderboard_xp_buckets` counts the users of each run of this many
/// XP values. 64 keeps both halves of a rank small on a field like the benchmark's (100k
/// users, XP up to ~66 000): ~110 buckets in all, at most 63 exact counts inside one. Migration
/// `m20261127_000015` backfilled the table with this width; changing it means a migration
/// that rebuilds the table.
pub const XP_BUCKET_WIDTH: i64 = 64;

/// The bucket of `xp` (XP is never negative, so this is a floor).
fn xp_bucket(xp: i64) -> i64 {
    xp / XP_BUCKET_WIDTH
}

/// The two tables that count users per period: by exact XP (`leaderboard_xp_counts`) and by
/// bucket of XP values (`leaderboard_xp_buckets`).
#[derive(Debug, Clone, Copy)]
enum UserCount {
    Xp,
    Bucket,
}

/// Adds `delta` users to the count of users whose XP is (or is in the bucket) `key` in the
/// period. Concurrent awards each add their own delta (`users = users + delta` in the upsert),
/// so none is lost.
async fn add_users(
    conn: &impl ConnectionTrait,
    count: UserCount,
    period: Period,
    start: NaiveDate,
    key: i64,
    delta: i64,
) -> Result<(), DbErr> {
    let (table, key_column) = match count {
        UserCount::Xp => ("leaderboard_xp_counts", "xp"),
        UserCount::Bucket => ("leaderboard_xp_buckets", "bucket"),
    };
    let [table, key_column] = [table, key_column].map(Alias::new);
    let [period_type, period_start, users] =
        ["period_type", "period_start", "users"].map(Alias::new);
    let stmt = Query::insert()
        .into_table(table.clone())
        .columns([
            period_type.clone(),
            period_start.clone(),
            key_column.clone(),
            users.clone(),
        ])
        .values_panic([
            period.as_str().into(),
            start.into(),
            key.into(),
            delta.into(),
        ])
        .on_conflict(
            OnConflict::columns([period_type, period_start, key_column])
                .value(users.clone(), Expr::col((table, users)).add(delta))
                .to_owned(),
        )
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

/// Competition ranking over entries sorted by XP, highest first: equal XP, equal rank.
pub(super) fn assign_ranks(rows: Vec<(Uuid, String, i64)>) -> Vec<LeaderboardEntry> {
    let mut out: Vec<LeaderboardEntry> = Vec::with_capacity(rows.len());
    for (i, (user_id, full_name, xp)) in rows.into_iter().enumerate() {
        let rank = match out.last() {
            Some(prev) if prev.xp == xp => prev.rank,
            _ => i as i64 + 1,
        };
        out.push(LeaderboardEntry {
            rank,
            user_id,
            full_name,
            xp,
        });
    }
    out
}

/// The top [`TOP_N`] of a period, computed from the scores.
async fn compute_top(
    conn: &impl ConnectionTrait,
    period: Period,
    start: NaiveDate,
) -> Result<Vec<LeaderboardEntry>, DbErr> {
    let rows: Vec<(Uuid, String, i64)> = leaderboard_scores::Entity::find()
        .select_only()
        .column(leaderboard_scores::Column::UserId)
        .column(user_profiles::Column::FullName)
        .column(leaderboard_scores::Column::Xp)
        .join(
            sea_orm::JoinType::InnerJoin,
            leaderboard_scores::Entity::belongs_to(user_profiles::Entity)
                .from(leaderboard_scores::Column::UserId)
                .to(user_profiles::Column::UserId)
                .into(),
        )
        .filter(leaderboard_scores::Column::PeriodType.eq(period.as_str()))
        .filter(leaderboard_scores::Column::PeriodStart.eq(start))
        .filter(leaderboard_scores::Column::Xp.gt(0))
        .order_by_desc(leaderboard_scores::Column::Xp)
        .order_by_asc(leaderboard_scores::Column::UserId)
        .limit(TOP_N)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(assign_ranks(rows))
}

/// Recomputes the global top of `period` at `now` into `leaderboard_cache` (one row per
/// period, replaced). Returns what it stored.
pub async fn refresh(
    conn: &impl ConnectionTrait,
    period: Period,
    now: DateTime<Utc>,
) -> Result<(Vec<LeaderboardEntry>, DateTime<Utc>), DbErr> {
    let top = store_top(conn, period, now).await?;
    Ok((top.entries.as_ref().clone(), top.generated_at))
}

/// [`refresh`], giving the stored top with its row's id.
async fn store_top(
    conn: &impl ConnectionTrait,
    period: Period,
    now: DateTime<Utc>,
) -> Result<CachedTop, DbErr> {
    use leaderboard_cache::{Column, Entity};
    let start = period.start(now);
    let entries = compute_top(conn, period, start).await?;
    let id = Uuid::now_v7();
    let data = serde_json::to_value(&entries).map_err(|e| DbErr::Custom(e.to_string()))?;
    let stmt = Query::insert()
        .into_table(Entity)
        .columns([
            Column::Id,
            Column::PeriodType,
            Column::PeriodStart,
            Column::RankingData,
            Column::GeneratedAt,
        ])
        .values_panic([
            id.into(),
            period.as_str().into(),
            start.into(),
            data.into(),
            now.into(),
        ])
        .on_conflict(
            // A new id on every refresh: it is the version instances key their parsed copy by.
            OnConflict::columns([Column::PeriodType, Column::PeriodStart])
                .update_columns([Column::Id, Column::RankingData, Column::GeneratedAt])
                .to_owned(),
        )
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(CachedTop {
        id,
        generated_at: now,
        entries: Arc::new(entries),
        confirmed: Instant::now(),
    })
}

/// Refreshes the current top of `period` and has this instance read it at once.
pub async fn refresh_period(state: &AppState, period: Period) -> Result<(), DbErr> {
    let now = state.clock.now();
    let top = store_top(state.db.write(), period, now).await?;
    state.leaderboard_tops.put(period, period.start(now), top);
    Ok(())
}

/// Refreshes both current periods; the `leaderboard.refresh` job.
pub async fn refresh_all(state: &AppState) -> Result<(), DbErr> {
    for period in Period::ALL {
        refresh_period(state, period).await?;
    }
    Ok(())
}

pub async fn run_job(state: &AppState, _payload: serde_json::Value) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    refresh_all(state).await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "leaderboards refreshed"
    );
    Ok(())
}

/// The periodic refresh: queued once per interval of `every` across all processes, under the
/// unique key `leaderboard:<interval start, Unix seconds>`.
pub fn periodic(every: Duration) -> Periodic {
    Periodic {
        kind: JOB_KIND,
        key_prefix: "leaderboard",
        every,
    }
}

/// Queues the refresh of the interval of length `every` holding now, unless any process has.
pub async fn queue_refresh(state: &AppState, every: Duration) -> Result<jobs::Enqueued, DbErr> {
    periodic(every).queue(state).await
}

/// Queues the refresh now and then every `every`, until `stop` turns true.
pub async fn run_periodically(state: AppState, every: Duration, stop: watch::Receiver<bool>) {
    periodic(every).run(state, stop).await
}

/// The global tops this instance has read from `leaderboard_cache`, parsed, keyed by period
/// and start, each with the row's id: every refresh gives the row a new id, so a read that
/// finds the same id uses the parsed copy and one that finds another reads the row again.
/// A copy whose id the database confirmed within [`TOP_CONFIRMED_FOR`] is used without
/// asking (this instance's own refreshes are stored at once; another instance's show here
/// within that time).
#[derive(Default)]
pub struct TopCache(RwLock<HashMap<(Period, NaiveDate), CachedTop>>);

/// How long a parsed top is used without asking the database for the row's id.
pub const TOP_CONFIRMED_FOR: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct CachedTop {
    id: Uuid,
    generated_at: DateTime<Utc>,
    entries: Arc<Vec<LeaderboardEntry>>,
    /// When the database last said this is the period's row.
    confirmed: Instant,
}

impl TopCache {
    /// The parsed copy of the row with id `id`, now confirmed current.
    fn get(&self, period: Period, start: NaiveDate, id: Uuid) -> Option<CachedTop> {
        let mut tops = self.0.write().unwrap_or_else(|e| e.into_inner());
        let top = tops.get_mut(&(period, start)).filter(|t| t.id == id)?;
        top.confirmed = Instant::now();
        Some(top.clone())
    }

    /// The parsed copy, if confirmed within [`TOP_CONFIRMED_FOR`].
    fn current(&self, period: Period, start: NaiveDate) -> Option<CachedTop> {
        let tops = self.0.read().unwrap_or_else(|e| e.into_inner());
        tops.get(&(period, start))
            .filter(|t| t.confirmed.elapsed() < TOP_CONFIRMED_FOR)
            .cloned()
    }

    fn put(&self, period: Period, start: NaiveDate, top: CachedTop) {
        let mut tops = self.0.write().unwrap_or_else(|e| e.into_inner());
        // Only the current periods are read: older starts can go.
        tops.retain(|(p, s), _| *p != period || *s >= start);
        tops.insert((period, start), top);
    }
}

/// The cached top of a period whose `leaderboard_cache` row has id `id` (`None`: no row yet,
/// e.g. in the first minutes of a new week, so one is computed and stored now).
async fn cached_top(
    state: &AppState,
    period: Period,
    start: NaiveDate,
    id: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<(Arc<Vec<LeaderboardEntry>>, DateTime<Utc>)> {
    if let Some(id) = id {
        if let Some(top) = state.leaderboard_tops.get(period, start, id) {
            return Ok((top.entries, top.generated_at));
        }
        let row = leaderboard_cache::Entity::find_by_id(id)
            .one(state.db.read())
            .await?;
        if let Some(row) = row
            && let Ok(entries) = serde_json::from_value::<Vec<LeaderboardEntry>>(row.ranking_data)
        {
            let top = CachedTop {
                id: row.id,
                generated_at: row.generated_at,
                entries: Arc::new(entries),
                confirmed: Instant::now(),
            };
            state.leaderboard_tops.put(period, start, top.clone());
            return Ok((top.entries, top.generated_at));
        }
    }
    let top = store_top(state.db.write(), period, now).await?;
    state.leaderboard_tops.put(period, start, top.clone());
    Ok((top.entries, top.generated_at))
}

/// The id of the period's `leaderboard_cache` row, if it has one.
async fn top_id(
    conn: &impl ConnectionTrait,
    period: Period,
    start: NaiveDate,
) -> Result<Option<Uuid>, DbErr> {
    use leaderboard_cache::{Column, Entity};
    Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::PeriodType.eq(period.as_str()))
        .filter(Column::PeriodStart.eq(start))
        .into_tuple()
        .one(conn)
        .await
}

/// What the global board needs besides the top, in one statement: the id of the period's
/// cached top, my name, my XP and how many users have more — the users of the buckets above
/// mine plus those of the exact XP values inside my bucket above mine (a few hundred rows at
/// most, not one per distinct XP value above me).
async fn my_standing(
    conn: &impl ConnectionTrait,
    period: Period,
    start: NaiveDate,
    me: Uuid,
) -> Result<(Option<Uuid>, String, i64, i64), DbErr> {
    let backend = conn.get_database_backend();
    let sql = numbered(
        backend,
        "SELECT (SELECT id FROM leaderboard_cache WHERE period_type = $1 AND period_start = $2), \
                COALESCE((SELECT full_name FROM user_profiles WHERE user_id = $3), ''), \
                COALESCE(s.xp, 0), \
                (SELECT CAST(COALESCE(SUM(b.users), 0) AS BIGINT) FROM leaderboard_xp_buckets b \
                  WHERE b.period_type = $1 AND b.period_start = $2 \
                    AND b.bucket > COALESCE(s.xp, 0) / $4) \
              + (SELECT CAST(COALESCE(SUM(c.users), 0) AS BIGINT) FROM leaderboard_xp_counts c \
                  WHERE c.period_type = $1 AND c.period_start = $2 AND c.xp > COALESCE(s.xp, 0) \
                    AND c.xp < (COALESCE(s.xp, 0) / $4 + 1) * $4) \
         FROM (SELECT 1 AS one) AS o \
         LEFT JOIN leaderboard_scores s \
           ON s.period_type = $1 AND s.period_start = $2 AND s.user_id = $3",
    );
    let values: Vec<sea_orm::Value> = vec![
        period.as_str().into(),
        start.into(),
        me.into(),
        XP_BUCKET_WIDTH.into(),
    ];
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("leaderboard standing".into()))?;
    Ok((
        row.try_get_by_index(0)?,
        row.try_get_by_index(1)?,
        row.try_get_by_index(2)?,
        row.try_get_by_index(3)?,
    ))
}

/// `sql` written with numbered parameters (`$1`, `$2`, … each usable several times) in
/// `backend`'s spelling: as it is for PostgreSQL, `?1`, `?2`, … for SQLite.
fn numbered(backend: DatabaseBackend, sql: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    }
}

/// My friends and me with our XP in the period (0 without a score), most XP first, then by
/// user id: one statement — the ids from `friends` (either side of an accepted friendship)
/// and me, joined to names and to the period's scores. Each of the ~3 lookups per friend is
/// one search of a covering index (migration `m20261127_000016`). `UNION`, although no id can
/// come twice (one row per pair, nobody befriends themselves): with `UNION ALL` PostgreSQL
/// plans a parallel append under a Gather, and starting its workers costs ~15 ms a read.
async fn friends_board(
    conn: &impl ConnectionTrait,
    period: Period,
    start: NaiveDate,
    me: Uuid,
) -> Result<Vec<(Uuid, String, i64)>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = numbered(
        backend,
        "SELECT ids.id, COALESCE(p.full_name, ''), COALESCE(s.xp, 0) AS xp \
         FROM (SELECT $1 AS id \
               UNION SELECT addressee_id FROM friends WHERE requester_id = $1 AND status = $2 \
               UNION SELECT requester_id FROM friends WHERE addressee_id = $1 AND status = $2) AS ids \
         LEFT JOIN user_profiles p ON p.user_id = ids.id \
         LEFT JOIN leaderboard_scores s ON s.user_id = ids.id \
              AND s.period_type = $3 AND s.period_start = $4 \
         ORDER BY xp DESC, ids.id",
    );
    let values: Vec<sea_orm::Value> = vec![
        me.into(),
        super::service::ACCEPTED.into(),
        period.as_str().into(),
        start.into(),
    ];
    member_rows(conn, Statement::from_sql_and_values(backend, sql, values)).await
}

/// The (user id, name, XP) rows `stmt` selects, in its order.
async fn member_rows(
    conn: &impl ConnectionTrait,
    stmt: Statement,
) -> Result<Vec<(Uuid, String, i64)>, DbErr> {
    conn.query_all_raw(stmt)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get_by_index(0)?,
                row.try_get_by_index(1)?,
                row.try_get_by_index(2)?,
            ))
        })
        .collect()
}

/// Computes the friends board of `me` and keeps it (`social::boards`).
async fn compute_friends_board(
    state: &AppState,
    me: Uuid,
    period: Period,
    start: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Arc<Vec<LeaderboardEntry>>, DbErr> {
    let boards = &state.friend_boards;
    let generation = boards.generation();
    let rows = friends_board(state.db.read(), period, start, me).await?;
    let entries = Arc::new(assign_ranks(rows));
    boards.put(generation, me, period, start, entries.clone(), now);
    Ok(entries)
}

/// The current name and XP in each of `periods` of those of `members` who still have an
/// account, as [`friends_board`] reads them: one statement, a primary-key lookup per table,
/// period and member. Each row's XP are in the order of `periods`.
pub(super) async fn members_now(
    conn: &impl ConnectionTrait,
    periods: &[(Period, NaiveDate)],
    members: &[Uuid],
) -> Result<Vec<(Uuid, String, Vec<i64>)>, DbErr> {
    let backend = conn.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(periods.len() * 2 + members.len());
    let (mut columns, mut joins) = (String::new(), String::new());
    for (i, &(period, start)) in periods.iter().enumerate() {
        columns.push_str(&format!(", COALESCE(s{i}.xp, 0)"));
        joins.push_str(&format!(
            " LEFT JOIN leaderboard_scores s{i} ON s{i}.user_id = u.id \
               AND s{i}.period_type = ${} AND s{i}.period_start = ${}",
            values.len() + 1,
            values.len() + 2
        ));
        values.extend([period.as_str().into(), start.into()]);
    }
    let ids: Vec<String> = (0..members.len())
        .map(|i| format!("${}", values.len() + i + 1))
        .collect();
    values.extend(members.iter().map(|&id| sea_orm::Value::from(id)));
    let sql = numbered(
        backend,
        &format!(
            "SELECT u.id, COALESCE(p.full_name, ''){columns} \
             FROM users u \
             LEFT JOIN user_profiles p ON p.user_id = u.id{joins} \
             WHERE u.id IN ({})",
            ids.join(", ")
        ),
    );
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .iter()
        .map(|row| {
            let xp = (0..periods.len())
                .map(|i| row.try_get_by_index(i + 2))
                .collect::<Result<_, _>>()?;
            Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?, xp))
        })
        .collect()
}

/// `GET /leaderboards/{period}?scope=`.
pub async fn leaderboard(
    state: &AppState,
    me: &CurrentUser,
    period: Period,
    scope: Scope,
) -> AppResult<LeaderboardView> {
    let now = state.clock.now();
    let start = period.start(now);
    let db = state.db.read();
    match scope {
        Scope::Global => {
            let standings = &state.standings;
            let kept = match standings.mine(period, start, me.id) {
                Some(mine) => Some(mine),
                None => standings.catch_up(db, period, start, me.id).await?,
            };
            let (mine, (entries, generated_at)) = match kept {
                Some(mine) => {
                    let top = match state.leaderboard_tops.current(period, start) {
                        Some(top) => (top.entries, top.generated_at),
                        None => {
                            let id = top_id(db, period, start).await?;
                            cached_top(state, period, start, id, now).await?
                        }
                    };
                    (mine, top)
                }
                None => {
                    let (id, full_name, xp, above) = my_standing(db, period, start, me.id).await?;
                    let mine = Mine {
                        full_name,
                        xp,
                        above,
                    };
                    (mine, cached_top(state, period, start, id, now).await?)
                }
            };
            Ok(LeaderboardView {
                period_type: period,
                scope,
                period_start: start,
                generated_at,
                entries: entries.as_ref().clone(),
                me: LeaderboardEntry {
                    rank: mine.above + 1,
                    user_id: me.id,
                    full_name: mine.full_name,
                    xp: mine.xp,
                },
            })
        }
        Scope::Friends => {
            let boards = &state.friend_boards;
            let entries = match boards.get(me.id, period, start, now) {
                Some(Cached::Fresh(entries)) => entries,
                Some(Cached::Stale {
                    entries,
                    members,
                    version,
                }) => {
                    let fresh: Vec<(Uuid, String, i64)> =
                        members_now(db, &[(period, start)], &members)
                            .await?
                            .into_iter()
                            .map(|(id, name, xp)| (id, name, xp[0]))
                            .collect();
                    if fresh.len() == members.len() {
                        let entries = Arc::new(patched(&entries, fresh));
                        boards.patch(me.id, period, start, version, entries.clone());
                        entries
                    } else {
                        // A member's account is gone: their friendships with it.
                        compute_friends_board(state, me.id, period, start, now).await?
                    }
                }
                None => compute_friends_board(state, me.id, period, start, now).await?,
            };
            let mine = entries
                .iter()
                .find(|e| e.user_id == me.id)
                .cloned()
                .unwrap_or(LeaderboardEntry {
                    rank: 1,
                    user_id: me.id,
                    full_name: String::new(),
                    xp: 0,
                });
            Ok(LeaderboardView {
                period_type: period,
                scope,
                period_start: start,
                generated_at: now,
                entries: entries.as_ref().clone(),
                me: mine,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_start_on_monday_and_the_first_at_midnight_utc() {
        let sunday_last_second = Utc.with_ymd_and_hms(2026, 11, 29, 23, 59, 59).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        assert_eq!(
            Period::Weekly.start(sunday_last_second),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(
            Period::Weekly.start(monday),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
        );
        assert_eq!(
            Period::Monthly.start(monday),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        let dec = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert_eq!(
            Period::Monthly.start(dec),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }

    #[test]
    fn equal_xp_shares_a_rank() {
        let u = |n: u128| Uuid::from_u128(n);
        let ranked = assign_ranks(vec![
            (u(1), "a".into(), 30),
            (u(2), "b".into(), 30),
            (u(3), "c".into(), 20),
            (u(4), "d".into(), 10),
            (u(5), "e".into(), 10),
        ]);
        let ranks: Vec<i64> = ranked.iter().map(|e| e.rank).collect();
        assert_eq!(ranks, [1, 1, 3, 4, 4]);
    }
}
