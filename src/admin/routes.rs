//! HTTP handler of the operator's statistics.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::*;
use super::service;
use crate::accounts::AdminUser;
use crate::http::error::AppResult;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_stats))
}

/// Users, activity, study, AI use and cost, materials stored and the job queue (admin).
#[utoipa::path(get, path = "/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminStats)))]
async fn admin_stats(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> AppResult<Json<AdminStats>> {
    Ok(Json(service::stats(&state).await?))
}
