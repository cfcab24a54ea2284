//! Friends and leaderboards: my friends with their progress, friend requests both ways with
//! their buttons, a user search with "Add friend", and the weekly and monthly leaderboards,
//! global or among friends. Everything goes through the social service the JSON routes use.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Layout, WebForm, message, render, render_status};
use super::session::{Csrf, WebUser, redirect};
use crate::accounts::CurrentUser;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{AppPath, PageParams};
use crate::social::leaderboard::{self, LeaderboardEntry, LeaderboardView, Period, Scope};
use crate::social::model::{
    Direction, FriendRequestBody, FriendRequestListQuery, FriendRequestView, FriendView,
    UserSearchQuery,
};
use crate::social::service;
use crate::state::AppState;

/// Friends, requests and search results a page shows.
const LIST_LIMIT: u64 = 100;
const SEARCH_LIMIT: u64 = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/friends", get(friends_page))
        .route("/friends/requests", post(send_request))
        .route("/friends/requests/{id}/accept", post(accept_request))
        .route("/friends/requests/{id}/{action}", post(drop_request))
        .route("/friends/{user_id}/unfriend", post(unfriend))
        .route("/leaderboards", get(leaderboard_page))
}

/// A user found by the search, with where they stand with me.
pub struct Found {
    pub id: Uuid,
    pub full_name: String,
    /// `friend`, `asked` (I asked them), `asks` (they asked me) or `none`.
    pub relation: &'static str,
}

#[derive(Template)]
#[template(path = "social/friends.html")]
struct FriendsPage {
    layout: Layout,
    friends: Vec<FriendView>,
    incoming: Vec<FriendRequestView>,
    outgoing: Vec<FriendRequestView>,
    q: String,
    results: Option<Vec<Found>>,
    search_error: Option<String>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct FriendsQuery {
    q: Option<String>,
    done: Option<String>,
}

/// The sentence shown after an action, by the code the redirect carries.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "sent" => "Friend request sent.",
        "accepted" => "You are now friends.",
        "declined" => "Request declined.",
        "cancelled" => "Request cancelled.",
        "unfriended" => "Removed from your friends.",
        _ => return None,
    })
}

fn all() -> PageParams {
    PageParams {
        limit: Some(LIST_LIMIT),
        cursor: None,
    }
}

async fn requests(
    state: &AppState,
    user: &CurrentUser,
    direction: Direction,
) -> AppResult<Vec<FriendRequestView>> {
    Ok(service::list_requests(
        state,
        user,
        FriendRequestListQuery {
            direction: Some(direction),
            limit: Some(LIST_LIMIT),
            cursor: None,
        },
    )
    .await?
    .items)
}

/// The friends page with its lists, the search's results for `q` when given, and a notice or
/// an error; answered with the status of the error.
async fn friends_view(
    state: &AppState,
    user: &CurrentUser,
    csrf: Csrf,
    q: Option<String>,
    notice: Option<&'static str>,
    error: Option<AppError>,
) -> AppResult<Response> {
    let layout = Layout::signed_in(state, user, csrf, "Friends", "friends").await?;
    let friends = service::list_friends(state, user, all()).await?.items;
    let incoming = requests(state, user, Direction::Incoming).await?;
    let outgoing = requests(state, user, Direction::Outgoing).await?;
    let mut status = error.as_ref().map_or(StatusCode::OK, AppError::status);
    let q = q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
    let (results, search_error) = match &q {
        None => (None, None),
        Some(text) => {
            let query = UserSearchQuery {
                q: text.clone(),
                limit: Some(SEARCH_LIMIT),
            };
            let found = match super::page::valid(query) {
                Ok(query) => service::search_users(state, user, query).await,
                Err(err) => Err(err),
            };
            match found {
                Ok(page) => {
                    let relation = |id: Uuid| {
                        if friends.iter().any(|f| f.user_id == id) {
                            "friend"
                        } else if outgoing.iter().any(|r| r.other_user.id == id) {
                            "asked"
                        } else if incoming.iter().any(|r| r.other_user.id == id) {
                            "asks"
                        } else {
                            "none"
                        }
                    };
                    let found = page
                        .items
                        .into_iter()
                        .map(|u| Found {
                            relation: relation(u.id),
                            id: u.id,
                            full_name: u.full_name,
                        })
                        .collect();
                    (Some(found), None)
                }
                Err(err) => {
                    status = err.status();
                    let text = match &err {
                        AppError::Validation(_) => {
                            "Type at least 2 characters of a name, or a whole email address."
                                .to_string()
                        }
                        AppError::RateLimited { retry_after_secs } => format!(
                            "You have searched a lot just now. Try again in {retry_after_secs} seconds."
                        ),
                        other => message(other),
                    };
                    (None, Some(text))
                }
            }
        }
    };
    Ok(render_status(
        status,
        &FriendsPage {
            layout,
            friends,
            incoming,
            outgoing,
            q: q.unwrap_or_default(),
            results,
            search_error,
            notice,
            error: error.as_ref().map(readable),
        },
    ))
}

