//! The OpenAI-compatible provider: OpenAI, Azure, OpenRouter, vLLM, Ollama, llama.cpp server —
//! anything that speaks `/chat/completions` and `/embeddings`.
//!
//! Requests and responses are async-openai's types (the wire format, kept up to date by that
//! crate), but the request loop is our own over reqwest: async-openai's client retries with its
//! own backoff and cannot honour `Retry-After` exactly, cap the wait, or tell "the stream was
//! cut" apart from "the stream ended". Here:
//! - 429, 5xx and connection errors are retried (`ai_max_retries`) with exponential backoff and
//!   jitter, waiting `Retry-After` seconds instead when the provider says so (capped);
//! - no answer within `ai_timeout_secs` is [`AiError::Timeout`], not retried (the student has
//!   already waited that long); while streaming, the same timeout applies between two chunks;
//! - a stream is never retried once it has started: a stream that ends before `[DONE]` yields an
//!   error item and no `Done`, so no half reply is ever stored as complete;
//! - protected quiz answers are masked in the streamed text even if the model writes them
//!   despite the system prompt (`AnswerGuard`).

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CompletionUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, ResponseFormat,
    ResponseFormatJsonSchema,
};
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput, EncodingFormat,
};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;

use super::provider::{
    ChatEvent, ChatStream, GeneratedQuestion, GeneratedQuiz, QuizRequest, Role, TutorRequest, cost,
};
use super::{AiError, Source, Usage, tokens};
use crate::config::{AiPrice, Config};

/// The longest wait between two attempts, whatever `Retry-After` asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// The first backoff step; each retry doubles it.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// Tokens of conversation history sent with a tutor question.
const HISTORY_BUDGET: usize = 3_000;

pub struct OpenAi {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    chat_model: String,
    embedding_model: String,
    timeout: Duration,
    max_retries: u32,
    prices: BTreeMap<String, AiPrice>,
}

