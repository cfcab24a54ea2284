//! What the usage endpoints answer: a user's own allowances and use (`GET /me/ai-usage`) and
//! the admin's report of every call (`GET /admin/ai-usage`). Read-only; the counting rules are
//! those of [`super::usage`], so "used" here is what a reservation checks against.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement, Value,
};
use uuid::Uuid;

use super::Feature;
use super::usage::{
    self, Limits, STATUS_ERROR, STATUS_REJECTED, STATUS_RESERVED, STATUS_SUCCESS, cost_sum_sql,
    read_cost,
};
use super::usage_model::*;
use crate::accounts::CurrentUser;
use crate::entity::ai_usage_counters;
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;

/// The default period of the admin report: the last 30 days.
const DEFAULT_REPORT_DAYS: i64 = 30;

fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// The signed-in user's plan, allowances and use.
pub async fn my_usage(state: &AppState, user: &CurrentUser) -> AppResult<MyAiUsage> {
    let now = state.clock.now();
    let db = state.db.read();
    let plan = usage::plan_of(db, user.id, now).await?;
    let limits = Limits::of(&state.config, plan);

    let counters = ai_usage_counters::Entity::find()
        .filter(ai_usage_counters::Column::UserId.eq(user.id))
        .filter(ai_usage_counters::Column::UsageDate.eq(now.date_naive()))
        .all(db)
        .await?;
    let used = |feature: Feature| {
        counters
            .iter()
            .find(|c| c.feature_type == feature.as_str())
            .map_or(0, |c| u32::try_from(c.used).unwrap_or(0))
    };

    let backend = db.get_database_backend();
    let p = |n: usize| placeholder(backend, n);
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN request_status IN ('{STATUS_SUCCESS}', '{STATUS_RESERVED}') \
         THEN 1 ELSE 0 END), 0) AS requests, COALESCE(SUM(total_tokens), 0) AS tokens, {} AS cost \
         FROM ai_usage_logs WHERE user_id = {} AND created_at >= {} AND created_at < {}",
        cost_sum_sql(backend),
        p(1),
        p(2),
        p(3)
    );
    let values: Vec<Value> = vec![
        user.id.into(),
        usage::month_start(now).into(),
        usage::next_monthly_reset(now).into(),
    ];
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| anyhow::anyhow!("an aggregate returned no row"))?;
    let requests: i64 = row.try_get("", "requests")?;
    let tokens: i64 = row.try_get("", "tokens")?;
    let cost = read_cost(backend, &row, "cost")?;

    Ok(MyAiUsage {
        plan,
        limits: PlanLimits {
            doubt_per_day: limits.doubt_per_day,
            quiz_per_day: limits.quiz_per_day,
            material_per_day: limits.material_per_day,
            monthly_cost_cap_usd: money(limits.monthly_cost_cap),
        },
        used_today: UsedToday {
            doubt: used(Feature::Doubt),
            quiz: used(Feature::Quiz),
            material: used(Feature::Material),
        },
        used_this_month: UsedThisMonth {
            requests: u64::try_from(requests).unwrap_or(0),
            tokens: u64::try_from(tokens).unwrap_or(0),
            cost_usd: money(cost),
        },
        resets_at: usage::next_daily_reset(now),
        cost_cap_resets_at: usage::next_monthly_reset(now),
    })
}

/// Dollars as an exact decimal string with at least two places ("1.00", "0.000125").
fn money(value: Decimal) -> String {
    let mut value = value.normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}

/// `from` or `to` of the admin report: a timestamp, or a date (`end_of_day` for `to`, whose
/// whole day is included).
/// No call is older than this; earlier bounds are refused rather than sent to the database.
fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn parse_bound(field: &str, text: &str, end_of_day: bool) -> AppResult<DateTime<Utc>> {
    let at = if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc)
    } else if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
    } else {
        return Err(AppError::invalid(
            field,
            "must be an RFC 3339 timestamp or a date YYYY-MM-DD",
        ));
    };
    if at < earliest() {
        return Err(AppError::invalid(field, "must not be before 1970-01-01"));
    }
    Ok(at)
}

