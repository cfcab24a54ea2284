//! Response types of the `me` area.

use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::model::{ProfileView, UserView};

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub profile: ProfileView,
    pub total_xp: i64,
    pub level: i32,
    pub current_streak: i32,
}