impl std::fmt::Debug for OpenAi {
    // The API key is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("base_url", &self.base_url)
            .field("chat_model", &self.chat_model)
            .field("embedding_model", &self.embedding_model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let base_url = config
            .ai_base_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("STUDIUM_AI_BASE_URL is not set"))?;
        for model in [&config.ai_chat_model, &config.ai_embedding_model] {
            if !config.ai_prices.contains_key(model) {
                tracing::warn!(
                    model = %model,
                    "no price configured for this model (STUDIUM_AI_PRICES): its calls are logged at zero cost"
                );
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.ai_timeout_secs))
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: config.ai_api_key.clone().filter(|k| !k.is_empty()),
            chat_model: config.ai_chat_model.clone(),
            embedding_model: config.ai_embedding_model.clone(),
            timeout: Duration::from_secs(config.ai_timeout_secs),
            max_retries: config.ai_max_retries,
            prices: config.ai_prices.clone(),
        })
    }

    pub fn chat_model(&self) -> &str {
        &self.chat_model
    }

    pub fn embedding_model(&self) -> &str {
        &self.embedding_model
    }

    fn usage(&self, model: &str, prompt: u32, completion: u32) -> Usage {
        Usage {
            model: model.to_string(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cost: cost(self.prices.get(model), prompt, completion),
        }
    }

    /// POSTs `body` to `path` until a success status, with the retries described above.
    async fn send(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, AiError> {
        let url = format!("{}{}", self.base_url, path);
        let mut attempt = 0;
        loop {
            let mut request = self.http.post(&url).json(body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let outcome = tokio::time::timeout(self.timeout, request.send()).await;
            let (error, retry_after) = match outcome {
                Err(_) => return Err(AiError::Timeout),
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        (
                            AiError::RateLimited {
                                retry_after_secs: retry_after,
                            },
                            retry_after,
                        )
                    } else if status.is_server_error() {
                        (
                            AiError::Unavailable(format!("the provider answered {status}")),
                            retry_after,
                        )
                    } else {
                        // 4xx: our request or key is wrong; trying again will not help.
                        let text = response.text().await.unwrap_or_default();
                        let text: String = text.chars().take(300).collect();
                        tracing::error!(%status, body = %text, "the AI provider refused a request");
                        return Err(AiError::Unavailable(format!(
                            "the provider refused the request ({status})"
                        )));
                    }
                }
                Ok(Err(e)) if e.is_timeout() => return Err(AiError::Timeout),
                Ok(Err(e)) => (
                    AiError::Unavailable(format!("could not reach the provider: {e}")),
                    None,
                ),
            };
            if attempt >= self.max_retries {
                return Err(error);
            }
            let wait = match retry_after {
                Some(secs) => Duration::from_secs(secs).min(MAX_WAIT),
                None => backoff(attempt),
            };
            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying the AI provider");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The whole body of a non-streamed answer, within the timeout.
    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, AiError> {
        let bytes = match tokio::time::timeout(self.timeout, response.bytes()).await {
            Err(_) => return Err(AiError::Timeout),
            Ok(Err(e)) => return Err(AiError::Malformed(format!("the answer was cut: {e}"))),
            Ok(Ok(bytes)) => bytes,
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| AiError::Malformed(format!("not the expected JSON: {e}")))
    }

    pub async fn tutor(&self, req: TutorRequest) -> Result<ChatStream, AiError> {
        let messages = tutor_messages(&req, &self.chat_model);
        let prompt_estimate: usize = messages
            .iter()
            .map(|m| tokens::count_message(&self.chat_model, message_text(m)))
            .sum();
        let body = CreateChatCompletionRequest {
            model: self.chat_model.clone(),
            messages,
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = self.send("/chat/completions", &body).await?;
        let state = SseState {
            body: Box::pin(response.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            buffer: Vec::new(),
            queue: VecDeque::new(),
            text: String::new(),
            usage: None,
            ended: false,
            idle_timeout: self.timeout,
            model: self.chat_model.clone(),
            guard: AnswerGuard::new(&req.protected_answers),
            prompt_estimate,
            price: self.prices.get(&self.chat_model).cloned(),
        };
        Ok(Box::pin(futures_util::stream::unfold(state, next_event)))
    }

    pub async fn generate_quiz(&self, req: QuizRequest) -> Result<GeneratedQuiz, AiError> {
        let body = CreateChatCompletionRequest {
            model: self.chat_model.clone(),
            messages: quiz_messages(&req),
            response_format: Some(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: Some("A multiple-choice quiz".into()),
                    name: "quiz".into(),
                    schema: quiz_schema(),
                    strict: Some(true),
                },
            }),
            ..Default::default()
        };
        let response = self.send("/chat/completions", &body).await?;
        let answer: CreateChatCompletionResponse = self.read_json(response).await?;
        let content = answer
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| AiError::Malformed("the answer has no content".into()))?;
        let quiz: QuizJson = serde_json::from_str(&content)
            .map_err(|e| AiError::Malformed(format!("the quiz is not the expected JSON: {e}")))?;
        let usage = match answer.usage {
            Some(u) => self.usage(&self.chat_model, u.prompt_tokens, u.completion_tokens),
            None => self.usage(
                &self.chat_model,
                tokens::to_u32(
                    body.messages
                        .iter()
                        .map(|m| tokens::count_message(&self.chat_model, message_text(m)))
                        .sum(),
                ),
                tokens::to_u32(tokens::count(&self.chat_model, &content)),
            ),
        };
        let questions = quiz
            .questions
            .into_iter()
            .map(|q| GeneratedQuestion {
                question_text: q.question_text,
                options: q.options,
                correct_answer: q.correct_answer,
                explanation: q.explanation,
                source_id: q
                    .source
                    .and_then(|n| usize::try_from(n).ok())
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| req.sources.get(i))
                    .map(|s| s.id),
            })
            .collect();
        Ok(GeneratedQuiz {
            title: quiz.title,
            questions,
            usage,
        })
    }

    pub async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        if texts.is_empty() {
            return Ok((Vec::new(), self.usage(&self.embedding_model, 0, 0)));
        }
        let body = CreateEmbeddingRequest {
            model: self.embedding_model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            encoding_format: Some(EncodingFormat::Float),
            user: None,
            dimensions: None,
        };
        let response = self.send("/embeddings", &body).await?;
        let mut answer: CreateEmbeddingResponse = self.read_json(response).await?;
        if answer.data.len() != texts.len() {
            return Err(AiError::Malformed(format!(
                "{} embeddings for {} texts",
                answer.data.len(),
                texts.len()
            )));
        }
        answer.data.sort_by_key(|e| e.index);
        let usage = self.usage(&self.embedding_model, answer.usage.prompt_tokens, 0);
        Ok((
            answer.data.into_iter().map(|e| e.embedding).collect(),
            usage,
        ))
    }
}

