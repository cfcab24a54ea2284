//! Exact AI usage control (SPEC §3 "AI usage control"): reserve, then settle.
//!
//! Public gateways that read the usage, call the model and then charge overdraw under
//! concurrency: every parallel request reads the same "k left". Here the allowance is taken
//! before the call, by one atomic statement, and the call's real usage is written after it:
//!
//! 1. [`reserve`] takes one unit of the day's allowance for a feature with one conditional
//!    upsert on `ai_usage_counters` (`INSERT … ON CONFLICT … DO UPDATE SET used = used + 1
//!    WHERE used < limit RETURNING used`). PostgreSQL locks the conflicting row and re-checks
//!    the WHERE against its latest version; SQLite serialises writers. So N parallel requests
//!    against k units left succeed exactly k times, on one instance or several. In the same
//!    transaction it logs the call as `reserved` with a deadline (`reserved_until`).
//! 2. After the call, [`Reservation::settle`] writes the real tokens, cost and model
//!    (`success`), or [`Reservation::release`] marks it `error` and gives the unit back.
//!    A reservation dropped without either (the client went away and the handler's future was
//!    dropped) is released from a spawned task.
//! 3. A reservation of a process that died is expired by [`expire_stale`] (run by the
//!    maintenance) once its deadline has passed: `error`, unit given back.
//!
//! Each of settle, release and expiry is a conditional `UPDATE … WHERE request_status =
//! 'reserved'`, and only the one that changed the row touches the counter: a unit is never
//! given back twice. The counter therefore always equals the success rows plus the live
//! reservations of that user, feature and UTC day.
//!
//! The monthly cost cap is checked in the reservation's transaction against the cost settled
//! so far this calendar month. A call's cost is known only after the call, so the cap can be
//! exceeded by at most the cost of the calls in flight when it is reached.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryResult, QuerySelect, QueryTrait, Statement, TransactionTrait,
    Value,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Feature, Usage};
use crate::config::Config;
use crate::db::{Db, share_lock_user, share_lock_user_select};
use crate::entity::numeric::Numeric;
use crate::entity::{ai_usage_counters, ai_usage_logs, subscriptions};
use crate::http::error::{AppError, AppResult};

pub const STATUS_RESERVED: &str = "reserved";
pub const STATUS_SUCCESS: &str = "success";
pub const STATUS_ERROR: &str = "error";
pub const STATUS_REJECTED: &str = "rejected";

/// A user's plan, which sets their allowances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Pro,
}

/// The allowances of a plan (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub doubt_per_day: u32,
    pub quiz_per_day: u32,
    pub material_per_day: u32,
    /// US dollars per calendar month (UTC), exact.
    pub monthly_cost_cap: Decimal,
}

impl Limits {
    pub fn of(config: &Config, plan: Plan) -> Self {
        match plan {
            Plan::Free => Self {
                doubt_per_day: config.plan_free_doubt_per_day,
                quiz_per_day: config.plan_free_quiz_per_day,
                material_per_day: config.plan_free_material_per_day,
                monthly_cost_cap: config.plan_free_monthly_cost_cap_usd,
            },
            Plan::Pro => Self {
                doubt_per_day: config.plan_pro_doubt_per_day,
                quiz_per_day: config.plan_pro_quiz_per_day,
                material_per_day: config.plan_pro_material_per_day,
                monthly_cost_cap: config.plan_pro_monthly_cost_cap_usd,
            },
        }
    }

    pub fn daily(&self, feature: Feature) -> u32 {
        match feature {
            Feature::Doubt => self.doubt_per_day,
            Feature::Quiz => self.quiz_per_day,
            Feature::Material => self.material_per_day,
        }
    }
}

