//! HTTP handlers of the tutor: doubt sessions and their messages. Both POSTs answer JSON, or
//! stream the reply as Server-Sent Events when the client sends `Accept: text/event-stream`.
//!
//! A stream is `delta` events (`{"text": …}`, the reply as it is written, already guarded),
//! then one `message` event whose data is the stored exchange (the JSON answer), or one `error`
//! event whose data is a problem document, after which nothing is stored. Errors found before
//! the reply starts (a bad body, someone else's thread, the allowance used up) are ordinary
//! problem responses in either mode.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::doubts::{self, Prepared};
use super::model::*;
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask_new, list_doubts))
        .routes(routes!(get_doubt, delete_doubt))
        .routes(routes!(ask_follow_up))
}

/// Whether the client asked for the reply as a stream.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// Answers a prepared question as JSON (201) or as an event stream.
async fn respond(state: AppState, prepared: Prepared, stream: bool) -> AppResult<Response> {
    if !stream {
        let exchange = doubts::answer(&state, prepared, |_| {}).await?;
        return Ok((StatusCode::CREATED, Json(exchange)).into_response());
    }
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    // The reply is generated in its own task: a client that goes away does not lose it (it is
    // stored and appears in the thread), and the allowance is settled either way.
    tokio::spawn(async move {
        let deltas = tx.clone();
        let result = doubts::answer(&state, prepared, move |text| {
            let event = Event::default()
                .event("delta")
                .json_data(DeltaEvent { text: text.into() });
            if let Ok(event) = event {
                let _ = deltas.send(event);
            }
        })
        .await;
        let last = match result {
            Ok(exchange) => Event::default().event("message").json_data(exchange),
            Err(err) => {
                if let crate::http::error::AppError::Internal(cause) = &err {
                    tracing::error!(error = ?cause, "tutor reply failed");
                }
                Event::default().event("error").json_data(err.to_problem())
            }
        };
        if let Ok(event) = last {
            let _ = tx.send(event);
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Ask the tutor: a new thread with its first question. The reply is grounded in the topic's
/// lessons (all lessons without a topic), cites the passages it uses, and never gives away
/// the answer of a quiz question you have not submitted. 2 XP per question, at most 10 a day.
#[utoipa::path(post, path = "/doubts", tag = "tutor", request_body = NewDoubtRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The question and the reply, stored; with `Accept: text/event-stream`, `delta` events then a final `message` event with this body (or an `error` event with a problem document)",
            content(
                (ExchangeResponse = "application/json"),
                (String = "text/event-stream"),
            )),
        (status = 422, description = "A blank or too long message, or an unknown topic", body = Problem),
        (status = 429, description = "Today's tutor allowance is used up (`quota-exceeded`; `Retry-After` says when it resets)", body = Problem),
        (status = 503, description = "The AI provider failed (`ai-unavailable`); nothing was stored or counted", body = Problem),
    ))]
async fn ask_new(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(req): AppJson<NewDoubtRequest>,
) -> AppResult<Response> {
    let prepared = doubts::prepare(&state, user.id, None, req.topic_id, &req.message).await?;
    respond(state, prepared, wants_stream(&headers)).await
}

/// A follow-up question in one of my threads; the earlier messages are sent along as context
/// (the newest first, within a token budget).
#[utoipa::path(post, path = "/doubts/{id}/messages", tag = "tutor", request_body = NewMessageRequest,
    params(("id" = Uuid, Path, description = "Doubt session id")), security(("bearer" = [])),
    responses(
        (status = 201, description = "The question and the reply, stored; streamed as for `POST /doubts`",
            content(
                (ExchangeResponse = "application/json"),
                (String = "text/event-stream"),
            )),
        (status = 422, description = "A blank or too long message", body = Problem),
        (status = 429, description = "Today's tutor allowance is used up (`quota-exceeded`)", body = Problem),
        (status = 503, description = "The AI provider failed (`ai-unavailable`)", body = Problem),
    ))]
async fn ask_follow_up(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<NewMessageRequest>,
) -> AppResult<Response> {
    let prepared = doubts::prepare(&state, user.id, Some(id), None, &req.message).await?;
    respond(state, prepared, wants_stream(&headers)).await
}

/// My threads, the newest first.
#[utoipa::path(get, path = "/doubts", tag = "tutor", params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<DoubtSessionView>)))]
async fn list_doubts(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<DoubtSessionView>>> {
    Ok(Json(doubts::list(&state, user.id, page).await?))
}

/// One of my threads with every message and each reply's citations.
#[utoipa::path(get, path = "/doubts/{id}", tag = "tutor",
    params(("id" = Uuid, Path, description = "Doubt session id")), security(("bearer" = [])),
    responses((status = 200, body = DoubtDetail)))]
async fn get_doubt(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<DoubtDetail>> {
    Ok(Json(doubts::detail(&state, user.id, id).await?))
}

/// Delete one of my threads and its messages.
#[utoipa::path(delete, path = "/doubts/{id}", tag = "tutor",
    params(("id" = Uuid, Path, description = "Doubt session id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
async fn delete_doubt(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    doubts::delete(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
