//! Request and response types of the social area.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `GET /users/search?q=`: a name prefix or an exact email address.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserSearchQuery {
    /// At least 2 characters: the start of a name, or a whole email address.
    #[garde(length(chars, min = 2, max = 254))]
    pub q: String,
    /// How many users, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
}

/// Another user as search and friend lists show them: the id and the name, nothing else.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUser {
    pub id: Uuid,
    pub full_name: String,
}

/// `POST /friends/requests`: exactly one of `addressee_id` and `email`.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestBody {
    #[garde(skip)]
    pub addressee_id: Option<Uuid>,
    #[garde(inner(length(chars, min = 3, max = 254)))]
    pub email: Option<String>,
}

/// Which requests `GET /friends/requests` lists.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Requests others sent me (the default).
    #[default]
    Incoming,
    /// Requests I sent.
    Outgoing,
}

#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FriendRequestListQuery {
    /// `incoming` (default) or `outgoing`.
    #[garde(skip)]
    #[param(inline)]
    pub direction: Option<Direction>,
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}

/// A friend request or friendship (`friends` row) with the other user of the pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendRequestView {
    pub id: Uuid,
    pub requester_id: Uuid,
    pub addressee_id: Uuid,
    /// `pending` or `accepted`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The other user of the pair, seen from the caller.
    pub other_user: PublicUser,
}

/// One of my friends, with their progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendView {
    pub user_id: Uuid,
    pub full_name: String,
    pub total_xp: i64,
    pub level: i32,
    pub current_streak: i32,
    /// When the friendship was accepted.
    pub friends_since: DateTime<Utc>,
}