/// The plan of `user_id` at `now`: `pro` while their current subscription is a pro one that
/// is active or trialing and not past its period's end; otherwise `free` (a `past_due` or
/// `canceled` subscription gives no pro allowance). Read on every reservation, never cached,
/// so a plan change applies to the next request.
pub async fn plan_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Plan, DbErr> {
    let pro = match conn.query_one(&pro_subscriptions(user_id, now)).await? {
        Some(row) => row.try_get_by_index::<i64>(0)?,
        None => 0,
    };
    Ok(plan_from_count(pro))
}

/// `SELECT COUNT(*)` of the subscriptions that make `user_id` a pro user at `now`.
fn pro_subscriptions(user_id: Uuid, now: DateTime<Utc>) -> SelectStatement {
    subscriptions::Entity::find()
        .select_only()
        .expr(Expr::cust("COUNT(*)"))
        .filter(subscriptions::Column::UserId.eq(user_id))
        .filter(subscriptions::Column::Plan.eq("pro"))
        .filter(subscriptions::Column::Status.is_in(["active", "trialing"]))
        .filter(
            subscriptions::Column::CurrentPeriodEnd
                .is_null()
                .or(subscriptions::Column::CurrentPeriodEnd.gt(now)),
        )
        .into_query()
}

fn plan_from_count(pro_subscriptions: i64) -> Plan {
    if pro_subscriptions > 0 {
        Plan::Pro
    } else {
        Plan::Free
    }
}

/// What a reservation checks before it takes a unit, read in the one statement that takes the
/// share lock on the user's row ([`share_lock_user_select`]): the user's plan at `now` and the
/// cost settled so far this calendar month.
fn plan_and_month_cost_select(
    backend: DatabaseBackend,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> SelectStatement {
    let month = cost_select(
        backend,
        Some(user_id),
        month_start(now),
        next_monthly_reset(now),
    );
    share_lock_user_select(user_id)
        .expr_as(subquery(pro_subscriptions(user_id, now)), "pro")
        .expr_as(subquery(month), "cost")
        .to_owned()
}

/// The plan and the month's cost from the row of [`plan_and_month_cost_select`]; `None` when
/// the user is gone.
fn plan_and_month_cost(
    backend: DatabaseBackend,
    row: Option<QueryResult>,
) -> Result<Option<(Plan, Decimal)>, DbErr> {
    let Some(row) = row else {
        return Ok(None);
    };
    let pro: i64 = row.try_get("", "pro")?;
    Ok(Some((
        plan_from_count(pro),
        read_cost(backend, &row, "cost")?,
    )))
}

/// `(SELECT …)` as a value in another statement.
fn subquery(select: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(select.into()))
}

/// The next reset of the daily allowances: the next UTC midnight.
pub fn next_daily_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive() + Duration::days(1);
    Utc.from_utc_datetime(&tomorrow.and_time(chrono::NaiveTime::MIN))
}

/// The first instant of `now`'s calendar month (UTC).
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or(now.date_naive());
    Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN))
}

/// The next reset of the monthly cost cap: the first of next month, 00:00 UTC.
pub fn next_monthly_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = month_start(now);
    let next = start
        .date_naive()
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(start.date_naive());
    Utc.from_utc_datetime(&next.and_time(chrono::NaiveTime::MIN))
}

/// Whole seconds from `now` to `until`, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn secs_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let millis = (until - now).num_milliseconds();
    std::cmp::max(
        u64::try_from((millis + 999).div_euclid(1000)).unwrap_or(0),
        1,
    )
}

/// One unit of allowance taken for a call under way. Settle it with the call's [`Usage`] or
/// release it on failure; dropped without either, it is released in the background.
#[derive(Debug)]
#[must_use = "settle or release the reservation; a dropped one is released"]
pub struct Reservation {
    /// The `ai_usage_logs` row of the call.
    pub log_id: Uuid,
    pub user_id: Uuid,
    pub feature: Feature,
    /// The UTC day whose counter the unit was taken from.
    pub usage_date: NaiveDate,
    reserved_at: DateTime<Utc>,
    /// Set until settled or released: what the drop guard needs to release.
    armed: Option<Db>,
}

