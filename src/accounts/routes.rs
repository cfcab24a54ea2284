//! HTTP handlers of the accounts area: extract, call one service function, answer.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::service::{self, ClientInfo};
use super::{AdminUser, CurrentUser};
use crate::http::Page;
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, ClientIp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(google))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        .routes(routes!(change_password))
        .routes(routes!(admin_list_users))
        .routes(routes!(admin_update_user))
}

/// Where the request came from (its address and `User-Agent`), for the rate limits and the
/// session list.
impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok(ClientInfo { ip, user_agent })
    }
}

/// Create an account with email and password.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthResponse),
        (status = 409, description = "Email already registered", body = Problem),
        (status = 422, description = "Invalid fields or a common password", body = Problem),
    ))]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<RegisterRequest>,
) -> AppResult<(StatusCode, Json<AuthResponse>)> {
    let res = service::register(&state, req, &client).await?;
    Ok((StatusCode::CREATED, Json(res)))
}

/// Sign in with email and password. Unknown email and wrong password answer alike.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Invalid email or password", body = Problem),
        (status = 403, description = "Account deactivated", body = Problem),
    ))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<LoginRequest>,
) -> AppResult<Json<AuthResponse>> {
    Ok(Json(service::login(&state, req, &client).await?))
}

/// Sign in with a Google ID token whose email Google has verified. Links to an account with
/// the same verified email; an account with the same unverified email is taken over (its
/// password, sessions and pending email links end).
#[utoipa::path(post, path = "/auth/google", tag = "auth", request_body = GoogleSignInRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Token not valid, or its email not verified by Google", body = Problem),
        (status = 404, description = "Google sign-in is not configured on this server (`not-available`)", body = Problem),
        (status = 409, description = "A concurrent sign-in changed the account first; try again", body = Problem),
        (status = 503, description = "Google's keys could not be fetched", body = Problem),
    ))]
async fn google(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<GoogleSignInRequest>,
) -> AppResult<Json<AuthResponse>> {
    Ok(Json(service::google_sign_in(&state, req, &client).await?))
}

/// Exchange a refresh token for a new pair; each refresh token works once.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Invalid, expired or reused token (reuse ends the session)", body = Problem),
        (status = 409, description = "Used a moment ago by a parallel request (`refresh-token-rotated`); the session goes on", body = Problem),
    ))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<RefreshRequest>,
) -> AppResult<Json<AuthResponse>> {
    Ok(Json(service::refresh(&state, req, &client).await?))
}

/// End this session: its refresh and access tokens stop working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204)))]
async fn logout(State(state): State<AppState>, user: CurrentUser) -> AppResult<StatusCode> {
    service::logout(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm the email address with the token from the verification email.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 204), (status = 422, description = "Invalid, used or expired token", body = Problem),
        (status = 429, description = "Too many attempts from this address", body = Problem)))]
async fn verify_email(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<TokenRequest>,
) -> AppResult<StatusCode> {
    service::verify_email(&state, req, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the verification email again.
#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, body = AcceptedResponse),
        (status = 409, description = "Already verified", body = Problem),
    ))]
async fn resend_verification(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
) -> AppResult<(StatusCode, Json<AcceptedResponse>)> {
    service::resend_verification(&state, &user, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedResponse {
            message: "a new verification email is on its way",
        }),
    ))
}

/// Ask for a password-reset email. Answers 202 whether or not the address is registered.
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, body = AcceptedResponse)))]
async fn request_password_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<PasswordResetRequest>,
) -> AppResult<(StatusCode, Json<AcceptedResponse>)> {
    service::request_password_reset(&state, req, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedResponse {
            message: "if an account exists for this address, a reset email is on its way",
        }),
    ))
}

/// Set a new password with the token from the reset email; ends every session.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204),
        (status = 429, description = "Too many attempts from this address", body = Problem),
    ))]
async fn confirm_password_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<PasswordResetConfirm>,
) -> AppResult<StatusCode> {
    service::confirm_password_reset(&state, req, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; ends every session, this one included.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChangeRequest, security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 429, description = "Too many attempts for this account", body = Problem),
    ))]
async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<PasswordChangeRequest>,
) -> AppResult<StatusCode> {
    service::change_password(&state, &user, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List users (admin), optionally filtered by part of an email or name.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(AdminUserQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<AdminUserView>)))]
async fn admin_list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AdminUserQuery>,
) -> AppResult<Json<Page<AdminUserView>>> {
    Ok(Json(service::admin_list_users(&state, query).await?))
}

/// Change a user's role or deactivate them (admin). Deactivation ends their sessions at once.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", request_body = AdminUpdateUserRequest,
    params(("id" = Uuid, Path, description = "User id")), security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "Admins cannot deactivate or demote themselves (`cannot-demote-self`)", body = Problem),
    ))]
async fn admin_update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<AdminUpdateUserRequest>,
) -> AppResult<Json<UserView>> {
    Ok(Json(
        service::admin_update_user(&state, &admin, id, req).await?,
    ))
}
