//! The user and the profile (SPEC §3 Accounts): finding them, updating the profile, the
//! accounts part of `GET /me`, and deleting the account.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, Iterable, QueryFilter,
};
use uuid::Uuid;

use super::CurrentUser;
use super::model::*;
use super::service::DEFAULT_TIMEZONE;
use super::session_cache;
use crate::db::set_if_some;
use crate::entity::{user_profiles, users};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;

pub(super) async fn create_profile(
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

/// The words a password must not be built from: the account's email and name.
pub(super) async fn personal_words(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> AppResult<Vec<String>> {
    let user = find_user(conn, user_id).await?;
    let profile = find_profile(conn, user_id).await?;
    Ok(vec![user.email, profile.full_name])
}

pub(super) async fn find_user(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<users::Model> {
    users::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("user"))
}

/// The user's IANA time zone (UTC when unset or unknown).
pub async fn user_timezone(conn: &impl ConnectionTrait, user_id: Uuid) -> AppResult<chrono_tz::Tz> {
    Ok(parse_timezone(&find_profile(conn, user_id).await?.timezone))
}

/// [`user_timezone`]'s stored value as a correlated subquery over `users.id`, for a statement
/// that reads (or locks) the user's row and needs the zone too; read it with
/// [`timezone_from`].
pub fn timezone_of_users_row() -> Expr {
    Expr::cust("(SELECT p.timezone FROM user_profiles p WHERE p.user_id = users.id)")
}

/// The zone read by [`timezone_of_users_row`]: `None` (no such user or profile) is a 404 as in
/// [`user_timezone`].
pub fn timezone_from(stored: Option<String>) -> AppResult<chrono_tz::Tz> {
    stored
        .map(|zone| parse_timezone(&zone))
        .ok_or(AppError::NotFound("profile"))
}

fn parse_timezone(zone: &str) -> chrono_tz::Tz {
    zone.parse().unwrap_or(chrono_tz::UTC)
}

pub(super) async fn find_profile(
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
    set_if_some(
        &mut active.full_name,
        full_name.map(|name| name.trim().to_string()),
    );
    set_if_some(&mut active.primary_goal, primary_goal);
    set_if_some(&mut active.study_preference, study_preference);
    set_if_some(&mut active.avatar_url, avatar_url);
    set_if_some(&mut active.bio, bio);
    set_if_some(&mut active.grade_level, grade_level);
    set_if_some(&mut active.school, school);
    set_if_some(&mut active.learning_goals, learning_goals);
    set_if_some(
        &mut active.preferred_subjects,
        preferred_subjects.map(|v| Some(serde_json::json!(v))),
    );
    set_if_some(&mut active.daily_goal_minutes, daily_goal_minutes);
    set_if_some(&mut active.timezone, timezone);
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
    // The rows went with the user (foreign keys); their files in the object store go now. A
    // failure leaves unreachable objects behind and is logged, the account is gone either way.
    if let Err(e) = crate::materials::service::delete_user_files(state, current.id).await {
        tracing::error!(error = ?e, user_id = %current.id, "the files of a deleted account remain");
    }
    session_cache::notify(state.db.write(), current.id).await?;
    state.forget_user(current.id);
    Ok(())
}
