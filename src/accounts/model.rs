//! Request and response types of the accounts area. Requests reject unknown fields and are
//! validated field by field before any rule runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entity::{user_profiles, users};
use crate::http::validate::{http_url, not_blank, present};

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[garde(email, length(max = 254))]
    pub email: String,
    /// 8 to 128 characters, not a common password.
    #[garde(skip)]
    pub password: String,
    #[garde(length(min = 1, max = 100), custom(not_blank))]
    pub full_name: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(min = 1, max = 254))]
    pub email: String,
    #[garde(length(min = 1, max = 1024))]
    pub password: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleSignInRequest {
    /// The ID token Google Identity Services gave the client.
    #[garde(length(min = 1, max = 8192))]
    pub id_token: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[garde(length(min = 1, max = 512))]
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the email.
    #[garde(length(min = 1, max = 512))]
    pub token: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[garde(length(min = 1, max = 254))]
    pub email: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    #[garde(length(min = 1, max = 512))]
    pub token: String,
    #[garde(skip)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[garde(length(max = 1024))]
    pub current_password: String,
    #[garde(skip)]
    pub new_password: String,
}

/// Fields left out stay as they are; `null` clears an optional text field.
#[derive(Debug, Default, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[garde(inner(length(min = 1, max = 100), custom(not_blank)))]
    pub full_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2048), custom(http_url))))]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2000))))]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 50))))]
    pub grade_level: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 200))))]
    pub school: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 2000))))]
    pub learning_goals: Option<Option<String>>,
    #[garde(inner(length(max = 20), inner(length(min = 1, max = 100))))]
    pub preferred_subjects: Option<Vec<String>>,
    /// Minutes a day the student means to study, 1 to 1440.
    #[garde(inner(range(min = 1, max = 1440)))]
    pub daily_goal_minutes: Option<i32>,
    /// An IANA time zone such as `Europe/Berlin` or `Asia/Kolkata`; streak days follow it.
    #[garde(inner(custom(valid_timezone)))]
    pub timezone: Option<String>,
    /// What the student studies for, e.g. "pass my final exams".
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 200))))]
    pub primary_goal: Option<Option<String>>,
    /// How the student likes to study, e.g. "short daily sessions".
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    #[garde(inner(inner(length(max = 200))))]
    pub study_preference: Option<Option<String>>,
    /// Becomes true by itself once `primary_goal` and `study_preference` are both set.
    #[garde(skip)]
    pub onboarding_completed: Option<bool>,
}

fn valid_timezone(value: &str, _: &()) -> garde::Result {
    value
        .parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| garde::Error::new("not an IANA time zone name (e.g. Europe/Berlin)"))
}

/// A user as others with access may see them: never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    /// `email` or `google`: how the account signed up, or `google` once linked to Google.
    pub auth_provider: String,
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            auth_provider: u.auth_provider,
            role: u.role,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A user in the admin's list: the account and the name from its profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub full_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub full_name: String,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub grade_level: Option<String>,
    pub school: Option<String>,
    pub learning_goals: Option<String>,
    pub preferred_subjects: Vec<String>,
    pub daily_goal_minutes: i32,
    pub timezone: String,
    pub primary_goal: Option<String>,
    pub study_preference: Option<String>,
    pub onboarding_completed: bool,
}

impl From<user_profiles::Model> for ProfileView {
    fn from(p: user_profiles::Model) -> Self {
        Self {
            full_name: p.full_name,
            avatar_url: p.avatar_url,
            bio: p.bio,
            grade_level: p.grade_level,
            school: p.school,
            learning_goals: p.learning_goals,
            preferred_subjects: p
                .preferred_subjects
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            daily_goal_minutes: p.daily_goal_minutes,
            timezone: p.timezone,
            primary_goal: p.primary_goal,
            study_preference: p.study_preference,
            onboarding_completed: p.onboarding_completed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    pub message: &'static str,
}

#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateUserRequest {
    /// `student` or `admin`.
    #[garde(inner(pattern("^(student|admin)$")))]
    pub role: Option<String>,
    /// Deactivating ends every session of the user at once.
    #[garde(skip)]
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminUserQuery {
    /// Part of an email or name.
    #[garde(inner(length(max = 100)))]
    pub q: Option<String>,
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    #[garde(skip)]
    pub cursor: Option<String>,
}