/// A refused action in a sentence for the page.
fn readable(err: &AppError) -> String {
    match err {
        AppError::RateLimited { retry_after_secs } => format!(
            "You have sent many requests just now. Try again in {retry_after_secs} seconds."
        ),
        other => {
            let text = message(other);
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

async fn friends_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Query(query): Query<FriendsQuery>,
) -> AppResult<Response> {
    friends_view(
        &state,
        &user,
        csrf,
        query.q,
        notice(query.done.as_deref()),
        None,
    )
    .await
}

/// After an action: back to the friends page with its notice, or the page with the error.
async fn after(
    state: &AppState,
    user: &CurrentUser,
    csrf: Csrf,
    headers: &HeaderMap,
    result: AppResult<&'static str>,
) -> AppResult<Response> {
    match result {
        Ok(done) => Ok(redirect(headers, &format!("/friends?done={done}"))),
        Err(err) if err.status().is_server_error() => Err(err),
        Err(err) => friends_view(state, user, csrf, None, None, Some(err)).await,
    }
}

#[derive(Debug, Deserialize)]
struct SendForm {
    addressee_id: Uuid,
}

async fn send_request(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    WebForm(form): WebForm<SendForm>,
) -> AppResult<Response> {
    let body = FriendRequestBody {
        addressee_id: Some(form.addressee_id),
        email: None,
    };
    let result = service::send_request(&state, &user, body)
        .await
        .map(|outcome| match outcome {
            service::SendOutcome::Created(_) => "sent",
            service::SendOutcome::Accepted(_) => "accepted",
        });
    after(&state, &user, csrf, &headers, result).await
}

async fn accept_request(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let result = service::accept_request(&state, &user, id)
        .await
        .map(|_| "accepted");
    after(&state, &user, csrf, &headers, result).await
}

/// Dropping a request: `decline` (the addressee) or `cancel` (the requester). The service tells
/// the two apart; the word picks the notice, and any other word is an unknown page.
async fn drop_request(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    AppPath((id, action)): AppPath<(Uuid, String)>,
) -> AppResult<Response> {
    let done = match action.as_str() {
        "decline" => "declined",
        "cancel" => "cancelled",
        _ => return Err(AppError::RouteNotFound),
    };
    let result = service::delete_request(&state, &user, id)
        .await
        .map(|_| done);
    after(&state, &user, csrf, &headers, result).await
}

async fn unfriend(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    AppPath(other): AppPath<Uuid>,
) -> AppResult<Response> {
    let result = service::unfriend(&state, &user, other)
        .await
        .map(|_| "unfriended");
    after(&state, &user, csrf, &headers, result).await
}

#[derive(Debug, Default, Deserialize)]
struct LeaderboardQuery {
    period: Option<Period>,
    scope: Option<Scope>,
}

#[derive(Template)]
#[template(path = "social/leaderboards.html")]
struct LeaderboardPage {
    layout: Layout,
    period: &'static str,
    scope: &'static str,
    board: LeaderboardView,
    /// Whether my own line is among the entries (else it is shown below them).
    me_listed: bool,
}

impl LeaderboardPage {
    fn is_me(&self, entry: &LeaderboardEntry) -> bool {
        entry.user_id == self.board.me.user_id
    }
}

fn scope_str(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "global",
        Scope::Friends => "friends",
    }
}

async fn leaderboard_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Query(query): Query<LeaderboardQuery>,
) -> AppResult<Response> {
    let period = query.period.unwrap_or(Period::Weekly);
    let scope = query.scope.unwrap_or_default();
    let layout = Layout::signed_in(&state, &user, csrf, "Leaderboards", "leaderboards").await?;
    let board = leaderboard::leaderboard(&state, &user, period, scope).await?;
    let me_listed = board.entries.iter().any(|e| e.user_id == board.me.user_id);
    Ok(render(&LeaderboardPage {
        layout,
        period: period.as_str(),
        scope: scope_str(scope),
        board,
        me_listed,
    }))
}
