//! `users`: a person who can sign in.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub is_active: bool,
    /// How the account signed up or was last linked: "email" or "google".
    pub auth_provider: String,
    pub is_verified: bool,
    #[sea_orm(unique)]
    pub google_id: Option<String>,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::user_profiles::Entity")]
    UserProfiles,
    #[sea_orm(has_many = "super::auth_sessions::Entity")]
    AuthSessions,
    #[sea_orm(has_many = "super::refresh_tokens::Entity")]
    RefreshTokens,
    #[sea_orm(has_many = "super::email_tokens::Entity")]
    EmailTokens,
    #[sea_orm(has_many = "super::lesson_progress::Entity")]
    LessonProgress,
    #[sea_orm(has_many = "super::study_sessions::Entity")]
    StudySessions,
    #[sea_orm(has_one = "super::user_streaks::Entity")]
    UserStreaks,
    #[sea_orm(has_many = "super::xp_logs::Entity")]
    XpLogs,
    #[sea_orm(has_many = "super::user_achievements::Entity")]
    UserAchievements,
    #[sea_orm(has_many = "super::topic_progress::Entity")]
    TopicProgress,
    #[sea_orm(has_many = "super::doubt_sessions::Entity")]
    DoubtSessions,
    #[sea_orm(has_many = "super::ai_usage_logs::Entity")]
    AiUsageLogs,
    #[sea_orm(has_many = "super::quizzes::Entity", via_rel = "Relation::Creator")]
    CreatedQuizzes,
    #[sea_orm(has_many = "super::quizzes::Entity", via_rel = "Relation::Owner")]
    OwnedQuizzes,
    #[sea_orm(has_many = "super::quiz_attempts::Entity")]
    QuizAttempts,
    #[sea_orm(has_many = "super::materials::Entity")]
    Materials,
    #[sea_orm(has_many = "super::friends::Entity", via_rel = "Relation::Requester")]
    SentFriendRequests,
    #[sea_orm(has_many = "super::friends::Entity", via_rel = "Relation::Addressee")]
    ReceivedFriendRequests,
    #[sea_orm(has_many = "super::user_recommendations::Entity")]
    UserRecommendations,
    #[sea_orm(has_many = "super::subscriptions::Entity")]
    Subscriptions,
    #[sea_orm(has_many = "super::payments::Entity")]
    Payments,
}

impl Related<super::user_profiles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserProfiles.def()
    }
}

impl Related<super::auth_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AuthSessions.def()
    }
}

impl Related<super::refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl Related<super::email_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EmailTokens.def()
    }
}

impl Related<super::lesson_progress::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LessonProgress.def()
    }
}

impl Related<super::study_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudySessions.def()
    }
}

impl Related<super::user_streaks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserStreaks.def()
    }
}

impl Related<super::xp_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::XpLogs.def()
    }
}

impl Related<super::user_achievements::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserAchievements.def()
    }
}

impl Related<super::topic_progress::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TopicProgress.def()
    }
}

impl Related<super::doubt_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DoubtSessions.def()
    }
}

impl Related<super::ai_usage_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AiUsageLogs.def()
    }
}

impl Related<super::quiz_attempts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::QuizAttempts.def()
    }
}

impl Related<super::materials::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Materials.def()
    }
}

impl Related<super::user_recommendations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserRecommendations.def()
    }
}

impl Related<super::subscriptions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subscriptions.def()
    }
}

impl Related<super::payments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Payments.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
