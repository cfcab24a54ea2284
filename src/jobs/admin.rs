//! The admin's view of the queue: list, inspect, retry.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::model::{JobQuery, JobView};
use super::{STATUS_DEAD, STATUS_QUEUED};
use crate::db::violated_unique_constraint;
use crate::entity::jobs;
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{DEFAULT_PAGE_SIZE, PageParams, encode_cursor, next_page};
use crate::state::AppState;

/// Jobs newest first (UUID v7 ids are time-ordered), filtered by status and kind.
pub async fn list(state: &AppState, query: JobQuery) -> AppResult<Page<JobView>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let page = PageParams {
        limit: Some(limit),
        cursor: query.cursor,
    };
    let mut select = jobs::Entity::find().order_by_desc(jobs::Column::Id);
    if let Some(before) = page.after_id()? {
        select = select.filter(jobs::Column::Id.lt(before));
    }
    if let Some(status) = query.status {
        select = select.filter(jobs::Column::Status.eq(status));
    }
    if let Some(kind) = query.kind {
        select = select.filter(jobs::Column::Kind.eq(kind));
    }
    let mut rows = select.limit(limit + 1).all(state.db.read()).await?;
    let next_cursor = next_page(&mut rows, limit, |j| encode_cursor(j.id));
    Ok(Page {
        items: rows.into_iter().map(JobView::from).collect(),
        next_cursor,
    })
}

pub async fn get(state: &AppState, id: Uuid) -> AppResult<JobView> {
    jobs::Entity::find_by_id(id)
        .one(state.db.read())
        .await?
        .map(JobView::from)
        .ok_or(AppError::NotFound("job"))
}

/// Queues a dead job again with its attempts reset (its `last_error` is kept until the next
/// attempt). Only a dead job can be retried: a queued or running one is already on its way,
/// a done one is done (409 `job-not-retryable`). If another live job holds the same unique
/// key, that one does the work (409 `job-duplicate`).
pub async fn retry(state: &AppState, id: Uuid) -> AppResult<JobView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let job = jobs::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    if job.status != STATUS_DEAD {
        return Err(AppError::conflict(
            "job-not-retryable",
            format!("only a dead job can be retried; this one is {}", job.status),
        ));
    }
    let updated = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(STATUS_QUEUED))
        .col_expr(jobs::Column::Attempts, Expr::value(0))
        .col_expr(jobs::Column::RunAt, Expr::value(now))
        .col_expr(
            jobs::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Id.eq(id))
        .filter(jobs::Column::Status.eq(STATUS_DEAD))
        .exec(&txn)
        .await;
    match updated {
        Ok(_) => {}
        Err(e) if violated_unique_constraint(&e) == Some("jobs_unique_key_live_key") => {
            return Err(AppError::conflict(
                "job-duplicate",
                "a queued or running job with the same unique key already does this work",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let job = jobs::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    txn.commit().await?;
    Ok(job.into())
}
