//! Google sign-in (SPEC §3 Accounts): the flow that finds, links, takes over or creates the
//! account a verified Google identity signs in to. The token check itself is in `google.rs`.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::email_links::use_up_email_tokens;
use super::google::GoogleClaims;
use super::model::*;
use super::profile::{create_profile, find_user};
use super::service::{
    ClientInfo, GOOGLE_SIGN_IN_ATTEMPTS, PROVIDER_GOOGLE, limit_ip, normalize_email,
};
use super::signin::{revoke_sessions, start_session, touch_login};
use super::{ROLE_STUDENT, tokens};
use crate::db::violated_unique_constraint;
use crate::entity::users;
use crate::http::error::{AppError, AppResult};
use crate::ratelimit;
use crate::state::AppState;

/// Google sign-in (SPEC §3 Accounts): the account already linked to this Google account, else
/// the account with the same email — linked when its email is verified, taken over when it is
/// not — else a new account. Only a token whose email Google has verified is accepted.
pub async fn google_sign_in(
    state: &AppState,
    req: GoogleSignInRequest,
    client: &ClientInfo,
) -> AppResult<AuthResponse> {
    let cfg = &state.config;
    let now = state.clock.now();
    limit_ip(state, "login", client, cfg.rate_limit_login_per_ip).await?;
    let claims = state.google.verify(&req.id_token).await?;
    // Counted only for tokens Google signed, so the key cannot be chosen freely.
    ratelimit::check(
        state,
        &format!("google:account:{}", tokens::hash_token(&claims.sub)),
        cfg.rate_limit_google_per_account,
    )
    .await?;
    let email = claims
        .email
        .as_deref()
        .map(normalize_email)
        .filter(|e| claims.email_verified && !e.is_empty())
        .ok_or(AppError::Unauthorized(
            "the Google account has no verified email address",
        ))?;

    for _ in 0..GOOGLE_SIGN_IN_ATTEMPTS {
        let txn = state.db.begin_write().await?;
        let Some(user) = find_or_link_google_user(&txn, &claims, &email, now).await? else {
            // A concurrent sign-in wrote the account first and has committed: read it again.
            txn.rollback().await?;
            continue;
        };
        if !user.is_active {
            return Err(AppError::Forbidden("this account has been deactivated"));
        }
        let user_id = user.id;
        let user = touch_login(&txn, user, now).await?;
        let response = start_session(state, &txn, user, client, now).await?;
        txn.commit().await?;
        // A takeover ended the squatter's sessions: forget them here too.
        state.forget_user(user_id);
        return Ok(response);
    }
    Err(AppError::conflict(
        "sign-in-in-progress",
        "another sign-in to this account was in progress; try again",
    ))
}

/// A unique violation on the users' email or Google id: a concurrent sign-in created or linked
/// the account first.
pub(super) fn lost_google_race(err: &DbErr) -> bool {
    matches!(
        violated_unique_constraint(err),
        Some("users_email_key" | "users_google_id_key")
    )
}

/// The account a verified Google identity signs in to, creating, linking or taking it over as
/// needed. `None` when a concurrent sign-in changed the account first: the transaction is
/// spoilt (PostgreSQL aborts it at the unique violation), so roll it back and read again.
pub(super) async fn find_or_link_google_user(
    conn: &impl ConnectionTrait,
    claims: &GoogleClaims,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<users::Model>> {
    let existing = users::Entity::find()
        .filter(
            Condition::any()
                .add(users::Column::GoogleId.eq(&claims.sub))
                .add(users::Column::Email.eq(email)),
        )
        .all(conn)
        .await?;
    if let Some(user) = existing
        .iter()
        .find(|u| u.google_id.as_deref() == Some(&claims.sub))
    {
        return Ok(Some(user.clone()));
    }
    match existing.into_iter().next() {
        Some(user) if user.is_verified => link_google(conn, user, &claims.sub, now).await,
        Some(user) => take_over_unverified(conn, user, &claims.sub, now).await,
        None => create_google_user(conn, claims, email, now).await,
    }
}

/// Links a Google identity to the account whose (verified) email it shares.
pub(super) async fn link_google(
    conn: &impl ConnectionTrait,
    user: users::Model,
    sub: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<users::Model>> {
    let mut active: users::ActiveModel = user.into();
    active.google_id = Set(Some(sub.to_string()));
    active.auth_provider = Set(PROVIDER_GOOGLE.into());
    active.updated_at = Set(now);
    match active.update(conn).await {
        Ok(user) => Ok(Some(user)),
        Err(e) if lost_google_race(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Google has proved who owns an address that the account holding it never verified — which is
/// how an account is pre-hijacked: someone registers the address before its owner arrives and
/// waits for them to link it. So whoever registered it loses every way in: the password, every
/// session and refresh token, and every pending email link. Only an account still unverified
/// is changed; `None` when it was verified meanwhile.
pub(super) async fn take_over_unverified(
    conn: &impl ConnectionTrait,
    user: users::Model,
    sub: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<users::Model>> {
    let claimed = users::Entity::update_many()
        .col_expr(
            users::Column::PasswordHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(users::Column::IsVerified, Expr::value(true))
        .col_expr(users::Column::GoogleId, Expr::value(sub))
        .col_expr(users::Column::AuthProvider, Expr::value(PROVIDER_GOOGLE))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .filter(users::Column::IsVerified.eq(false))
        .exec(conn)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Ok(None);
    }
    revoke_sessions(conn, None, user.id, "google_takeover", now).await?;
    use_up_email_tokens(conn, user.id, None, now).await?;
    tracing::warn!(
        user_id = %user.id,
        "Google sign-in took over an unverified account: password removed, sessions ended, email links spent"
    );
    Ok(Some(find_user(conn, user.id).await?))
}

pub(super) async fn create_google_user(
    conn: &impl ConnectionTrait,
    claims: &GoogleClaims,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<users::Model>> {
    let user_id = Uuid::now_v7();
    let full_name = claims
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or("Student").to_string());
    let inserted = users::ActiveModel {
        id: Set(user_id),
        email: Set(email.to_string()),
        password_hash: Set(None),
        auth_provider: Set(PROVIDER_GOOGLE.into()),
        role: Set(ROLE_STUDENT.into()),
        is_active: Set(true),
        is_verified: Set(true),
        google_id: Set(Some(claims.sub.clone())),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await;
    let user = match inserted {
        Ok(user) => user,
        Err(e) if lost_google_race(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    create_profile(conn, user_id, &full_name, now).await?;
    Ok(Some(user))
}
