//! `user_profiles`: a user's profile and preferences (one per user).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "user_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub user_id: Uuid,
    pub full_name: String,
    pub avatar_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub bio: Option<String>,
    pub grade_level: Option<String>,
    pub school: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub learning_goals: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub preferred_subjects: Option<Json>,
    pub daily_goal_minutes: i32,
    pub timezone: String,
    pub primary_goal: Option<String>,
    pub study_preference: Option<String>,
    pub onboarding_completed: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Users: UserId -> users,
}

impl ActiveModelBehavior for ActiveModel {}
