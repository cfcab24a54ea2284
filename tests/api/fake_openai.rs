//! A fake OpenAI-compatible server on loopback, programmed per test: a queue of answers given
//! in order (JSON, SSE streams, errors with `Retry-After`, malformed bodies, a server that never
//! answers), and a record of the requests it received. Real HTTP, no mock traits.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use studium::ai::Provider;
use studium::config::Config;

/// One answer of the fake server.
pub enum Reply {
    /// A status with a JSON error body, and `Retry-After` when given.
    Error(u16, Option<u64>),
    /// 200 with this JSON.
    Json(Value),
    /// 200 with this body as `application/json` (for malformed answers).
    Raw(&'static str),
    /// 200 `text/event-stream`: these `data:` payloads, then `[DONE]` when `done`.
    Sse { data: Vec<Value>, done: bool },
    /// Never answers.
    Hang,
}

/// Path, `Authorization` header and JSON body of a request received.
pub type Received = (String, Option<String>, Value);

#[derive(Clone, Default)]
pub struct Fake {
    pub replies: Arc<Mutex<VecDeque<Reply>>>,
    pub requests: Arc<Mutex<Vec<Received>>>,
}

impl Fake {
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(State(fake): State<Fake>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.requests
        .lock()
        .unwrap()
        .push((uri.path().to_string(), auth, json));
    let reply = fake.replies.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no reply queued").into_response(),
        Some(Reply::Error(status, retry_after)) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"error": {"message": "try later", "type": "server_error"}})),
            )
                .into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            response
        }
        Some(Reply::Json(value)) => axum::Json(value).into_response(),
        Some(Reply::Raw(text)) => ([("content-type", "application/json")], text).into_response(),
        Some(Reply::Sse { data, done }) => {
            let mut events: Vec<String> = data.iter().map(|d| format!("data: {d}\n\n")).collect();
            if done {
                events.push("data: [DONE]\n\n".into());
            }
            let stream = futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>));
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Some(Reply::Hang) => {
            futures::future::pending::<()>().await;
            unreachable!()
        }
    }
}

/// Starts the fake server with `replies` queued; returns it and its base URL (`…/v1`).
pub async fn start(replies: Vec<Reply>) -> (Fake, String) {
    let fake = Fake::default();
    fake.replies.lock().unwrap().extend(replies);
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}/v1"))
}

/// Points `config` at the fake server: its URL, a key, a short timeout, two retries.
pub fn configure_for(config: &mut Config, base_url: &str) {
    config.ai_base_url = Some(base_url.to_string());
    config.ai_api_key = Some("sk-test".into());
    config.ai_timeout_secs = 5;
    config.ai_max_retries = 2;
}

/// Starts the fake server with `replies` queued; returns it and a provider pointed at it.
pub async fn fake(replies: Vec<Reply>, configure: impl FnOnce(&mut Config)) -> (Fake, Provider) {
    let (fake, base_url) = start(replies).await;
    let mut config = Config::default();
    configure_for(&mut config, &base_url);
    configure(&mut config);
    config.validate().unwrap();
    let provider = Provider::from_config(&config).unwrap();
    assert!(matches!(provider, Provider::OpenAi(_)));
    (fake, provider)
}

pub fn chunk(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]
    })
}

pub fn usage_chunk(prompt: u32, completion: u32) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
}

pub fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 800, "completion_tokens": 200, "total_tokens": 1000}
    })
}
