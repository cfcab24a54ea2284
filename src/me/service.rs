//! `GET /me` in one statement, composed of the columns and expressions each area exposes:
//! accounts (the user and the profile), gamification (the XP total), study (the streak and
//! the running session). On PostgreSQL each instance keeps the row it read (`super::cache`).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Alias;
use sea_orm::{DbBackend, FromQueryResult, Statement, StatementBuilder};
use uuid::Uuid;

use super::model::MeResponse;
use crate::accounts::CurrentUser;
use crate::accounts::model::UpdateProfileRequest;
use crate::entity::{user_profiles, users};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{accounts, gamification, study};

/// One row of `GET /me`: the user, the profile, the streak and the XP total, read in one
/// statement (this is the most frequent authenticated read).
#[derive(Debug, Clone, FromQueryResult)]
pub struct MeRow {
    #[sea_orm(nested(prefix = "user_"))]
    user: users::Model,
    #[sea_orm(nested(prefix = "profile_"))]
    profile: user_profiles::Model,
    current_streak: Option<i32>,
    longest_streak: Option<i32>,
    last_study_date: Option<chrono::NaiveDate>,
    total_xp: i64,
    /// The start of the user's running study session, if one runs.
    open_session_started_at: Option<DateTime<Utc>>,
}

/// `GET /me`'s statement for `user_id`. Its text depends only on the backend, so it is
/// composed and rendered once per backend; each request binds just the user id.
fn me_statement(backend: DbBackend, user_id: Uuid) -> Statement {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static SQLITE: OnceLock<String> = OnceLock::new();
    let cell = match backend {
        DbBackend::Postgres => &POSTGRES,
        _ => &SQLITE,
    };
    let sql = cell.get_or_init(|| {
        let mut stmt = accounts::service::select_user_and_profile(Uuid::nil());
        study::service::select_streak_of_users_row(&mut stmt);
        stmt.expr_as(
            gamification::xp::total_xp_of_users_row(),
            Alias::new("total_xp"),
        )
        .expr_as(
            study::service::open_session_start_of_users_row(),
            Alias::new("open_session_started_at"),
        );
        let built = StatementBuilder::build(&stmt, &backend);
        // The user id is the statement's one value; anything else would be lost here.
        assert_eq!(
            built.values.as_ref().map_or(0, |v| v.0.len()),
            1,
            "GET /me binds only the user id"
        );
        built.sql
    });
    Statement::from_sql_and_values(backend, sql.as_str(), [user_id.into()])
}

/// `GET /me`: the account, its profile, XP, level and the streak as it stands today.
pub async fn me(state: &AppState, current: &CurrentUser) -> AppResult<MeResponse> {
    let now = state.clock.now();
    let row = match state.me.get(current.id, now) {
        Some(row) => row,
        None => {
            let generation = state.me.generation();
            let db = state.db.read();
            let row = MeRow::find_by_statement(me_statement(db.get_database_backend(), current.id))
                .one(db)
                .await?
                .ok_or(AppError::NotFound("user"))?;
            state.me.put(generation, current.id, row.clone(), now);
            row
        }
    };
    let tz = row.profile.timezone.parse().unwrap_or(chrono_tz::UTC);
    let current_streak = study::service::displayed_streak_of_row(
        current.id,
        study::service::StreakOfUsersRow {
            current_streak: row.current_streak,
            longest_streak: row.longest_streak,
            last_study_date: row.last_study_date,
            open_session_started_at: row.open_session_started_at,
        },
        tz,
        now,
    );
    Ok(MeResponse {
        user: row.user.into(),
        profile: row.profile.into(),
        level: gamification::xp::level_for(row.total_xp),
        total_xp: row.total_xp,
        current_streak,
    })
}

/// `PATCH /me/profile`: updates the profile, then answers with `GET /me`'s view.
pub async fn update_profile(
    state: &AppState,
    current: &CurrentUser,
    req: UpdateProfileRequest,
) -> AppResult<MeResponse> {
    accounts::service::update_profile(state, current, req).await?;
    state.forget_user_data(current.id);
    me(state, current).await
}
