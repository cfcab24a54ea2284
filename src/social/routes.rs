//! HTTP handlers of the social area: user search, friends and leaderboards.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::leaderboard::{self, LeaderboardView, Period, Scope};
use super::model::*;
use super::service::{self, SendOutcome};
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_users))
        .routes(routes!(send_request, list_requests))
        .routes(routes!(accept_request))
        .routes(routes!(delete_request))
        .routes(routes!(list_friends))
        .routes(routes!(unfriend))
        .routes(routes!(leaderboard))
}

/// `?scope=` of a leaderboard.
#[derive(Debug, serde::Deserialize, garde::Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `global` (default) or `friends` (my friends and me).
    #[garde(skip)]
    #[param(inline)]
    pub scope: Option<Scope>,
}

/// The weekly (since Monday 00:00 UTC) or monthly (since the 1st) leaderboard: the global top
/// 100 as last refreshed, or my friends and me computed now; `me` is my own line either way.
#[utoipa::path(get, path = "/leaderboards/{period}", tag = "social",
    params(("period" = Period, Path, description = "`weekly` or `monthly`"), LeaderboardQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LeaderboardView),
        (status = 400, description = "An unknown period", body = Problem),
        (status = 422, description = "An unknown scope", body = Problem),
    ))]
async fn leaderboard(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(period): AppPath<Period>,
    AppQuery(query): AppQuery<LeaderboardQuery>,
) -> AppResult<Json<LeaderboardView>> {
    Ok(Json(
        leaderboard::leaderboard(&state, &user, period, query.scope.unwrap_or_default()).await?,
    ))
}

/// Find other users by the start of their name or their exact email: only ids and names.
/// Rate-limited per user.
#[utoipa::path(get, path = "/users/search", tag = "social", params(UserSearchQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Page<PublicUser>),
        (status = 422, description = "A query shorter than 2 characters or a bad limit", body = Problem),
        (status = 429, description = "Too many searches", body = Problem),
    ))]
async fn search_users(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<UserSearchQuery>,
) -> AppResult<Json<Page<PublicUser>>> {
    Ok(Json(service::search_users(&state, &user, query).await?))
}

/// Ask a user (by id or exact email) to be friends. If they already asked me, this accepts
/// their request (200) instead of creating a second one (201). Rate-limited per user.
#[utoipa::path(post, path = "/friends/requests", tag = "social", request_body = FriendRequestBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Request sent", body = FriendRequestView),
        (status = 200, description = "Their request to me was accepted", body = FriendRequestView),
        (status = 404, description = "No such active user", body = Problem),
        (status = 409, description = "Already friends, or already asked", body = Problem),
        (status = 422, description = "Neither or both of addressee_id and email, or myself", body = Problem),
    ))]
async fn send_request(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<FriendRequestBody>,
) -> AppResult<(StatusCode, Json<FriendRequestView>)> {
    Ok(match service::send_request(&state, &user, body).await? {
        SendOutcome::Created(v) => (StatusCode::CREATED, Json(v)),
        SendOutcome::Accepted(v) => (StatusCode::OK, Json(v)),
    })
}

/// My pending friend requests: `incoming` (default) or `outgoing`, oldest first.
#[utoipa::path(get, path = "/friends/requests", tag = "social", params(FriendRequestListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Page<FriendRequestView>),
        (status = 422, description = "Bad direction, limit or cursor", body = Problem),
    ))]
async fn list_requests(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<FriendRequestListQuery>,
) -> AppResult<Json<Page<FriendRequestView>>> {
    Ok(Json(service::list_requests(&state, &user, query).await?))
}

/// Accept a friend request sent to me (only its addressee may).
#[utoipa::path(post, path = "/friends/requests/{id}/accept", tag = "social",
    params(("id" = Uuid, Path, description = "Friend request id")), security(("bearer" = [])),
    responses(
        (status = 200, body = FriendRequestView),
        (status = 403, description = "I sent this request; only its addressee accepts", body = Problem),
    ))]
async fn accept_request(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<FriendRequestView>> {
    Ok(Json(service::accept_request(&state, &user, id).await?))
}

/// Decline a request sent to me, or cancel one I sent.
#[utoipa::path(delete, path = "/friends/requests/{id}", tag = "social",
    params(("id" = Uuid, Path, description = "Friend request id")), security(("bearer" = [])),
    responses((status = 204)))]
async fn delete_request(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::delete_request(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My friends with their XP, level and current streak.
#[utoipa::path(get, path = "/friends", tag = "social", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<FriendView>)))]
async fn list_friends(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<FriendView>>> {
    Ok(Json(service::list_friends(&state, &user, page).await?))
}

/// End a friendship (either friend may).
#[utoipa::path(delete, path = "/friends/{user_id}", tag = "social",
    params(("user_id" = Uuid, Path, description = "The friend's user id")), security(("bearer" = [])),
    responses((status = 204)))]
async fn unfriend(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(user_id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::unfriend(&state, &user, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
