//! AI: the providers behind the tutor, quiz generation and embeddings (SPEC §3 "Offline AI
//! provider"), and the usage control every call passes through (`usage`).
//!
//! One interface, [`Provider`], with two implementations: the offline provider (the default:
//! deterministic, no network, zero cost) and an OpenAI-compatible HTTP provider. Callers never
//! see which one runs; they reserve an allowance with [`usage::reserve`] first and settle it with
//! the [`Usage`] the provider reports.

pub mod offline;
pub mod openai;
pub mod provider;
pub mod tokens;
pub mod usage;
pub mod usage_model;
pub mod usage_report;
pub mod usage_routes;

pub use provider::Provider;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an AI call is for: the seed's `ai_usage_logs.feature_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// A tutor reply in a doubt session.
    Doubt,
    /// Quiz generation.
    Quiz,
    /// Embedding an uploaded material's chunks.
    Material,
}

impl Feature {
    pub const ALL: [Feature; 3] = [Feature::Doubt, Feature::Quiz, Feature::Material];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Doubt => "doubt",
            Feature::Quiz => "quiz",
            Feature::Material => "material",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == value)
    }
}

/// What one call consumed, as the provider reports it; the reservation settles to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// US dollars, exact, from the configured price table (zero for the offline provider).
    pub cost: Decimal,
}

impl Usage {
    pub fn total_tokens(&self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Where a grounding passage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A `lesson_passages` row; `parent_id` is the lesson.
    Lesson,
    /// A `material_chunks` row; `parent_id` is the material.
    Material,
}

/// A passage the tutor may answer from and cite.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    /// The passage or chunk id: what a citation names.
    pub id: Uuid,
    /// The lesson or material it belongs to.
    pub parent_id: Uuid,
    pub heading: Option<String>,
    pub text: String,
}

/// Why a provider call failed. Every variant is a clear, client-facing error; none leaves a
/// half reply stored.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AiError {
    /// The provider answered 5xx or could not be reached, after the retries.
    #[error("the AI provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider kept answering 429 after the retries.
    #[error("the AI provider is rate limiting this server")]
    RateLimited { retry_after_secs: Option<u64> },
    /// No answer within the configured timeout.
    #[error("the AI provider did not answer in time")]
    Timeout,
    /// The answer could not be used (malformed JSON, a stream cut half-way, …).
    #[error("the AI provider gave an unusable answer: {0}")]
    Malformed(String),
}