/// Every call created in the query's period, grouped as it asks.
pub async fn report(state: &AppState, query: AdminUsageQuery) -> AppResult<AiUsageReport> {
    let now = state.clock.now();
    let to = match &query.to {
        Some(text) => parse_bound("to", text, true)?,
        None => now,
    };
    let from = match &query.from {
        Some(text) => parse_bound("from", text, false)?,
        None => (to - Duration::days(DEFAULT_REPORT_DAYS)).max(earliest()),
    };
    if from >= to {
        return Err(AppError::invalid("from", "must be before `to`"));
    }
    let group_by = query.group_by.unwrap_or_default();

    let db = state.db.read();
    let backend = db.get_database_backend();
    let key = match (group_by, backend) {
        (GroupBy::User, _) => "user_id",
        (GroupBy::Model, _) => "model_name",
        (GroupBy::Feature, _) => "feature_type",
        (GroupBy::Day, DatabaseBackend::Postgres) => {
            "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        }
        // Timestamps are stored in UTC as text beginning with the date.
        (GroupBy::Day, _) => "substr(created_at, 1, 10)",
    };
    let count = |status: &str| {
        format!("COALESCE(SUM(CASE WHEN request_status = '{status}' THEN 1 ELSE 0 END), 0)")
    };
    let sql = format!(
        "SELECT {key} AS k, COUNT(*) AS requests, {} AS success, {} AS error, {} AS rejected, \
         {} AS reserved, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, \
         COALESCE(SUM(completion_tokens), 0) AS completion_tokens, \
         COALESCE(SUM(total_tokens), 0) AS total_tokens, {} AS cost \
         FROM ai_usage_logs WHERE created_at >= {} AND created_at < {} \
         GROUP BY {key} ORDER BY {key}",
        count(STATUS_SUCCESS),
        count(STATUS_ERROR),
        count(STATUS_REJECTED),
        count(STATUS_RESERVED),
        cost_sum_sql(backend),
        placeholder(backend, 1),
        placeholder(backend, 2),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [from.into(), to.into()],
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let key = match group_by {
            GroupBy::User => row
                .try_get::<Option<Uuid>>("", "k")?
                .map_or_else(|| "none".to_string(), |id| id.to_string()),
            _ => row.try_get::<String>("", "k")?,
        };
        out.push(AiUsageRow {
            key,
            requests: row.try_get("", "requests")?,
            success: row.try_get("", "success")?,
            error: row.try_get("", "error")?,
            rejected: row.try_get("", "rejected")?,
            reserved: row.try_get("", "reserved")?,
            prompt_tokens: row.try_get("", "prompt_tokens")?,
            completion_tokens: row.try_get("", "completion_tokens")?,
            total_tokens: row.try_get("", "total_tokens")?,
            cost_usd: money(read_cost(backend, &row, "cost")?),
        });
    }
    Ok(AiUsageReport {
        from,
        to,
        group_by,
        rows: out,
    })
}

/// AI requests (completed or under way) and their exact cost, over every user, in
/// `[from, to)`: for the operator's statistics.
pub async fn requests_and_cost(
    conn: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, Decimal), sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let p = |n: usize| placeholder(backend, n);
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN request_status IN ('{STATUS_SUCCESS}', '{STATUS_RESERVED}') \
         THEN 1 ELSE 0 END), 0) AS requests, {} AS cost \
         FROM ai_usage_logs WHERE created_at >= {} AND created_at < {}",
        cost_sum_sql(backend),
        p(1),
        p(2)
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            vec![from.into(), to.into()],
        ))
        .await?
        .ok_or_else(|| sea_orm::DbErr::Custom("an aggregate returned no row".into()))?;
    Ok((
        row.try_get("", "requests")?,
        read_cost(backend, &row, "cost")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_keeps_every_digit_and_at_least_cents() {
        assert_eq!(money(Decimal::new(1, 0)), "1.00");
        assert_eq!(money(Decimal::new(125, 6)), "0.000125");
        assert_eq!(money(Decimal::new(2000, 2)), "20.00");
        assert_eq!(money(Decimal::ZERO), "0.00");
    }

    #[test]
    fn a_date_bound_is_a_utc_midnight_and_to_includes_its_day() {
        let from = parse_bound("from", "2026-03-01", false).unwrap();
        let to = parse_bound("to", "2026-03-01", true).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-02T00:00:00+00:00");
        assert!(parse_bound("from", "yesterday", false).is_err());
        assert!(parse_bound("from", "0001-01-01", false).is_err());
    }
}
