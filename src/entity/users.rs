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
pub enum Relation {}

impl Related<super::user_profiles::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_profiles::Relation::Users.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
