//! Password sign-in and sessions (SPEC §3 Accounts): registration, login, refresh-token
//! rotation with reuse detection, logout, revoking sessions, and changing the password.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::CurrentUser;
use super::email_links::{create_email_token, queue_verification_email};
use super::model::*;
use super::profile::{create_profile, find_user, personal_words};
use super::service::{
    ClientInfo, PROVIDER_EMAIL, PURPOSE_VERIFY, REFRESH_RACE_GRACE_SECS, limit_ip,
    limit_ip_and_account, normalize_email,
};
use super::{ROLE_STUDENT, password, session_cache, tokens};
use crate::db::violated_unique_constraint;
use crate::entity::{auth_sessions, refresh_tokens, users};
use crate::http::error::{AppError, AppResult};
use crate::ratelimit;
use crate::state::AppState;

pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    client: &ClientInfo,
) -> AppResult<AuthResponse> {
    let cfg = &state.config;
    let now = state.clock.now();
    limit_ip(state, "register", client, cfg.rate_limit_register_per_ip).await?;
    let email = normalize_email(&req.email);
    ratelimit::check(
        state,
        &format!("register:account:{}", tokens::hash_token(&email)),
        cfg.rate_limit_register_per_account,
    )
    .await?;
    let full_name = req.full_name.trim().to_string();
    password::check_strength("password", &req.password, &[&email, &full_name])?;
    let hash = password::hash(req.password).await?;

    let txn = state.db.begin_write().await?;
    let user_id = Uuid::now_v7();
    let inserted = users::ActiveModel {
        id: Set(user_id),
        email: Set(email.clone()),
        password_hash: Set(Some(hash)),
        auth_provider: Set(PROVIDER_EMAIL.into()),
        role: Set(ROLE_STUDENT.into()),
        is_active: Set(true),
        is_verified: Set(false),
        google_id: Set(None),
        last_login_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let user = match inserted {
        Ok(user) => user,
        Err(e) if violated_unique_constraint(&e) == Some("users_email_key") => {
            return Err(AppError::conflict(
                "email-taken",
                "an account with this email already exists; sign in or reset the password",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    create_profile(&txn, user_id, &full_name, now).await?;
    let verify_token = create_email_token(state, &txn, user_id, PURPOSE_VERIFY, now).await?;
    queue_verification_email(state, &txn, &email, &verify_token, now).await?;
    let response = start_session(state, &txn, user, client, now).await?;
    txn.commit().await?;
    Ok(response)
}

/// A hash to verify against when the account does not exist, so that an unknown email
/// costs the same time as a wrong password.
pub(super) async fn dummy_hash() -> AppResult<&'static str> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    Ok(DUMMY
        .get_or_try_init(|| password::hash(tokens::random_token()))
        .await?
        .as_str())
}

pub async fn login(
    state: &AppState,
    req: LoginRequest,
    client: &ClientInfo,
) -> AppResult<AuthResponse> {
    let cfg = &state.config;
    let now = state.clock.now();
    let email = normalize_email(&req.email);
    limit_ip_and_account(
        state,
        "login",
        client,
        &tokens::hash_token(&email),
        (
            cfg.rate_limit_login_per_ip,
            cfg.rate_limit_login_per_account,
        ),
    )
    .await?;
    let user = users::Entity::find()
        .filter(users::Column::Email.eq(&email))
        .one(state.db.read())
        .await?;
    let stored = match user.as_ref().and_then(|u| u.password_hash.clone()) {
        Some(h) => h,
        None => dummy_hash().await?.to_string(),
    };
    let matches = password::verify(req.password, stored).await?;
    let user = match user {
        Some(u) if matches && u.password_hash.is_some() => u,
        _ => return Err(AppError::InvalidCredentials),
    };
    if !user.is_active {
        return Err(AppError::Forbidden("this account has been deactivated"));
    }
    let txn = state.db.begin_write().await?;
    let user_id = user.id;
    let user = touch_login(&txn, user, now).await?;
    let response = start_session(state, &txn, user, client, now).await?;
    txn.commit().await?;
    state.me.forget(user_id);
    Ok(response)
}

pub(super) async fn touch_login(
    conn: &impl ConnectionTrait,
    user: users::Model,
    now: DateTime<Utc>,
) -> AppResult<users::Model> {
    let mut active: users::ActiveModel = user.into();
    active.last_login_at = Set(Some(now));
    Ok(active.update(conn).await?)
}

/// A new sign-in session with its first refresh token, and an access token bound to it.
pub(super) async fn start_session(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user: users::Model,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<AuthResponse> {
    let session_id = Uuid::now_v7();
    auth_sessions::ActiveModel {
        id: Set(session_id),
        user_id: Set(user.id),
        user_agent: Set(client
            .user_agent
            .as_ref()
            .map(|s| s.chars().take(255).collect())),
        ip: Set(Some(client.ip.to_string())),
        created_at: Set(now),
        last_used_at: Set(now),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(conn)
    .await?;
    let refresh_token = issue_refresh_token(state, conn, user.id, session_id, now).await?;
    auth_response(state, user, session_id, refresh_token, now)
}

pub(super) fn auth_response(
    state: &AppState,
    user: users::Model,
    session_id: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
) -> AppResult<AuthResponse> {
    let ttl = state.config.access_token_ttl_secs;
    let access_token = state.jwt.issue(user.id, session_id, &user.role, now, ttl)?;
    Ok(AuthResponse {
        user: user.into(),
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: ttl,
    })
}

pub(super) async fn issue_refresh_token(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let token = tokens::random_token();
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        user_id: Set(user_id),
        token_hash: Set(tokens::hash_token(&token)),
        expires_at: Set(now + Duration::days(state.config.refresh_token_ttl_days)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(token)
}

/// Rotation: each refresh token works once. Presenting a used one again means it was stolen
/// (or replayed), so the whole session — every token of the family — is revoked.
pub async fn refresh(
    state: &AppState,
    req: RefreshRequest,
    client: &ClientInfo,
) -> AppResult<AuthResponse> {
    let cfg = &state.config;
    let now = state.clock.now();
    limit_ip(state, "refresh", client, cfg.rate_limit_refresh_per_ip).await?;
    let invalid = AppError::Unauthorized("the refresh token is invalid or expired");
    let hash = tokens::hash_token(&req.refresh_token);
    let Some(token) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(state.db.read())
        .await?
    else {
        return Err(invalid);
    };
    // Counted outside the transaction below (which holds SQLite's only writer connection).
    ratelimit::check(
        state,
        &format!("refresh:account:{}", token.user_id),
        cfg.rate_limit_refresh_per_account,
    )
    .await?;
    let txn = state.db.begin_write().await?;
    let Some((session, Some(user))) = auth_sessions::Entity::find_by_id(token.session_id)
        .find_also_related(users::Entity)
        .one(&txn)
        .await?
    else {
        return Err(invalid);
    };
    if session.revoked_at.is_some() || !user.is_active {
        return Err(invalid);
    }
    // Mark used only if still unused: of two concurrent refreshes with one token, one wins.
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
        .filter(refresh_tokens::Column::Id.eq(token.id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        // Used a moment ago: a parallel request of the same client (two tabs, a retry) won
        // the race. Refuse without ending the session, which that request just extended.
        let used_at = refresh_tokens::Entity::find_by_id(token.id)
            .one(&txn)
            .await?
            .and_then(|t| t.used_at);
        if used_at.is_some_and(|at| now - at <= Duration::seconds(REFRESH_RACE_GRACE_SECS)) {
            return Err(AppError::conflict(
                "refresh-token-rotated",
                "this refresh token was just used by a parallel request; use the tokens that \
                 request received",
            ));
        }
        revoke_sessions(&txn, Some(session.id), user.id, "refresh_token_reused", now).await?;
        txn.commit().await?;
        state.forget_user(user.id);
        tracing::warn!(user_id = %user.id, session_id = %session.id, "refresh token reused; session revoked");
        return Err(AppError::Unauthorized(
            "this refresh token was already used; the session has been ended for safety",
        ));
    }
    if token.expires_at <= now {
        return Err(invalid);
    }
    auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::LastUsedAt, Expr::value(now))
        .filter(auth_sessions::Column::Id.eq(session.id))
        .exec(&txn)
        .await?;
    let refresh_token = issue_refresh_token(state, &txn, user.id, session.id, now).await?;
    txn.commit().await?;
    auth_response(state, user, session.id, refresh_token, now)
}

/// Revokes one session (`Some(id)`) or every open session of the user (`None`), and spends
/// the unused refresh tokens of those sessions: neither their access tokens nor their refresh
/// tokens work again, and a refresh token is refused on its own record, not only its session's.
pub async fn revoke_sessions(
    conn: &impl ConnectionTrait,
    session_id: Option<Uuid>,
    user_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut sessions = auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
        .col_expr(auth_sessions::Column::RevokedReason, Expr::value(reason))
        .filter(auth_sessions::Column::UserId.eq(user_id))
        .filter(auth_sessions::Column::RevokedAt.is_null());
    let mut refresh = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::UsedAt.is_null());
    if let Some(id) = session_id {
        sessions = sessions.filter(auth_sessions::Column::Id.eq(id));
        refresh = refresh.filter(refresh_tokens::Column::SessionId.eq(id));
    }
    sessions.exec(conn).await?;
    refresh.exec(conn).await?;
    session_cache::notify(conn, user_id).await?;
    Ok(())
}

pub async fn logout(state: &AppState, user: &CurrentUser) -> AppResult<()> {
    revoke_sessions(
        state.db.write(),
        Some(user.session_id),
        user.id,
        "logout",
        state.clock.now(),
    )
    .await?;
    state.forget_user(user.id);
    Ok(())
}

/// Changes the password (SPEC §3 Accounts) and ends every session. Limited per account, as
/// each attempt runs argon2 twice.
pub async fn change_password(
    state: &AppState,
    current: &CurrentUser,
    req: PasswordChangeRequest,
) -> AppResult<()> {
    let now = state.clock.now();
    ratelimit::check(
        state,
        &format!("password-change:account:{}", current.id),
        state.config.rate_limit_password_change_per_account,
    )
    .await?;
    let user = find_user(state.db.read(), current.id).await?;
    let Some(stored) = user.password_hash.clone() else {
        return Err(AppError::invalid(
            "current_password",
            "this account signs in with Google and has no password; use password reset to set one",
        ));
    };
    if !password::verify(req.current_password, stored).await? {
        return Err(AppError::invalid(
            "current_password",
            "the current password is not correct",
        ));
    }
    let words = personal_words(state.db.read(), user.id).await?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    password::check_strength("new_password", &req.new_password, &words)?;
    let hash = password::hash(req.new_password).await?;
    let txn = state.db.begin_write().await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    revoke_sessions(&txn, None, user.id, "password_changed", now).await?;
    txn.commit().await?;
    state.forget_user(user.id);
    Ok(())
}
