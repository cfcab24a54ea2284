//! The admin's management of users (SPEC §3 Accounts) and `studium create-admin`.

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::CurrentUser;
use super::model::*;
use super::profile::{create_profile, find_user};
use super::service::{PROVIDER_EMAIL, normalize_email};
use super::signin::revoke_sessions;
use super::{ROLE_ADMIN, ROLE_STUDENT, password, session_cache};
use crate::entity::{user_profiles, users};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{encode_cursor, next_page};
use crate::state::AppState;

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
    let next_cursor = next_page(&mut rows, limit, |(u, _)| encode_cursor(u.id));
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
    state.forget_user(user_id);
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

pub(super) fn describe(err: &AppError) -> String {
    match err {
        AppError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
