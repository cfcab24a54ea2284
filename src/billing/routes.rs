//! HTTP handlers of plans and payments (SPEC §4 billing, me and admin rows).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::{service, webhook};
use crate::accounts::{AdminUser, CurrentUser};
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(my_subscription))
        .routes(routes!(my_payments))
        .routes(routes!(checkout))
        .routes(routes!(receive_webhook))
        .routes(routes!(grant_plan))
}

/// The plans, their monthly prices and their allowances.
#[utoipa::path(get, path = "/billing/plans", tag = "billing",
    responses((status = 200, body = PlansResponse)))]
async fn list_plans(State(state): State<AppState>) -> Json<PlansResponse> {
    Json(service::plans(&state.config))
}

/// Your plan now and the subscription behind it. A plan change applies to your next request.
#[utoipa::path(get, path = "/me/subscription", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MySubscription)))]
async fn my_subscription(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<MySubscription>> {
    Ok(Json(
        service::my_subscription(state.db.read(), user.id, state.clock.now()).await?,
    ))
}

/// Your payments, newest first.
#[utoipa::path(get, path = "/me/payments", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = PaymentsResponse)))]
async fn my_payments(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<PaymentsResponse>> {
    Ok(Json(service::my_payments(state.db.read(), user.id).await?))
}

/// Starts a hosted checkout of the pro plan at the payment provider; send the student to
/// `url`. The plan starts when the provider confirms payment (by webhook).
#[utoipa::path(post, path = "/billing/checkout", tag = "billing", request_body = CheckoutRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CheckoutSession),
        (status = 409, description = "Already on the pro plan (`already-subscribed`)", body = Problem),
        (status = 422, description = "A plan other than `pro`", body = Problem),
        (status = 503, description = "No payment provider is set up, or it did not answer (`billing-unavailable`)", body = Problem),
    ))]
async fn checkout(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<CheckoutRequest>,
) -> AppResult<(StatusCode, Json<CheckoutSession>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::checkout(&state, &user, req).await?),
    ))
}

/// The payment provider's events, signed with the webhook secret (`Stripe-Signature`:
/// HMAC-SHA256 over `timestamp.payload`, 300 s tolerance). Each event id counts once; an
/// unknown event type is acknowledged and ignored.
#[utoipa::path(post, path = "/billing/webhook", tag = "billing", request_body = WebhookEvent,
    params(("Stripe-Signature" = Option<String>, Header, description = "`t=<unix seconds>,v1=<hex signature>[,v1=…]`")),
    responses(
        (status = 200, body = WebhookAck),
        (status = 400, description = "Missing, wrong or stale signature (`invalid-signature`), or not an event", body = Problem),
        (status = 503, description = "No webhook secret is set up (`billing-unavailable`)", body = Problem),
    ))]
async fn receive_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<WebhookAck>> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    Ok(Json(webhook::handle(&state, signature, &body).await?))
}

/// Grants a user a plan by hand (admin): `pro` until `current_period_end` (or open-ended), or
/// `free`. Effective on the user's next request; logged.
#[utoipa::path(put, path = "/admin/users/{id}/subscription", tag = "admin",
    request_body = GrantPlanRequest,
    params(("id" = Uuid, Path, description = "User id")), security(("bearer" = [])),
    responses(
        (status = 200, body = MySubscription),
        (status = 422, description = "Unknown plan, or an end not in the future", body = Problem),
    ))]
async fn grant_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<GrantPlanRequest>,
) -> AppResult<Json<MySubscription>> {
    Ok(Json(service::grant_plan(&state, &admin, id, req).await?))
}
