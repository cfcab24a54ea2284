//! HTTP handlers of the signed-in user's own view: extract, call one service function, answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::MeResponse;
use super::service;
use crate::accounts::CurrentUser;
use crate::accounts::model::UpdateProfileRequest;
use crate::http::error::AppResult;
use crate::http::extract::AppJson;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, delete_me))
        .routes(routes!(update_profile))
        .routes(routes!(export))
}

/// All your personal data as one JSON document (streamed): account, profile, sign-in
/// sessions, study, progress, XP, achievements, doubts and messages, quizzes and attempts,
/// materials (each with a `download_url` for its file), friends, recommendations, subscription,
/// payments and AI use — one array per table.
#[utoipa::path(get, path = "/me/export", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The export, `attachment`", content_type = "application/json", body = Object),
    ))]
async fn export(State(state): State<AppState>, user: CurrentUser) -> axum::response::Response {
    use axum::response::IntoResponse;
    let rx = super::export::start(
        state.db.read().clone(),
        user.id,
        state.clock.now(),
        crate::app::API_PREFIX,
    );
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"studium-export.json\"",
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// The signed-in user, profile, XP, level and current streak.
#[utoipa::path(get, path = "/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MeResponse)))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<MeResponse>> {
    Ok(Json(service::me(&state, &user).await?))
}

/// Delete the account and everything personal of it.
#[utoipa::path(delete, path = "/me", tag = "me", security(("bearer" = [])),
    responses((status = 204)))]
async fn delete_me(State(state): State<AppState>, user: CurrentUser) -> AppResult<StatusCode> {
    crate::accounts::service::delete_account(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Update the profile; fields left out stay as they are.
#[utoipa::path(patch, path = "/me/profile", tag = "me", request_body = UpdateProfileRequest, security(("bearer" = [])),
    responses((status = 200, body = MeResponse)))]
async fn update_profile(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<UpdateProfileRequest>,
) -> AppResult<Json<MeResponse>> {
    Ok(Json(service::update_profile(&state, &user, req).await?))
}
