//! The signed-in user: the `CurrentUser` and `AdminUser` extractors and the access-token
//! check behind them (they read sessions, so they live with accounts, not in `http/`).

use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::entity::{auth_sessions, users};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;

/// The signed-in user, from a valid, unrevoked access token of an active account.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub session_id: Uuid,
    pub role: String,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == super::ROLE_ADMIN
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized("a bearer access token is required"))?;
        let user = authenticate(state, token).await?;
        remember(parts, &user);
        Ok(user)
    }
}

/// Set on a request that may write (any method but GET, HEAD and OPTIONS) before it is
/// handled; once the request is authenticated it holds the user's id, so that what is cached
/// of that user can be dropped after the request is answered.
#[derive(Debug, Clone)]
pub struct WritingUser(pub Arc<OnceLock<Uuid>>);

/// Keeps the authenticated `user` with the request, for the other extractors and for
/// [`WritingUser`].
pub fn remember(parts: &mut Parts, user: &CurrentUser) {
    if let Some(writer) = parts.extensions.get::<WritingUser>() {
        let _ = writer.0.set(user.id);
    }
    parts.extensions.insert(user.clone());
}

/// A signed-in admin; students get 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(AppError::Forbidden("this action needs the admin role"));
        }
        Ok(AdminUser(user))
    }
}

/// Checks an access token: signature, expiry, an unrevoked session, an active account.
/// Logout, password change/reset and deactivation revoke sessions, so tokens end at once.
pub async fn authenticate(state: &AppState, token: &str) -> AppResult<CurrentUser> {
    let now = state.clock.now();
    let claims = state.jwt.verify(token, now).ok_or(AppError::Unauthorized(
        "the access token is invalid or expired",
    ))?;
    if let Some(user) = state.sessions.get(claims.sid, now)
        && user.id == claims.sub
    {
        return Ok(user);
    }
    let generation = state.sessions.generation();
    let found = auth_sessions::Entity::find_by_id(claims.sid)
        .find_also_related(users::Entity)
        .one(state.db.read())
        .await?;
    match found {
        Some((session, Some(user)))
            if session.revoked_at.is_none() && session.user_id == claims.sub && user.is_active =>
        {
            let user = CurrentUser {
                id: user.id,
                session_id: session.id,
                role: user.role,
            };
            state.sessions.put(generation, user.clone(), now);
            Ok(user)
        }
        _ => Err(AppError::Unauthorized(
            "this session has ended; sign in again",
        )),
    }
}
