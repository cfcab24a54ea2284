//! HTTP handlers of the recommendations area.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{self, RecommendationList, RecommendationView};
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::AppPath;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(refresh))
        .routes(routes!(dismiss))
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

/// Dismiss a recommendation: it is not listed again, and none is made for the same lesson,
/// topic or quiz until it would have expired. Dismissing it twice is the same as once.
#[utoipa::path(post, path = "/me/recommendations/{id}/dismiss", tag = "recommendations",
    params(("id" = Uuid, Path, description = "Recommendation id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Dismissed"),
        (status = 400, description = "Not a recommendation id", body = Problem),
        (status = 401, body = Problem),
        (status = 404, description = "No such recommendation of mine", body = Problem),
    ))]
async fn dismiss(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::dismiss(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
