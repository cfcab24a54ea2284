//! The operator's statistics, each figure one aggregate query.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::model::*;
use crate::ai::usage::{month_start, next_monthly_reset};
use crate::ai::usage_report::requests_and_cost;
use crate::entity::{auth_sessions, jobs, lesson_progress, materials, study_sessions, users};
use crate::http::error::AppResult;
use crate::jobs::{STATUS_DEAD, STATUS_QUEUED, STATUS_RUNNING};
use crate::state::AppState;

const WEEK_DAYS: i64 = 7;

fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&now.date_naive().and_time(chrono::NaiveTime::MIN))
}

async fn active_users(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let n: Option<i64> = auth_sessions::Entity::find()
        .select_only()
        .expr(Expr::cust("CAST(COUNT(DISTINCT user_id) AS BIGINT)"))
        .filter(auth_sessions::Column::LastUsedAt.gte(since))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
}

async fn study_minutes(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<i64, sea_orm::DbErr> {
    let secs: Option<i64> = study_sessions::Entity::find()
        .select_only()
        .expr(Expr::cust(
            "CAST(COALESCE(SUM(duration_seconds), 0) AS BIGINT)",
        ))
        .filter(study_sessions::Column::StartedAt.gte(since))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(secs.unwrap_or(0) / 60)
}

async fn lessons_completed(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    lesson_progress::Entity::find()
        .filter(lesson_progress::Column::Completed.eq(true))
        .filter(lesson_progress::Column::CompletedAt.gte(since))
        .count(conn)
        .await
}

/// SPEC §4 admin: `GET /admin/stats`.
pub async fn stats(state: &AppState) -> AppResult<AdminStats> {
    let db = state.db.read();
    let now = state.clock.now();
    let today = day_start(now);
    let week = now - Duration::days(WEEK_DAYS);
    let tomorrow = today + Duration::days(1);

    let total = users::Entity::find().count(db).await?;
    let new_this_week = users::Entity::find()
        .filter(users::Column::CreatedAt.gte(week))
        .count(db)
        .await?;
    let (requests_today, cost_today) = requests_and_cost(db, today, tomorrow).await?;
    let (requests_month, cost_month) =
        requests_and_cost(db, month_start(now), next_monthly_reset(now)).await?;
    let bytes: Option<i64> = materials::Entity::find()
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(file_size), 0) AS BIGINT)"))
        .into_tuple()
        .one(db)
        .await?;

    Ok(AdminStats {
        generated_at: now,
        users: UserStats {
            total,
            new_this_week,
            active_today: active_users(db, today).await?,
            active_this_week: active_users(db, week).await?,
        },
        study: StudyStats {
            minutes_today: study_minutes(db, today).await?,
            minutes_this_week: study_minutes(db, week).await?,
            lessons_completed_today: lessons_completed(db, today).await?,
            lessons_completed_this_week: lessons_completed(db, week).await?,
        },
        ai: AiStats {
            requests_today,
            cost_today_usd: cost_today.normalize().to_string(),
            requests_this_month: requests_month,
            cost_this_month_usd: cost_month.normalize().to_string(),
        },
        materials: MaterialStats {
            count: materials::Entity::find().count(db).await?,
            bytes_stored: bytes.unwrap_or(0),
        },
        jobs: JobStats {
            waiting: jobs::Entity::find()
                .filter(jobs::Column::Status.is_in([STATUS_QUEUED, STATUS_RUNNING]))
                .count(db)
                .await?,
            failed: jobs::Entity::find()
                .filter(jobs::Column::Status.eq(STATUS_DEAD))
                .count(db)
                .await?,
        },
    })
}
