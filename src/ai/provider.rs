//! The one interface every AI feature calls: a tutor reply (streamed), a generated quiz, and
//! embeddings. An enum rather than a trait object: there are exactly two providers, both are
//! cheap to clone, and `async fn` in a trait object would need boxing everywhere.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{AiError, Source, Usage, offline, openai};
use crate::config::{AiPrice, Config};

/// Who said a turn of a doubt session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// What the tutor is asked.
#[derive(Debug, Clone, Default)]
pub struct TutorRequest {
    pub question: String,
    /// Earlier turns, oldest first; the provider trims them to its budget.
    pub history: Vec<Turn>,
    /// The retrieved passages: the only grounding the reply may use, cited as `[n]` in this
    /// order. Empty means nothing relevant was found.
    pub sources: Vec<Source>,
    pub topic_title: Option<String>,
    /// Correct answers of quiz questions the student has not submitted: never revealed.
    pub protected_answers: Vec<String>,
}

/// One item of a tutor reply stream: text deltas, then exactly one `Done` last. An `Err` item
/// ends the stream instead of `Done`; the reply is then incomplete and must not be stored.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Delta(String),
    Done(Usage),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, AiError>> + Send>>;

/// What a quiz is generated from.
#[derive(Debug, Clone)]
pub struct QuizRequest {
    pub topic_title: String,
    pub num_questions: usize,
    pub sources: Vec<Source>,
}

/// A question as the provider produced it: not validated (the quiz area repairs or rejects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedQuestion {
    pub question_text: String,
    pub options: Vec<String>,
    pub correct_answer: String,
    pub explanation: Option<String>,
    /// The source the question was drawn from, when known.
    pub source_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedQuiz {
    pub title: String,
    pub questions: Vec<GeneratedQuestion>,
    pub usage: Usage,
}

/// The configured AI provider.
#[derive(Debug, Clone)]
pub enum Provider {
    /// The default: deterministic, no network, zero cost.
    Offline(offline::Offline),
    /// Any OpenAI-compatible HTTP service (`STUDIUM_AI_BASE_URL`).
    OpenAi(Arc<openai::OpenAi>),
}

impl Provider {
    /// The OpenAI-compatible provider when `ai_base_url` is set, else the offline one.
    pub fn from_config(config: &Config) -> anyhow::Result<Provider> {
        match &config.ai_base_url {
            Some(_) => Ok(Provider::OpenAi(Arc::new(openai::OpenAi::from_config(
                config,
            )?))),
            None => Ok(Provider::Offline(offline::Offline)),
        }
    }

    /// The model name tutor replies and quizzes are logged under.
    pub fn chat_model(&self) -> &str {
        match self {
            Provider::Offline(_) => offline::CHAT_MODEL,
            Provider::OpenAi(p) => p.chat_model(),
        }
    }

    /// The model name embeddings are logged (and stored) under.
    pub fn embedding_model(&self) -> &str {
        match self {
            Provider::Offline(_) => offline::EMBEDDING_MODEL,
            Provider::OpenAi(p) => p.embedding_model(),
        }
    }

    /// A tutor reply, streamed. A returned `Err` means nothing was produced at all.
    pub async fn tutor(&self, req: TutorRequest) -> Result<ChatStream, AiError> {
        match self {
            Provider::Offline(p) => {
                let p = *p;
                on_blocking_thread(move || p.tutor(&req)).await
            }
            Provider::OpenAi(p) => p.tutor(req).await,
        }
    }

    pub async fn generate_quiz(&self, req: QuizRequest) -> Result<GeneratedQuiz, AiError> {
        match self {
            Provider::Offline(p) => {
                let p = *p;
                on_blocking_thread(move || p.generate_quiz(&req)).await
            }
            Provider::OpenAi(p) => p.generate_quiz(req).await,
        }
    }

    /// One vector per text, in order.
    pub async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        match self {
            Provider::Offline(p) => {
                let (p, texts) = (*p, texts.to_vec());
                on_blocking_thread(move || p.embed(&texts)).await
            }
            Provider::OpenAi(p) => p.embed(texts).await,
        }
    }
}

/// The offline provider's work, computation where a hosted provider would wait on the
/// network, off the async workers ([`crate::cpu`]).
async fn on_blocking_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AiError> {
    crate::cpu::run(work)
        .await
        .map_err(|err| AiError::Unavailable(format!("the offline provider stopped: {err}")))
}

/// The cost of `prompt` + `completion` tokens of `price`, in US dollars, exact.
pub fn cost(price: Option<&AiPrice>, prompt: u32, completion: u32) -> Decimal {
    let Some(price) = price else {
        return Decimal::ZERO;
    };
    let million = Decimal::from(1_000_000);
    (Decimal::from(prompt) * price.input_per_million
        + Decimal::from(completion) * price.output_per_million)
        / million
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_exact_per_million_tokens() {
        let price = AiPrice {
            input_per_million: Decimal::new(15, 2),
            output_per_million: Decimal::new(60, 2),
        };
        // 1000 * 0.15 / 1e6 + 500 * 0.60 / 1e6 = 0.00015 + 0.0003
        assert_eq!(cost(Some(&price), 1000, 500), Decimal::new(45, 5));
        assert_eq!(cost(None, 1000, 500), Decimal::ZERO);
    }
}
