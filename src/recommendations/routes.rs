//! HTTP handlers of the recommendations area.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, RecommendationList, RecommendationView};
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(refresh))
}

/// What to do next, highest priority first, each with the reason and a link to its target.
#[utoipa::path(get, path = "/me/recommendations", tag = "recommendations", security(("bearer" = [])),
    responses((status = 200, body = Page<RecommendationView>), (status = 401, body = Problem)))]
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<RecommendationList>> {
    Ok(Json(service::list(&state, &user).await?))
}

/// Regenerate my recommendations now.
#[utoipa::path(post, path = "/me/recommendations/refresh", tag = "recommendations", security(("bearer" = [])),
    responses((status = 200, body = Page<RecommendationView>), (status = 401, body = Problem)))]
async fn refresh(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<RecommendationList>> {
    Ok(Json(service::refresh(&state, &user).await?))
}