/// Takes one unit of `feature`'s daily allowance of `user_id`'s plan and logs the call about to
/// be made to `model` as `reserved`; or, over a limit, logs it as `rejected` and answers 429
/// `quota-exceeded` with the time until the next reset.
///
/// It commits its own write transaction, as settle and release do: call them outside any write
/// transaction of the caller (on SQLite all writes share one connection, so a call from inside
/// one would wait for itself), and keep the provider call itself outside transactions too.
pub async fn reserve(
    db: &Db,
    config: &Config,
    user_id: Uuid,
    feature: Feature,
    model: &str,
    now: DateTime<Utc>,
) -> AppResult<Reservation> {
    // The user's row locked, the plan and the month's cost: one statement. The daily unit is
    // taken atomically below; the cost cap allows the calls in flight anyway.
    let (txn, row) = db
        .begin_write_after(&plan_and_month_cost_select(db.backend(), user_id, now))
        .await?;
    let Some((plan, spent)) = plan_and_month_cost(db.backend(), row)? else {
        return Err(AppError::NotFound("user"));
    };
    let limits = Limits::of(config, plan);
    if spent >= limits.monthly_cost_cap {
        log_call(&txn, user_id, feature, model, STATUS_REJECTED, now, None).await?;
        txn.commit().await?;
        return Err(AppError::QuotaExceeded {
            retry_after_secs: secs_until(now, next_monthly_reset(now)),
            detail: format!(
                "the monthly AI cost cap of your plan (${}) is reached; it resets on the first \
                 of next month (UTC)",
                limits.monthly_cost_cap
            ),
        });
    }

    let daily = limits.daily(feature);
    let day = now.date_naive();
    if daily == 0 || !take_unit(&txn, user_id, feature, day, daily).await? {
        log_call(&txn, user_id, feature, model, STATUS_REJECTED, now, None).await?;
        txn.commit().await?;
        return Err(AppError::QuotaExceeded {
            retry_after_secs: secs_until(now, next_daily_reset(now)),
            detail: format!(
                "your plan allows {daily} {} request(s) a day; the allowance resets at midnight UTC",
                feature.as_str()
            ),
        });
    }
    let deadline = now + Duration::seconds(config.ai_reservation_ttl_secs as i64);
    let log_id = log_call(
        &txn,
        user_id,
        feature,
        model,
        STATUS_RESERVED,
        now,
        Some(deadline),
    )
    .await?;
    txn.commit().await?;
    Ok(Reservation {
        log_id,
        user_id,
        feature,
        usage_date: day,
        reserved_at: now,
        armed: Some(db.clone()),
    })
}

/// The conditional upsert: takes one unit when fewer than `limit` are used; false when none is
/// left (the WHERE refused the update and nothing is returned).
async fn take_unit(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    feature: Feature,
    day: NaiveDate,
    limit: u32,
) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let p = |n: usize| placeholder(backend, n);
    let sql = format!(
        "INSERT INTO ai_usage_counters (user_id, feature_type, usage_date, used) \
         VALUES ({}, {}, {}, 1) \
         ON CONFLICT (user_id, feature_type, usage_date) \
         DO UPDATE SET used = ai_usage_counters.used + 1 \
         WHERE ai_usage_counters.used < {} \
         RETURNING used",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let values: Vec<Value> = vec![
        user_id.into(),
        feature.as_str().into(),
        day.into(),
        i64::from(limit).into(),
    ];
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(row.is_some())
}