/// Exponential backoff with jitter: a random wait in [d/2, d] where d doubles each attempt.
fn backoff(attempt: u32) -> Duration {
    let full = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_WAIT);
    let half = full / 2;
    let jitter_ms = rand::random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

fn message_text(message: &ChatCompletionRequestMessage) -> &str {
    use async_openai::types::chat::{
        ChatCompletionRequestAssistantMessageContent as A,
        ChatCompletionRequestSystemMessageContent as S,
        ChatCompletionRequestUserMessageContent as U,
    };
    match message {
        ChatCompletionRequestMessage::System(m) => match &m.content {
            S::Text(t) => t,
            _ => "",
        },
        ChatCompletionRequestMessage::User(m) => match &m.content {
            U::Text(t) => t,
            _ => "",
        },
        ChatCompletionRequestMessage::Assistant(m) => match &m.content {
            Some(A::Text(t)) => t,
            _ => "",
        },
        _ => "",
    }
}

fn system(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
        content: text.into(),
        name: None,
    })
}

fn user(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: text.into(),
        name: None,
    })
}

fn assistant(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
        content: Some(text.into()),
        ..Default::default()
    })
}

/// The sources as the prompt numbers them: `[n]` is `sources[n - 1]`.
fn numbered_sources(sources: &[Source]) -> String {
    let mut out = String::new();
    for (i, source) in sources.iter().enumerate() {
        out.push_str(&format!("[{}]", i + 1));
        if let Some(heading) = &source.heading {
            out.push_str(&format!(" ({})", heading.trim()));
        }
        out.push('\n');
        out.push_str(source.text.trim());
        out.push_str("\n\n");
    }
    out
}

fn tutor_messages(req: &TutorRequest, model: &str) -> Vec<ChatCompletionRequestMessage> {
    let mut prompt = String::from(
        "You are Studium's tutor, helping a student understand their course.\n\
         Answer ONLY from the numbered sources below: they are the student's own lessons and \
         notes. Cite every fact you use with its source number in square brackets, like [1] or \
         [2]. Do not use outside knowledge.\n\
         If the sources do not cover the question, say plainly that the student's lessons and \
         notes don't cover this, and suggest rephrasing the question or picking the topic it \
         belongs to.\n\
         Teach rather than hand over answers: explain the idea, then end with one short \
         question that makes the student think.\n",
    );
    if let Some(topic) = req.topic_title.as_deref().filter(|t| !t.trim().is_empty()) {
        prompt.push_str(&format!(
            "The student is studying the topic \"{}\".\n",
            topic.trim()
        ));
    }
    let protected: Vec<&str> = req
        .protected_answers
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    if !protected.is_empty() {
        prompt.push_str(
            "The student has a quiz in progress. Never state, spell, translate or hint at any of \
             these answers, even if asked directly; guide the student to reason it out instead:\n",
        );
        for answer in protected {
            prompt.push_str(&format!("- {answer}\n"));
        }
    }
    if req.sources.is_empty() {
        prompt.push_str("\nSources: none were found for this question.\n");
    } else {
        prompt.push_str("\nSources:\n\n");
        prompt.push_str(&numbered_sources(&req.sources));
    }
    let mut messages = vec![system(prompt)];
    for turn in tokens::trim_history(&req.history, HISTORY_BUDGET, model) {
        messages.push(match turn.role {
            Role::User => user(turn.text),
            Role::Assistant => assistant(turn.text),
        });
    }
    messages.push(user(req.question.clone()));
    messages
}

