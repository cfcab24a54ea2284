//! HTTP handlers of the gamification area.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::service;
use crate::accounts::{AdminUser, CurrentUser};
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_xp))
        .routes(routes!(list_achievements))
        .routes(routes!(create_achievement))
        .routes(routes!(update_achievement, delete_achievement))
}

/// My total XP, level, the XP to the next level, and my latest awards.
#[utoipa::path(get, path = "/me/xp", tag = "gamification", security(("bearer" = [])),
    responses((status = 200, body = XpSummary)))]
async fn my_xp(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<XpSummary>> {
    Ok(Json(service::my_xp(&state, &user).await?))
}

/// Every achievement, with when I unlocked it (null while locked) and my progress towards it.
#[utoipa::path(get, path = "/achievements", tag = "gamification", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<AchievementView>)))]
async fn list_achievements(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<AchievementView>>> {
    Ok(Json(service::list_achievements(&state, &user, page).await?))
}

/// Define an achievement (admin). Users who already qualify unlock it at their next event.
#[utoipa::path(post, path = "/admin/achievements", tag = "admin", request_body = CreateAchievementRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = AchievementDefinition),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid fields or an unknown criteria type", body = Problem),
    ))]
async fn create_achievement(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppJson(req): AppJson<CreateAchievementRequest>,
) -> AppResult<(StatusCode, Json<AchievementDefinition>)> {
    let created = service::create_achievement(&state, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change an achievement (admin); fields left out stay as they are.
#[utoipa::path(patch, path = "/admin/achievements/{id}", tag = "admin", request_body = UpdateAchievementRequest,
    params(("id" = Uuid, Path, description = "Achievement id")), security(("bearer" = [])),
    responses(
        (status = 200, body = AchievementDefinition),
        (status = 409, description = "The name is taken", body = Problem),
    ))]
async fn update_achievement(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateAchievementRequest>,
) -> AppResult<Json<AchievementDefinition>> {
    Ok(Json(service::update_achievement(&state, id, req).await?))
}

/// Delete an achievement and its unlocks (admin); XP already awarded for it stays.
#[utoipa::path(delete, path = "/admin/achievements/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Achievement id")), security(("bearer" = [])),
    responses((status = 204)))]
async fn delete_achievement(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::delete_achievement(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
