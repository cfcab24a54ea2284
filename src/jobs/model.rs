//! Request and response types of the admin job endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entity::jobs;

/// A background job as an admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    /// What the job does, e.g. `email.send` or `maintenance.run`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `dead`.
    pub status: String,
    /// Attempts started so far (a claim counts one).
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not run before this time (the next retry, for a failed job).
    pub run_at: DateTime<Utc>,
    /// End of the running worker's lease.
    pub locked_until: Option<DateTime<Utc>>,
    /// The worker (and claim) that last ran it.
    pub locked_by: Option<String>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<jobs::Model> for JobView {
    fn from(j: jobs::Model) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            payload: j.payload,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            locked_until: j.locked_until,
            locked_by: j.locked_by,
            last_error: j.last_error,
            unique_key: j.unique_key,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// Filters of `GET /admin/jobs`, newest first.
#[derive(Debug, Deserialize, garde::Validate, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `queued`, `running`, `done` or `dead`.
    #[garde(inner(pattern("^(queued|running|done|dead)$")))]
    pub status: Option<String>,
    /// A job kind, e.g. `email.send`.
    #[garde(inner(length(min = 1, max = 100)))]
    pub kind: Option<String>,
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}