/// Gives one unit back to the counter of (`user_id`, `feature`, `day`), never below zero.
async fn give_back(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    feature_type: &str,
    day: NaiveDate,
) -> Result<(), DbErr> {
    ai_usage_counters::Entity::update_many()
        .col_expr(
            ai_usage_counters::Column::Used,
            Expr::col(ai_usage_counters::Column::Used).sub(1),
        )
        .filter(ai_usage_counters::Column::UserId.eq(user_id))
        .filter(ai_usage_counters::Column::FeatureType.eq(feature_type))
        .filter(ai_usage_counters::Column::UsageDate.eq(day))
        .filter(ai_usage_counters::Column::Used.gt(0))
        .exec(conn)
        .await?;
    Ok(())
}

fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// Writes one `ai_usage_logs` row with no tokens and no cost yet.
async fn log_call(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    feature: Feature,
    model: &str,
    status: &str,
    now: DateTime<Utc>,
    reserved_until: Option<DateTime<Utc>>,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    ai_usage_logs::ActiveModel {
        id: Set(id),
        user_id: Set(Some(user_id)),
        feature_type: Set(feature.as_str().to_string()),
        model_name: Set(model.to_string()),
        prompt_tokens: Set(0),
        completion_tokens: Set(0),
        total_tokens: Set(0),
        estimated_cost: Set(Numeric(Decimal::ZERO)),
        request_status: Set(status.to_string()),
        created_at: Set(now),
        reserved_until: Set(reserved_until),
    }
    .insert(conn)
    .await?;
    Ok(id)
}

/// `request_status = '…'` with the status written into the SQL rather than bound: SQLite plans
/// a statement once whatever its bound values (`SQLITE_ENABLE_QPSG`, see `crate::db`), so only
/// a constant lets it use the partial index `ai_usage_logs_reserved_until_idx`
/// (`request_status = 'reserved'`).
fn status_is(status: &'static str) -> Expr {
    Expr::col(ai_usage_logs::Column::RequestStatus).eq(Expr::cust(format!("'{status}'")))
}