fn quiz_messages(req: &QuizRequest) -> Vec<ChatCompletionRequestMessage> {
    let prompt = format!(
        "Write a multiple-choice quiz of {n} questions on \"{topic}\" for a student, using ONLY \
         the numbered sources below. Each question has 4 distinct options (at least 2), exactly \
         one of which is correct; `correct_answer` repeats that option exactly. `explanation` \
         says why, quoting the source; `source` is the number of the source the question comes \
         from. The answer must not appear in the question text.\n\nSources:\n\n{sources}",
        n = req.num_questions,
        topic = req.topic_title.trim(),
        sources = numbered_sources(&req.sources),
    );
    vec![
        system(prompt),
        user(format!(
            "Generate the quiz on \"{}\".",
            req.topic_title.trim()
        )),
    ]
}

/// The structured output the quiz prompt asks for (strict mode: every field required).
fn quiz_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "questions"],
        "properties": {
            "title": { "type": "string" },
            "questions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["question_text", "options", "correct_answer", "explanation", "source"],
                    "properties": {
                        "question_text": { "type": "string" },
                        "options": { "type": "array", "items": { "type": "string" } },
                        "correct_answer": { "type": "string" },
                        "explanation": { "type": ["string", "null"] },
                        "source": { "type": ["integer", "null"] }
                    }
                }
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuizJson {
    title: String,
    questions: Vec<QuestionJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionJson {
    question_text: String,
    options: Vec<String>,
    correct_answer: String,
    #[serde(default)]
    explanation: Option<String>,
    #[serde(default)]
    source: Option<i64>,
}

/// Masks protected answers in a streamed reply, should the model write one despite its
/// instructions. An answer may be split across deltas, so the text is held back until a word
/// boundary at least one answer's length behind the newest text.
struct AnswerGuard {
    protected: Vec<String>,
    /// The longest answer, in characters.
    longest: usize,
    pending: String,
}

impl AnswerGuard {
    fn new(protected: &[String]) -> Self {
        let protected: Vec<String> = protected
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let longest = protected
            .iter()
            .map(|a| a.chars().count())
            .max()
            .unwrap_or(0);
        Self {
            protected,
            longest,
            pending: String::new(),
        }
    }

    /// What can be sent of the text so far.
    fn push(&mut self, delta: &str) -> Option<String> {
        if self.protected.is_empty() {
            return Some(delta.to_string()).filter(|d| !d.is_empty());
        }
        self.pending.push_str(delta);
        let (masked, _) = super::offline::mask_protected(&self.pending, &self.protected);
        // Keep the last `longest` characters, and cut at whitespace so that the kept part
        // starts a word.
        let keep_from = masked
            .char_indices()
            .rev()
            .nth(self.longest)
            .map_or(0, |(i, _)| i);
        let cut = masked[..keep_from]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map(|(i, c)| i + c.len_utf8());
        let cut = cut?;
        let safe = masked[..cut].to_string();
        self.pending = masked[cut..].to_string();
        Some(safe).filter(|s| !s.is_empty())
    }

    /// The rest, at the end of the reply.
    fn flush(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let (masked, _) = super::offline::mask_protected(&rest, &self.protected);
        Some(masked).filter(|m| !m.is_empty())
    }
}

/// The reading side of a streamed chat completion.
struct SseState {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: Vec<u8>,
    queue: VecDeque<Result<ChatEvent, AiError>>,
    /// Everything delivered so far, to count tokens when the provider reports no usage.
    text: String,
    usage: Option<CompletionUsage>,
    /// A final item (`Done` or an error) is queued: nothing follows it.
    ended: bool,
    idle_timeout: Duration,
    model: String,
    guard: AnswerGuard,
    prompt_estimate: usize,
    price: Option<AiPrice>,
}

impl SseState {
    fn finish(&mut self, item: Result<ChatEvent, AiError>) {
        self.queue.push_back(item);
        self.ended = true;
    }

    /// Handles the complete lines in the buffer.
    fn drain_lines(&mut self) {
        while !self.ended {
            let Some(newline) = self.buffer.iter().position(|b| *b == b'\n') else {
                return;
            };
            let line: Vec<u8> = self.buffer.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            let Some(data) = line.strip_prefix("data:") else {
                // Comments (": keep-alive"), `event:` and `id:` lines, blank separators.
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                if let Some(rest) = self.guard.flush() {
                    self.queue.push_back(Ok(ChatEvent::Delta(rest)));
                }
                let usage = self.final_usage();
                self.finish(Ok(ChatEvent::Done(usage)));
                return;
            }
            match serde_json::from_str::<CreateChatCompletionStreamResponse>(data) {
                Ok(chunk) => {
                    if let Some(usage) = chunk.usage {
                        self.usage = Some(usage);
                    }
                    for choice in chunk.choices {
                        if let Some(content) = choice.delta.content
                            && !content.is_empty()
                        {
                            self.text.push_str(&content);
                            if let Some(safe) = self.guard.push(&content) {
                                self.queue.push_back(Ok(ChatEvent::Delta(safe)));
                            }
                        }
                    }
                }
                Err(e) => {
                    // An error object in the stream, or garbage: either way the reply is lost.
                    let detail: String = data.chars().take(200).collect();
                    tracing::error!(error = %e, data = %detail, "unreadable chunk from the AI provider");
                    self.finish(Err(AiError::Malformed(format!(
                        "unreadable stream chunk: {e}"
                    ))));
                }
            }
        }
    }

    fn final_usage(&self) -> Usage {
        let (prompt, completion) = match &self.usage {
            Some(u) => (u.prompt_tokens, u.completion_tokens),
            None => (
                tokens::to_u32(self.prompt_estimate),
                tokens::to_u32(tokens::count(&self.model, &self.text)),
            ),
        };
        Usage {
            model: self.model.clone(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cost: cost(self.price.as_ref(), prompt, completion),
        }
    }
}

async fn next_event(mut state: SseState) -> Option<(Result<ChatEvent, AiError>, SseState)> {
    loop {
        if let Some(item) = state.queue.pop_front() {
            return Some((item, state));
        }
        if state.ended {
            return None;
        }
        match tokio::time::timeout(state.idle_timeout, state.body.next()).await {
            Err(_) => state.finish(Err(AiError::Timeout)),
            Ok(None) => {
                // A last line without its newline still counts.
                state.buffer.push(b'\n');
                state.drain_lines();
                if !state.ended {
                    state.finish(Err(AiError::Malformed("the stream ended early".into())));
                }
            }
            Ok(Some(Err(e))) => {
                state.finish(Err(AiError::Malformed(format!(
                    "the stream ended early: {e}"
                ))));
            }
            Ok(Some(Ok(bytes))) => {
                state.buffer.extend_from_slice(&bytes);
                state.drain_lines();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded(protected: &[&str], deltas: &[&str]) -> (String, usize) {
        let protected: Vec<String> = protected.iter().map(|p| p.to_string()).collect();
        let mut guard = AnswerGuard::new(&protected);
        let mut out = Vec::new();
        for d in deltas {
            out.extend(guard.push(d));
        }
        out.extend(guard.flush());
        (out.concat(), out.len())
    }

    #[test]
    fn protected_answers_split_across_deltas_are_masked() {
        let (text, _) = guarded(
            &["mitochondria", "ATP"],
            &[
                "It happens in the mito",
                "chondria, which ",
                "make A",
                "TP. A category.",
            ],
        );
        assert_eq!(text, "It happens in the ▢▢▢, which make ▢▢▢. A category.");
        let (text, _) = guarded(&["cat"], &["A category of ", "ca", "ts and a cat."]);
        assert_eq!(text, "A category of cats and a ▢▢▢.");
        // Without protected answers every delta passes through at once.
        let (text, n) = guarded(&[], &["one ", "two"]);
        assert_eq!((text.as_str(), n), ("one two", 2));
    }
}
