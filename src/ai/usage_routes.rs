//! HTTP handlers of AI usage: your own allowances and use, and the admin's report of every
//! call (SPEC §4 "usage").

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::usage_model::*;
use super::usage_report;
use crate::accounts::{AdminUser, CurrentUser};
use crate::http::error::{AppResult, Problem};
use crate::http::extract::AppQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_ai_usage))
        .routes(routes!(admin_ai_usage))
}

/// Your plan, its AI allowances, and what you have used today (UTC) and this month. An AI
/// request over an allowance answers 429 `quota-exceeded` with `Retry-After`.
#[utoipa::path(get, path = "/me/ai-usage", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MyAiUsage)))]
async fn my_ai_usage(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<MyAiUsage>> {
    Ok(Json(usage_report::my_usage(&state, &user).await?))
}

/// Every AI call of a period (default: the last 30 days), grouped by user, model, feature or
/// UTC day, with requests per outcome, tokens and exact cost (admin).
#[utoipa::path(get, path = "/admin/ai-usage", tag = "admin", params(AdminUsageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AiUsageReport),
        (status = 422, description = "Unknown `group_by`, a bound that is neither a timestamp nor a date, or `from` not before `to`", body = Problem),
    ))]
async fn admin_ai_usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AdminUsageQuery>,
) -> AppResult<Json<AiUsageReport>> {
    Ok(Json(usage_report::report(&state, query).await?))
}