fn tokens(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Reservation {
    /// The call succeeded: its log row becomes `success` with the real tokens, cost and model,
    /// and the unit stays used. If the maintenance expired the reservation meanwhile (a call
    /// that outlived `STUDIUM_AI_RESERVATION_TTL_SECS`), the unit it gave back is taken again —
    /// even over the limit, since the call did happen — so the log and the counter stay true.
    pub async fn settle(mut self, db: &Db, usage: &Usage, now: DateTime<Utc>) -> AppResult<()> {
        self.armed = None;
        let txn = db.begin_write().await?;
        share_lock_user(&txn, self.user_id).await?;
        self.settle_in(&txn, usage).await?;
        txn.commit().await?;
        tracing::debug!(
            log_id = %self.log_id,
            elapsed_ms = (now - self.reserved_at).num_milliseconds(),
            "AI reservation settled"
        );
        Ok(())
    }

    /// [`settle`](Self::settle) inside the caller's write transaction, so the call's outcome
    /// and its settlement commit together. The guard stays armed: after the commit call
    /// [`settled`](Self::settled); if the transaction fails, [`release`](Self::release) it.
    pub async fn settle_in(&self, conn: &impl ConnectionTrait, usage: &Usage) -> Result<(), DbErr> {
        let update = |from: &'static str| {
            ai_usage_logs::Entity::update_many()
                .col_expr(
                    ai_usage_logs::Column::RequestStatus,
                    Expr::value(STATUS_SUCCESS),
                )
                .col_expr(
                    ai_usage_logs::Column::ModelName,
                    Expr::value(usage.model.clone()),
                )
                .col_expr(
                    ai_usage_logs::Column::PromptTokens,
                    Expr::value(tokens(usage.prompt_tokens)),
                )
                .col_expr(
                    ai_usage_logs::Column::CompletionTokens,
                    Expr::value(tokens(usage.completion_tokens)),
                )
                .col_expr(
                    ai_usage_logs::Column::TotalTokens,
                    Expr::value(tokens(usage.total_tokens())),
                )
                .col_expr(
                    ai_usage_logs::Column::EstimatedCost,
                    Expr::value(Numeric(usage.cost)),
                )
                .col_expr(
                    ai_usage_logs::Column::ReservedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(ai_usage_logs::Column::Id.eq(self.log_id))
                .filter(status_is(from))
        };
        let settled = update(STATUS_RESERVED).exec(conn).await?.rows_affected;
        if settled == 0 {
            // Expired by the maintenance: `error` with its deadline kept (a release clears it).
            let late = update(STATUS_ERROR)
                .filter(ai_usage_logs::Column::ReservedUntil.is_not_null())
                .exec(conn)
                .await?
                .rows_affected;
            if late == 1 {
                take_back(conn, self).await?;
                tracing::warn!(log_id = %self.log_id, "an expired AI reservation was settled late");
            }
        }
        Ok(())
    }

    /// The transaction holding [`settle_in`](Self::settle_in) committed: disarms the guard.
    pub fn settled(mut self) {
        self.armed = None;
    }

    /// The call failed (provider error, timeout): its log row becomes `error` and the unit is
    /// given back.
    pub async fn release(mut self, db: &Db, now: DateTime<Utc>) -> AppResult<()> {
        self.armed = None;
        release_row(db, self.log_id, self.user_id, self.feature, self.usage_date).await?;
        tracing::debug!(
            log_id = %self.log_id,
            elapsed_ms = (now - self.reserved_at).num_milliseconds(),
            "AI reservation released"
        );
        Ok(())
    }
}

/// Re-takes the unit of a reservation whose expiry gave it back.
async fn take_back(conn: &impl ConnectionTrait, r: &Reservation) -> Result<(), DbErr> {
    ai_usage_counters::Entity::update_many()
        .col_expr(
            ai_usage_counters::Column::Used,
            Expr::col(ai_usage_counters::Column::Used).add(1),
        )
        .filter(ai_usage_counters::Column::UserId.eq(r.user_id))
        .filter(ai_usage_counters::Column::FeatureType.eq(r.feature.as_str()))
        .filter(ai_usage_counters::Column::UsageDate.eq(r.usage_date))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks a reserved row `error` and gives its unit back, once: only the update that finds the
/// row still `reserved` touches the counter.
async fn release_row(
    db: &Db,
    log_id: Uuid,
    user_id: Uuid,
    feature: Feature,
    day: NaiveDate,
) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    share_lock_user(&txn, user_id).await?;
    let released = ai_usage_logs::Entity::update_many()
        .col_expr(
            ai_usage_logs::Column::RequestStatus,
            Expr::value(STATUS_ERROR),
        )
        .col_expr(
            ai_usage_logs::Column::ReservedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(ai_usage_logs::Column::Id.eq(log_id))
        .filter(status_is(STATUS_RESERVED))
        .exec(&txn)
        .await?
        .rows_affected;
    if released == 1 {
        give_back(&txn, user_id, feature.as_str(), day).await?;
    }
    txn.commit().await
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(db) = self.armed.take() else {
            return;
        };
        let (log_id, user_id, feature, day) =
            (self.log_id, self.user_id, self.feature, self.usage_date);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = release_row(&db, log_id, user_id, feature, day).await {
                        tracing::warn!(%log_id, error = %err, "releasing a dropped AI reservation failed; it will expire");
                    }
                });
            }
            // No runtime to release from: the maintenance expires it at its deadline.
            Err(_) => tracing::warn!(%log_id, "an AI reservation was dropped outside a runtime"),
        }
    }
}

