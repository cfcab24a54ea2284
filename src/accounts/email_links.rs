//! Single-use email links (SPEC §3 Accounts): email verification and password reset.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::CurrentUser;
use super::model::*;
use super::profile::{find_user, personal_words};
use super::service::{
    ClientInfo, PURPOSE_RESET, PURPOSE_VERIFY, limit_ip, limit_ip_and_account, normalize_email,
};
use super::signin::revoke_sessions;
use super::{password, tokens};
use crate::entity::{email_tokens, users};
use crate::http::error::{AppError, AppResult};
use crate::mail::{self, Email};
use crate::state::AppState;

pub(super) async fn create_email_token(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let token = tokens::random_token();
    email_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        purpose: Set(purpose.into()),
        token_hash: Set(tokens::hash_token(&token)),
        expires_at: Set(now + Duration::hours(state.config.email_token_ttl_hours)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(token)
}

/// Spends a single-use email token of `purpose`; the user it belongs to, or a 422.
pub(super) async fn consume_email_token(
    conn: &impl ConnectionTrait,
    token: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> AppResult<Uuid> {
    let invalid = || AppError::invalid("token", "this link is invalid, already used or expired");
    let row = email_tokens::Entity::find()
        .filter(email_tokens::Column::TokenHash.eq(tokens::hash_token(token)))
        .filter(email_tokens::Column::Purpose.eq(purpose))
        .one(conn)
        .await?
        .ok_or_else(invalid)?;
    if row.expires_at <= now {
        return Err(invalid());
    }
    let claimed = email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(now))
        .filter(email_tokens::Column::Id.eq(row.id))
        .filter(email_tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Err(invalid());
    }
    Ok(row.user_id)
}

/// Spends every unused email token of the user of `purpose` (`None`: of every purpose), so that
/// once one link has done its work, older links of the same kind still in a mailbox do nothing.
pub(super) async fn use_up_email_tokens(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut update = email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(now))
        .filter(email_tokens::Column::UserId.eq(user_id))
        .filter(email_tokens::Column::UsedAt.is_null());
    if let Some(purpose) = purpose {
        update = update.filter(email_tokens::Column::Purpose.eq(purpose));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Queues the verification email carrying `token`, on `conn` (the transaction that created it).
pub(super) async fn queue_verification_email(
    state: &AppState,
    conn: &impl ConnectionTrait,
    email: &str,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let link = format!(
        "{}/verify-email?token={token}",
        state.config.public_url.trim_end_matches('/')
    );
    let email = Email {
        to: email.to_string(),
        subject: "Confirm your Studium email address".into(),
        body: format!(
            "Welcome to Studium!\n\nConfirm your email address by opening this link:\n{link}\n\n\
             Or enter this code in the app: {token}\n\nThe link expires in {} hours.\n",
            state.config.email_token_ttl_hours
        ),
    };
    mail::queue(conn, &state.config, now, email).await?;
    Ok(())
}

/// Confirms the address with a verification link (SPEC §3 Accounts); the user's other
/// outstanding verification links are spent with it.
pub async fn verify_email(
    state: &AppState,
    req: TokenRequest,
    client: &ClientInfo,
) -> AppResult<()> {
    let now = state.clock.now();
    limit_ip(
        state,
        "verify-email",
        client,
        state.config.rate_limit_verify_email_per_ip,
    )
    .await?;
    let txn = state.db.begin_write().await?;
    let user_id = consume_email_token(&txn, &req.token, PURPOSE_VERIFY, now).await?;
    use_up_email_tokens(&txn, user_id, Some(PURPOSE_VERIFY), now).await?;
    users::Entity::update_many()
        .col_expr(users::Column::IsVerified, Expr::value(true))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    state.me.forget(user_id);
    Ok(())
}

pub async fn resend_verification(
    state: &AppState,
    current: &CurrentUser,
    client: &ClientInfo,
) -> AppResult<()> {
    let cfg = &state.config;
    let now = state.clock.now();
    limit_ip_and_account(
        state,
        "verify-resend",
        client,
        &current.id,
        (
            cfg.rate_limit_verify_resend_per_ip,
            cfg.rate_limit_verify_resend_per_account,
        ),
    )
    .await?;
    let user = find_user(state.db.read(), current.id).await?;
    if user.is_verified {
        return Err(AppError::conflict(
            "already-verified",
            "this email address is already verified",
        ));
    }
    let txn = state.db.begin_write().await?;
    let token = create_email_token(state, &txn, user.id, PURPOSE_VERIFY, now).await?;
    queue_verification_email(state, &txn, &user.email, &token, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Always answers the same way, whether or not the address has an account.
pub async fn request_password_reset(
    state: &AppState,
    req: PasswordResetRequest,
    client: &ClientInfo,
) -> AppResult<()> {
    let cfg = &state.config;
    let now = state.clock.now();
    let email = normalize_email(&req.email);
    limit_ip_and_account(
        state,
        "reset",
        client,
        &tokens::hash_token(&email),
        (
            cfg.rate_limit_password_reset_per_ip,
            cfg.rate_limit_password_reset_per_account,
        ),
    )
    .await?;
    let user = users::Entity::find()
        .filter(users::Column::Email.eq(&email))
        .filter(users::Column::IsActive.eq(true))
        .one(state.db.read())
        .await?;
    if let Some(user) = user {
        let txn = state.db.begin_write().await?;
        let token = create_email_token(state, &txn, user.id, PURPOSE_RESET, now).await?;
        let link = format!(
            "{}/reset-password?token={token}",
            cfg.public_url.trim_end_matches('/')
        );
        let email = Email {
            to: user.email,
            subject: "Reset your Studium password".into(),
            body: format!(
                "Someone (hopefully you) asked to reset your Studium password.\n\n\
                 Choose a new one here: {link}\n\nOr enter this code in the app: {token}\n\n\
                 The link expires in {} hours. If you did not ask, ignore this email.\n",
                cfg.email_token_ttl_hours
            ),
        };
        mail::queue(&txn, cfg, now, email).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// Sets a new password with a reset link (SPEC §3 Accounts): every other reset link of the
/// user is spent, and every session ends — its access and its refresh tokens.
pub async fn confirm_password_reset(
    state: &AppState,
    req: PasswordResetConfirm,
    client: &ClientInfo,
) -> AppResult<()> {
    let now = state.clock.now();
    limit_ip(
        state,
        "reset-confirm",
        client,
        state.config.rate_limit_password_reset_confirm_per_ip,
    )
    .await?;
    let token_user = {
        // Look the token up first (without spending it) so a weak new password can be
        // corrected and retried with the same link.
        let row = email_tokens::Entity::find()
            .filter(email_tokens::Column::TokenHash.eq(tokens::hash_token(&req.token)))
            .filter(email_tokens::Column::Purpose.eq(PURPOSE_RESET))
            .one(state.db.read())
            .await?;
        match row {
            Some(r) => personal_words(state.db.read(), r.user_id).await.ok(),
            None => None,
        }
    };
    let inputs: Vec<&str> = token_user.iter().flatten().map(String::as_str).collect();
    password::check_strength("new_password", &req.new_password, &inputs)?;
    let hash = password::hash(req.new_password).await?;
    let txn = state.db.begin_write().await?;
    let user_id = consume_email_token(&txn, &req.token, PURPOSE_RESET, now).await?;
    use_up_email_tokens(&txn, user_id, Some(PURPOSE_RESET), now).await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::IsVerified, Expr::value(true))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    revoke_sessions(&txn, None, user_id, "password_reset", now).await?;
    txn.commit().await?;
    state.forget_user(user_id);
    Ok(())
}
