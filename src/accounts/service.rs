//! The account rules of SPEC §3 Accounts: registration, sign-in (password and Google),
//! sessions with refresh-token rotation and reuse detection, email verification, password
//! reset and change, profile, deletion, and the admin's view of users.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic,
    Iterable, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::CurrentUser;
use super::google::GoogleClaims;
use super::model::*;
use super::{ROLE_ADMIN, ROLE_STUDENT, password, session_cache, tokens};
use crate::db::is_unique_violation;
use crate::entity::{auth_sessions, email_tokens, refresh_tokens, user_profiles, users};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::encode_cursor;
use crate::ratelimit;
use crate::state::AppState;

const PURPOSE_VERIFY: &str = "verify_email";
const PURPOSE_RESET: &str = "password_reset";
const DEFAULT_TIMEZONE: &str = "UTC";
/// `users.auth_provider`: how the account signed up, or "google" once Google sign-in linked it.
const PROVIDER_EMAIL: &str = "email";
const PROVIDER_GOOGLE: &str = "google";
/// How long after a refresh token's use presenting it again counts as a parallel request of
/// the same client (answered 409, the session kept) rather than a replay (the session ended).
const REFRESH_RACE_GRACE_SECS: i64 = 5;
/// How often one Google sign-in reads the accounts again after losing a race to create, link
/// or take over the account; the winner has committed by then, so the second read finds it.
const GOOGLE_SIGN_IN_ATTEMPTS: usize = 3;

