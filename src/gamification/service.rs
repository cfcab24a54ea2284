//! The gamification use cases of SPEC §4: my XP and level, the achievements with my state of
//! them, and the admin's management of achievement definitions (SPEC §3 XP, Achievements).

use std::collections::HashMap;

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::achievements::{Criteria, Metrics};
use super::model::*;
use super::xp;
use crate::accounts::CurrentUser;
use crate::db::violated_unique_constraint;
use crate::entity::{achievements, user_achievements, xp_logs};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::state::AppState;

/// `GET /me/xp`: total XP, the level of the SPEC curve with its bounds, and the latest awards.
pub async fn my_xp(state: &AppState, user: &CurrentUser) -> AppResult<XpSummary> {
    let conn = state.db.read();
    let total_xp = xp::total_xp(conn, user.id).await?;
    let level = xp::level_for(total_xp);
    let level_start_xp = xp::level_start(level);
    let next_level_xp = xp::level_start(level.saturating_add(1));
    let recent = xp_logs::Entity::find()
        .filter(xp_logs::Column::UserId.eq(user.id))
        .order_by_desc(xp_logs::Column::CreatedAt)
        .order_by_desc(xp_logs::Column::Id)
        .limit(RECENT_XP_AWARDS)
        .all(conn)
        .await?;
    Ok(XpSummary {
        total_xp,
        level,
        level_start_xp,
        next_level_xp,
        xp_to_next_level: next_level_xp - total_xp,
        recent: recent.into_iter().map(XpAwardView::from).collect(),
    })
}

/// `GET /achievements`: every achievement in creation order, with when I unlocked it and my
/// current value of its criterion (each criterion read once per page).
pub async fn list_achievements(
    state: &AppState,
    user: &CurrentUser,
    page: PageParams,
) -> AppResult<Page<AchievementView>> {
    let conn = state.db.read();
    let limit = page.limit();
    let mut select = achievements::Entity::find().order_by_asc(achievements::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(achievements::Column::Id.gt(after));
    }
    let mut rows = select.limit(limit + 1).all(conn).await?;
    let next_cursor = next_page(&mut rows, limit, |a| encode_cursor(a.id));

    let ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
    let unlocked: HashMap<Uuid, _> = if ids.is_empty() {
        HashMap::new()
    } else {
        user_achievements::Entity::find()
            .filter(user_achievements::Column::UserId.eq(user.id))
            .filter(user_achievements::Column::AchievementId.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.achievement_id, u.unlocked_at))
            .collect()
    };

    let mut metrics = Metrics::default();
    let mut items = Vec::with_capacity(rows.len());
    for a in rows {
        let progress = match Criteria::parse(&a.criteria_type) {
            Some(c) => Some(metrics.get(conn, user.id, c).await?),
            None => None,
        };
        let unlocked_at = unlocked.get(&a.id).copied();
        items.push(AchievementView::new(a, unlocked_at, progress));
    }
    Ok(Page { items, next_cursor })
}

fn name_taken(err: DbErr) -> AppError {
    if violated_unique_constraint(&err) == Some("achievements_title_key") {
        return AppError::conflict(
            "achievement-title-taken",
            "an achievement with this title already exists",
        );
    }
    err.into()
}

/// `POST /admin/achievements`: a new definition. Users who already qualify unlock it at their
/// next evaluation (their next event that can move an achievement).
pub async fn create_achievement(
    state: &AppState,
    req: CreateAchievementRequest,
) -> AppResult<AchievementDefinition> {
    let now = state.clock.now();
    let model = achievements::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(req.title.trim().to_string()),
        description: Set(req.description.trim().to_string()),
        badge_icon: Set(req.badge_icon.filter(|i| !i.trim().is_empty())),
        criteria_type: Set(req.criteria_type),
        criteria_value: Set(req.criteria_value),
        xp_reward: Set(req.xp_reward),
        created_at: Set(now),
    }
    .insert(state.db.write())
    .await
    .map_err(name_taken)?;
    Ok(model.into())
}

/// `PATCH /admin/achievements/{id}`. Unlocks already made stay, with their XP; a lowered
/// threshold unlocks for qualifying users at their next evaluation.
pub async fn update_achievement(
    state: &AppState,
    id: Uuid,
    req: UpdateAchievementRequest,
) -> AppResult<AchievementDefinition> {
    let txn = state.db.begin_write().await?;
    let existing = achievements::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("achievement"))?;
    let mut active: achievements::ActiveModel = existing.clone().into();
    let UpdateAchievementRequest {
        title,
        description,
        badge_icon,
        criteria_type,
        criteria_value,
        xp_reward,
    } = req;
    if let Some(v) = title {
        active.title = Set(v.trim().to_string());
    }
    if let Some(v) = description {
        active.description = Set(v.trim().to_string());
    }
    if let Some(v) = badge_icon {
        active.badge_icon = Set(v.filter(|i| !i.trim().is_empty()));
    }
    if let Some(v) = criteria_type {
        active.criteria_type = Set(v);
    }
    if let Some(v) = criteria_value {
        active.criteria_value = Set(v);
    }
    if let Some(v) = xp_reward {
        active.xp_reward = Set(v);
    }
    if !active.is_changed() {
        return Ok(existing.into());
    }
    let model = active.update(&txn).await.map_err(name_taken)?;
    txn.commit().await?;
    Ok(model.into())
}

/// `DELETE /admin/achievements/{id}`: removes the definition and its unlocks (cascade); the
/// XP once awarded for it stays, as XP is the history of what was earned.
pub async fn delete_achievement(state: &AppState, id: Uuid) -> AppResult<()> {
    let res = achievements::Entity::delete_by_id(id)
        .exec(state.db.write())
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::NotFound("achievement"));
    }
    Ok(())
}
