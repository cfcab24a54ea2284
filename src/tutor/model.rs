//! Request and response types of the tutor's doubt sessions (SPEC §4 tutor row).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ai::SourceKind;
use crate::entity::{doubt_messages, doubt_sessions};

/// The longest question a student may ask, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Session titles are the first words of the first question, at most this many characters.
pub const TITLE_CHARS: usize = 80;

/// `POST /doubts`: a new thread with its first question.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDoubtRequest {
    /// The topic the question is about: answers are grounded in its lessons. Without one, in
    /// every lesson.
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
    /// The question, 1 to 4000 characters.
    #[garde(length(chars, min = 1, max = MAX_MESSAGE_CHARS))]
    pub message: String,
}

/// `POST /doubts/{id}/messages`: a follow-up question in a thread.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// The question, 1 to 4000 characters.
    #[garde(length(chars, min = 1, max = MAX_MESSAGE_CHARS))]
    pub message: String,
}

/// A doubt session (thread).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoubtSessionView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub topic_id: Option<Uuid>,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<doubt_sessions::Model> for DoubtSessionView {
    fn from(m: doubt_sessions::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            topic_id: m.topic_id,
            title: m.title,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A passage a reply is grounded in; `[n]` in the reply's text refers to it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    /// The number the reply cites it by, from 1.
    pub n: u32,
    pub kind: SourceKind,
    /// The lesson passage's (or material chunk's) id.
    pub id: Uuid,
    /// The lesson (or material) it belongs to.
    pub parent_id: Uuid,
    /// The heading of the passage's section, if any.
    pub heading: Option<String>,
    /// The passage's opening words.
    pub excerpt: String,
}

/// One message of a thread: the student's question (`user`) or the tutor's reply
/// (`assistant`, with its citations).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoubtMessageView {
    pub id: Uuid,
    pub doubt_session_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub message_text: String,
    pub citations: Vec<Citation>,
    /// Tokens the reply took (prompt and completion), for assistant messages.
    pub tokens_used: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<doubt_messages::Model> for DoubtMessageView {
    fn from(m: doubt_messages::Model) -> Self {
        let citations = m
            .citations
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_default();
        Self {
            id: m.id,
            doubt_session_id: m.doubt_session_id,
            role: m.role,
            message_text: m.message_text,
            citations,
            tokens_used: m.tokens_used,
            created_at: m.created_at,
        }
    }
}

/// A thread with its messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoubtDetail {
    #[serde(flatten)]
    pub session: DoubtSessionView,
    pub messages: Vec<DoubtMessageView>,
}

/// A question and the tutor's reply, both stored. With `Accept: text/event-stream` this is the
/// data of the final `message` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeResponse {
    pub doubt_session: DoubtSessionView,
    pub user_message: DoubtMessageView,
    pub assistant_message: DoubtMessageView,
    /// XP the question earned: 2, none past 10 a day.
    pub xp_awarded: i32,
    /// Achievements the question unlocked.
    pub achievements_unlocked: Vec<Uuid>,
    /// Whether the answer of a quiz question you have not submitted yet was hidden in the reply.
    pub answer_withheld: bool,
}

/// The data of a streamed reply's `delta` events.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeltaEvent {
    pub text: String,
}

/// A cited passage's whole text, for showing it in place; `position` is a lesson passage's
/// place in its lesson (none for a material chunk).
#[derive(Debug, Clone)]
pub struct CitedPassage {
    pub position: Option<i32>,
    pub text: String,
}