/// Expires the reservations whose deadline passed before `now` (their process died, or the
/// release failed): `error`, and each unit given back once. Returns how many. Several
/// instances may run it at once: the conditional update hands each row to one of them.
pub async fn expire_stale(conn: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = conn.begin().await?;
    let expired = ai_usage_logs::Entity::update_many()
        .col_expr(
            ai_usage_logs::Column::RequestStatus,
            Expr::value(STATUS_ERROR),
        )
        .filter(status_is(STATUS_RESERVED))
        .filter(ai_usage_logs::Column::ReservedUntil.lt(now))
        .exec_with_returning(&txn)
        .await?;
    for row in &expired {
        if let Some(user_id) = row.user_id {
            give_back(
                &txn,
                user_id,
                &row.feature_type,
                row.created_at.date_naive(),
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(expired.len() as u64)
}

/// The exact sum of `estimated_cost` of the log rows (of `user_id`, or everyone's) created in
/// `[from, to)`. PostgreSQL sums its NUMERIC exactly. SQLite keeps the cost as decimal text and
/// would sum it as binary floats, so there each cost is turned into whole micro-dollars first:
/// a cost has at most 6 decimals and 14 digits, which a double holds to well within half a
/// micro-dollar, so ROUND gives the exact integer and the integer sum is exact.
pub async fn cost_between(
    conn: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Decimal, DbErr> {
    let backend = conn.get_database_backend();
    match conn
        .query_one(&cost_select(backend, user_id, from, to))
        .await?
    {
        Some(row) => read_cost(backend, &row, "cost"),
        None => Ok(Decimal::ZERO),
    }
}

/// The statement of [`cost_between`], one column `cost`.
fn cost_select(
    backend: DatabaseBackend,
    user_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SelectStatement {
    let mut select = Query::select();
    select
        .expr_as(Expr::cust(cost_sum_sql(backend)), "cost")
        .from(ai_usage_logs::Entity)
        .and_where(Expr::col(ai_usage_logs::Column::CreatedAt).gte(from))
        .and_where(Expr::col(ai_usage_logs::Column::CreatedAt).lt(to));
    if let Some(user_id) = user_id {
        select.and_where(Expr::col(ai_usage_logs::Column::UserId).eq(user_id));
    }
    select
}

/// The SQL of an exact cost sum (see [`cost_between`]); read it with [`read_cost`].
pub(crate) fn cost_sum_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "COALESCE(SUM(estimated_cost), 0)",
        _ => "COALESCE(SUM(CAST(ROUND(CAST(estimated_cost AS REAL) * 1000000) AS INTEGER)), 0)",
    }
}

pub(crate) fn read_cost(
    backend: DatabaseBackend,
    row: &sea_orm::QueryResult,
    column: &str,
) -> Result<Decimal, DbErr> {
    match backend {
        DatabaseBackend::Postgres => Ok(row.try_get::<Numeric>("", column)?.0),
        _ => Ok(Decimal::new(row.try_get::<i64>("", column)?, 6)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn resets_are_the_next_utc_midnight_and_the_first_of_next_month() {
        let now = at("2026-12-31T23:59:30Z");
        assert_eq!(next_daily_reset(now), at("2027-01-01T00:00:00Z"));
        assert_eq!(next_monthly_reset(now), at("2027-01-01T00:00:00Z"));
        assert_eq!(month_start(now), at("2026-12-01T00:00:00Z"));
        assert_eq!(secs_until(now, next_daily_reset(now)), 30);
        let now = at("2026-03-02T12:00:00.250Z");
        assert_eq!(secs_until(now, next_daily_reset(now)), 12 * 3600);
        assert_eq!(next_monthly_reset(now), at("2026-04-01T00:00:00Z"));
        assert_eq!(secs_until(now, now), 1);
    }

    #[test]
    fn each_plan_takes_its_limits_from_the_configuration() {
        let config = Config::default();
        let free = Limits::of(&config, Plan::Free);
        assert_eq!(free.daily(Feature::Doubt), 20);
        assert_eq!(free.daily(Feature::Quiz), 5);
        assert_eq!(free.monthly_cost_cap, Decimal::new(1, 0));
        let pro = Limits::of(&config, Plan::Pro);
        assert_eq!(pro.daily(Feature::Doubt), 200);
        assert_eq!(pro.daily(Feature::Material), 2000);
    }
}
