//! HTTP handlers of the study area: the study timer, sessions logged after the fact, the
//! streak and daily statistics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::{service, stats};
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_session))
        .routes(routes!(stop_session))
        .routes(routes!(log_session, list_sessions))
        .routes(routes!(my_streak))
        .routes(routes!(my_stats))
}

/// Start the study timer. The body is optional: a bare `POST` with no body starts a session
/// without a subject, topic or notes. One session runs at a time; a timer left running past
/// 4 hours is closed at 4 hours first.
#[utoipa::path(post, path = "/study-sessions/start", tag = "study", request_body = Option<StartSessionRequest>,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The running session", body = StudySessionView),
        (status = 400, description = "The body is not valid JSON", body = Problem),
        (status = 409, description = "A session is already running (`session-already-open`; its id is in the detail)", body = Problem),
        (status = 415, description = "A non-empty body that is not `application/json`", body = Problem),
        (status = 422, description = "Unknown subject or topic, or notes too long", body = Problem),
    ))]
async fn start_session(
    State(state): State<AppState>,
    user: CurrentUser,
    OptionalJson(req): OptionalJson<StartSessionRequest>,
) -> AppResult<(StatusCode, Json<StudySessionView>)> {
    let session = service::start(&state, &user, req.unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Stop the running session: the server sets `ended_at` (at most 4 hours after the start),
/// the duration, and awards XP (1 per full minute, at most 120).
#[utoipa::path(post, path = "/study-sessions/{id}/stop", tag = "study",
    params(("id" = Uuid, Path, description = "Study session id")), security(("bearer" = [])),
    responses(
        (status = 200, body = FinishedSessionResponse),
        (status = 409, description = "Already stopped (`session-already-stopped`)", body = Problem),
    ))]
async fn stop_session(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<FinishedSessionResponse>> {
    Ok(Json(service::stop(&state, &user, id).await?))
}

/// Log a finished session after the fact: not in the future, at most 4 hours, not overlapping
/// another of your sessions (a running one counts until now).
#[utoipa::path(post, path = "/study-sessions", tag = "study", request_body = LogSessionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = FinishedSessionResponse),
        (status = 409, description = "Overlaps another session (`session-overlap`)", body = Problem),
        (status = 422, description = "Ends before it starts, in the future, longer than 4 hours, or unknown subject/topic", body = Problem),
    ))]
async fn log_session(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<LogSessionRequest>,
) -> AppResult<(StatusCode, Json<FinishedSessionResponse>)> {
    let res = service::log(&state, &user, req).await?;
    Ok((StatusCode::CREATED, Json(res)))
}

/// Your study sessions, optionally those started in `[from, to)`.
#[utoipa::path(get, path = "/study-sessions", tag = "study", params(SessionListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<StudySessionView>)))]
async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<SessionListQuery>,
) -> AppResult<Json<Page<StudySessionView>>> {
    Ok(Json(service::list(&state, &user, query).await?))
}

/// Your study streak, counted in your profile's time zone.
#[utoipa::path(get, path = "/me/streak", tag = "study", security(("bearer" = [])),
    responses((status = 200, body = StreakView)))]
async fn my_streak(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<StreakView>> {
    Ok(Json(service::streak(&state, &user).await?))
}

/// Minutes studied and XP earned per local day for the last `days` days (today included).
#[utoipa::path(get, path = "/me/stats", tag = "study", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = StatsResponse),
        (status = 422, description = "`days` outside 1..=365", body = Problem),
    ))]
async fn my_stats(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<StatsQuery>,
) -> AppResult<Json<StatsResponse>> {
    Ok(Json(stats::stats(&state, &user, query).await?))
}