/// Where a request came from, for rate limits and the session list.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// Counts one attempt of `action` against the client's IP and against the account it names
/// (SPEC §5: credential endpoints are limited per IP and per account).
async fn limit_ip_and_account(
    state: &AppState,
    action: &str,
    client: &ClientInfo,
    account: &(dyn std::fmt::Display + Sync),
    (per_ip, per_account): (i64, i64),
) -> AppResult<()> {
    let account_key = format!("{action}:account:{account}");
    ratelimit::check(state, &format!("{action}:ip:{}", client.ip), per_ip).await?;
    ratelimit::check(state, &account_key, per_account).await
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    client: &ClientInfo,
) -> AppResult<AuthResponse> {
    let cfg = &state.config;
    let now = state.clock.now();
    ratelimit::check(
        state,
        &format!("register:ip:{}", client.ip),
        cfg.rate_limit_register_per_ip,
    )
    .await?;
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
        Err(e) if is_unique_violation(&e, "users_email_key", "users.email") => {
            return Err(AppError::conflict(
                "email-taken",
                "an account with this email already exists; sign in or reset the password",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    create_profile(&txn, user_id, &full_name, now).await?;
    let verify_token = create_email_token(state, &txn, user_id, PURPOSE_VERIFY, now).await?;
    let response = start_session(state, &txn, user, client, now).await?;
    txn.commit().await?;
    send_verification_email(state, &email, &verify_token);
    Ok(response)
}

async fn create_profile(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    full_name: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    user_profiles::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        full_name: Set(full_name.to_string()),
        onboarding_completed: Set(false),
        timezone: Set(DEFAULT_TIMEZONE.into()),
        daily_goal_minutes: Set(30),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// A hash to verify against when the account does not exist, so that an unknown email
/// costs the same time as a wrong password.
async fn dummy_hash() -> AppResult<&'static str> {
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
    let user = touch_login(&txn, user, now).await?;
    let response = start_session(state, &txn, user, client, now).await?;
    txn.commit().await?;
    Ok(response)
}

async fn touch_login(
    conn: &impl ConnectionTrait,
    user: users::Model,
    now: DateTime<Utc>,
) -> AppResult<users::Model> {
    let mut active: users::ActiveModel = user.into();
    active.last_login_at = Set(Some(now));
    Ok(active.update(conn).await?)
}

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
    ratelimit::check(
        state,
        &format!("login:ip:{}", client.ip),
        cfg.rate_limit_login_per_ip,
    )
    .await?;
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
        state.sessions.invalidate_user(user_id);
        return Ok(response);
    }
    Err(AppError::conflict(
        "sign-in-in-progress",
        "another sign-in to this account was in progress; try again",
    ))
}

/// A unique violation on the users' email or Google id: a concurrent sign-in created or linked
/// the account first.
fn lost_google_race(err: &DbErr) -> bool {
    is_unique_violation(err, "users_email_key", "users.email")
        || is_unique_violation(err, "users_google_id_key", "users.google_id")
}

/// The account a verified Google identity signs in to, creating, linking or taking it over as
/// needed. `None` when a concurrent sign-in changed the account first: the transaction is
/// spoilt (PostgreSQL aborts it at the unique violation), so roll it back and read again.
async fn find_or_link_google_user(
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
async fn link_google(
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
async fn take_over_unverified(
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

async fn create_google_user(
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

/// A new sign-in session with its first refresh token, and an access token bound to it.
async fn start_session(
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

fn auth_response(
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

async fn issue_refresh_token(
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
    ratelimit::check(
        state,
        &format!("refresh:ip:{}", client.ip),
        cfg.rate_limit_refresh_per_ip,
    )
    .await?;
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
        state.sessions.invalidate_user(user.id);
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
    state.sessions.invalidate_user(user.id);
    Ok(())
}

async fn create_email_token(
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
async fn consume_email_token(
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
async fn use_up_email_tokens(
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

fn send_verification_email(state: &AppState, email: &str, token: &str) {
    let link = format!(
        "{}/verify-email?token={token}",
        state.config.public_url.trim_end_matches('/')
    );
    state.mailer.send_in_background(
        email.to_string(),
        "Confirm your Studium email address".into(),
        format!(
            "Welcome to Studium!\n\nConfirm your email address by opening this link:\n{link}\n\n\
             Or enter this code in the app: {token}\n\nThe link expires in {} hours.\n",
            state.config.email_token_ttl_hours
        ),
    );
}

/// Confirms the address with a verification link (SPEC §3 Accounts); the user's other
/// outstanding verification links are spent with it.
pub async fn verify_email(
    state: &AppState,
    req: TokenRequest,
    client: &ClientInfo,
) -> AppResult<()> {
    let now = state.clock.now();
    ratelimit::check(
        state,
        &format!("verify-email:ip:{}", client.ip),
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
    let token = create_email_token(state, state.db.write(), user.id, PURPOSE_VERIFY, now).await?;
    send_verification_email(state, &user.email, &token);
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
        let token =
            create_email_token(state, state.db.write(), user.id, PURPOSE_RESET, now).await?;
        let link = format!(
            "{}/reset-password?token={token}",
            cfg.public_url.trim_end_matches('/')
        );
        state.mailer.send_in_background(
            user.email,
            "Reset your Studium password".into(),
            format!(
                "Someone (hopefully you) asked to reset your Studium password.\n\n\
                 Choose a new one here: {link}\n\nOr enter this code in the app: {token}\n\n\
                 The link expires in {} hours. If you did not ask, ignore this email.\n",
                cfg.email_token_ttl_hours
            ),
        );
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
    ratelimit::check(
        state,
        &format!("reset-confirm:ip:{}", client.ip),
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
    state.sessions.invalidate_user(user_id);
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
    state.sessions.invalidate_user(user.id);
    Ok(())
}

/// The words a password must not be built from: the account's email and name.
async fn personal_words(conn: &impl ConnectionTrait, user_id: Uuid) -> AppResult<Vec<String>> {
    let user = find_user(conn, user_id).await?;
    let profile = find_profile(conn, user_id).await?;
    Ok(vec![user.email, profile.full_name])
}

async fn find_user(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<users::Model> {
    users::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("user"))
}

/// The user's IANA time zone (UTC when unset or unknown).
pub async fn user_timezone(conn: &impl ConnectionTrait, user_id: Uuid) -> AppResult<chrono_tz::Tz> {
    Ok(find_profile(conn, user_id)
        .await?
        .timezone
        .parse()
        .unwrap_or(chrono_tz::UTC))
}

async fn find_profile(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> AppResult<user_profiles::Model> {
    user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("profile"))
}

/// The accounts part of `GET /me`'s one statement: a select from `users` joined with the
/// user's profile, every column of the user as `user_<column>` and of the profile as
/// `profile_<column>`, for the user `user_id`. Other areas add their own columns to it.
pub fn select_user_and_profile(user_id: Uuid) -> SelectStatement {
    let mut stmt = Query::select();
    for col in users::Column::iter() {
        stmt.expr_as(
            Expr::col((users::Entity, col)),
            Alias::new(format!("user_{}", col.as_str())),
        );
    }
    for col in user_profiles::Column::iter() {
        stmt.expr_as(
            Expr::col((user_profiles::Entity, col)),
            Alias::new(format!("profile_{}", col.as_str())),
        );
    }
    stmt.from(users::Entity)
        .inner_join(
            user_profiles::Entity,
            Expr::col((user_profiles::Entity, user_profiles::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .and_where(users::Column::Id.eq(user_id));
    stmt
}

pub async fn update_profile(
    state: &AppState,
    current: &CurrentUser,
    req: UpdateProfileRequest,
) -> AppResult<()> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let profile = find_profile(&txn, current.id).await?;
    let mut active: user_profiles::ActiveModel = profile.into();
    let UpdateProfileRequest {
        full_name,
        avatar_url,
        bio,
        grade_level,
        school,
        learning_goals,
        preferred_subjects,
        daily_goal_minutes,
        timezone,
        primary_goal,
        study_preference,
        onboarding_completed,
    } = req;
    if let Some(name) = full_name {
        active.full_name = Set(name.trim().to_string());
    }
    if let Some(v) = primary_goal {
        active.primary_goal = Set(v);
    }
    if let Some(v) = study_preference {
        active.study_preference = Set(v);
    }
    if let Some(v) = avatar_url {
        active.avatar_url = Set(v);
    }
    if let Some(v) = bio {
        active.bio = Set(v);
    }
    if let Some(v) = grade_level {
        active.grade_level = Set(v);
    }
    if let Some(v) = school {
        active.school = Set(v);
    }
    if let Some(v) = learning_goals {
        active.learning_goals = Set(v);
    }
    if let Some(v) = preferred_subjects {
        active.preferred_subjects = Set(Some(serde_json::json!(v)));
    }
    if let Some(v) = daily_goal_minutes {
        active.daily_goal_minutes = Set(v);
    }
    if let Some(v) = timezone {
        active.timezone = Set(v);
    }
    // Onboarding completes once the student has said what they study for and how they like
    // to study; an explicit value wins.
    let onboarded = onboarding_completed.unwrap_or_else(|| {
        let set =
            |v: &sea_orm::ActiveValue<Option<String>>| v.try_as_ref().is_some_and(|v| v.is_some());
        *active.onboarding_completed.as_ref()
            || (set(&active.primary_goal) && set(&active.study_preference))
    });
    active.onboarding_completed = Set(onboarded);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes the account and, through the foreign keys, everything personal of it.
pub async fn delete_account(state: &AppState, current: &CurrentUser) -> AppResult<()> {
    let deleted = users::Entity::delete_by_id(current.id)
        .exec(state.db.write())
        .await?
        .rows_affected;
    if deleted == 0 {
        return Err(AppError::NotFound("user"));
    }
    session_cache::notify(state.db.write(), current.id).await?;
    state.sessions.invalidate_user(current.id);
    Ok(())
}

pub async fn admin_list_users(
    state: &AppState,
    query: AdminUserQuery,
) -> AppResult<Page<AdminUserView>> {
    let limit = query
        .limit
        .unwrap_or(crate::http::extract::DEFAULT_PAGE_SIZE);
    let page = crate::http::extract::PageParams {
        limit: Some(limit),
        cursor: query.cursor,
    };
    let mut select = users::Entity::find()
        .find_also_related(user_profiles::Entity)
        .order_by_asc(users::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(users::Column::Id.gt(after));
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", q.to_lowercase().replace(['%', '_'], ""));
        select = select.filter(
            Condition::any()
                .add(users::Column::Email.like(&pattern))
                .add(
                    Expr::expr(Func::lower(Expr::col((
                        user_profiles::Entity,
                        user_profiles::Column::FullName,
                    ))))
                    .like(&pattern),
                ),
        );
    }
    let mut rows = select.limit(limit + 1).all(state.db.read()).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(u, _)| encode_cursor(u.id))
    } else {
        None
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(user, profile)| AdminUserView {
                full_name: profile.map(|p| p.full_name).unwrap_or_default(),
                user: user.into(),
            })
            .collect(),
        next_cursor,
    })
}

pub async fn admin_update_user(
    state: &AppState,
    admin: &CurrentUser,
    user_id: Uuid,
    req: AdminUpdateUserRequest,
) -> AppResult<UserView> {
    let now = state.clock.now();
    if user_id == admin.id
        && (req.is_active == Some(false) || req.role.as_deref() == Some(ROLE_STUDENT))
    {
        return Err(AppError::conflict(
            "cannot-demote-self",
            "admins cannot deactivate or demote themselves; ask another admin",
        ));
    }
    let txn = state.db.begin_write().await?;
    let user = find_user(&txn, user_id).await?;
    let mut active: users::ActiveModel = user.into();
    if let Some(role) = req.role {
        active.role = Set(role);
    }
    if let Some(is_active) = req.is_active {
        active.is_active = Set(is_active);
        if !is_active {
            revoke_sessions(&txn, None, user_id, "deactivated", now).await?;
        }
    }
    active.updated_at = Set(now);
    let user = active.update(&txn).await?;
    // A new role or standing holds from the next request, on every instance.
    session_cache::notify(&txn, user_id).await?;
    txn.commit().await?;
    state.sessions.invalidate_user(user_id);
    Ok(user.into())
}

/// `studium create-admin`: creates an admin account, or promotes an existing one.
pub async fn create_admin(
    state: &AppState,
    email: &str,
    password_plain: String,
    full_name: &str,
) -> anyhow::Result<(Uuid, bool)> {
    let now = state.clock.now();
    let email = normalize_email(email);
    if let Some(user) = users::Entity::find()
        .filter(users::Column::Email.eq(&email))
        .one(state.db.read())
        .await?
    {
        let mut active: users::ActiveModel = user.clone().into();
        active.role = Set(ROLE_ADMIN.into());
        active.is_active = Set(true);
        active.updated_at = Set(now);
        active.update(state.db.write()).await?;
        session_cache::notify(state.db.write(), user.id).await?;
        return Ok((user.id, false));
    }
    password::check_strength("password", &password_plain, &[&email, full_name])
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let hash = password::hash(password_plain).await?;
    let txn = state.db.begin_write().await?;
    let id = Uuid::now_v7();
    users::ActiveModel {
        id: Set(id),
        email: Set(email),
        password_hash: Set(Some(hash)),
        auth_provider: Set(PROVIDER_EMAIL.into()),
        role: Set(ROLE_ADMIN.into()),
        is_active: Set(true),
        is_verified: Set(true),
        google_id: Set(None),
        last_login_at: NotSet,
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    create_profile(&txn, id, full_name, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    txn.commit().await?;
    Ok((id, true))
}

fn describe(err: &AppError) -> String {
    match err {
        AppError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
