//! HTTP handlers of the job queue's admin endpoints.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::admin;
use super::model::{JobQuery, JobView};
use crate::accounts::AdminUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppPath, AppQuery};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
}

/// List background jobs (admin), newest first, optionally by status and kind.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin", params(JobQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<JobView>)))]
async fn list_jobs(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<JobQuery>,
) -> AppResult<Json<Page<JobView>>> {
    Ok(Json(admin::list(&state, query).await?))
}

/// One background job (admin), with its attempts and last error.
#[utoipa::path(get, path = "/admin/jobs/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Job id")), security(("bearer" = [])),
    responses((status = 200, body = JobView)))]
async fn get_job(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<JobView>> {
    Ok(Json(admin::get(&state, id).await?))
}

/// Queue a dead job again with its attempts reset (admin).
#[utoipa::path(post, path = "/admin/jobs/{id}/retry", tag = "admin",
    params(("id" = Uuid, Path, description = "Job id")), security(("bearer" = [])),
    responses(
        (status = 200, body = JobView),
        (status = 409, description = "The job is not dead (`job-not-retryable`), or a live job with its unique key exists (`job-duplicate`)", body = Problem),
    ))]
async fn retry_job(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<JobView>> {
    Ok(Json(admin::retry(&state, id).await?))
}
