//! The OpenAI-compatible provider against a fake OpenAI-compatible server on loopback: each
//! test queues the answers the server gives, in order, and checks what the provider makes of
//! them — streaming, usage and cost, retries, timeouts, and unusable answers. No database.

use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use studium::ai::provider::{ChatEvent, QuizRequest, TutorRequest};
use studium::ai::{AiError, Provider, Source, SourceKind};
use studium::config::Config;
use uuid::Uuid;

use crate::fake_openai::*;

fn sources() -> Vec<Source> {
    vec![
        Source {
            kind: SourceKind::Lesson,
            id: Uuid::from_u128(1),
            parent_id: Uuid::from_u128(11),
            heading: Some("Respiration".into()),
            text: "Cellular respiration happens in the mitochondria.".into(),
        },
        Source {
            kind: SourceKind::Material,
            id: Uuid::from_u128(2),
            parent_id: Uuid::from_u128(12),
            heading: None,
            text: "ATP is the energy currency of the cell.".into(),
        },
    ]
}

fn question() -> TutorRequest {
    TutorRequest {
        question: "Where does respiration happen?".into(),
        sources: sources(),
        topic_title: Some("Cells".into()),
        protected_answers: vec!["mitochondria".into()],
        ..Default::default()
    }
}

/// Every item of a tutor stream.
async fn collect(provider: &Provider, req: TutorRequest) -> Vec<Result<ChatEvent, AiError>> {
    provider.tutor(req).await.unwrap().collect().await
}

#[tokio::test]
async fn a_streamed_reply_arrives_in_deltas_with_usage_and_cost_from_the_price_table() {
    let (fake, provider) = fake(
        vec![Reply::Sse {
            data: vec![
                chunk("Respiration happens "),
                chunk("in an organelle [1]. "),
                chunk("What does that organelle "),
                chunk("need to work? "),
                chunk("Hint: not the Mito"),
                chunk("chondria."),
                usage_chunk(1_000_000, 2_000_000),
            ],
            done: true,
        }],
        |_| {},
    )
    .await;
    let events = collect(&provider, question()).await;
    let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Delta(d) => Some(d.as_str()),
            ChatEvent::Done(_) => None,
        })
        .collect();
    assert!(deltas.len() >= 3, "not streamed: {deltas:?}");
    // A protected answer the model writes anyway is masked, even split across chunks.
    assert_eq!(
        deltas.concat(),
        "Respiration happens in an organelle [1]. What does that organelle need to work? \
         Hint: not the ▢▢▢."
    );
    let Some(ChatEvent::Done(usage)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(events.len(), deltas.len() + 1);
    assert_eq!(usage.model, "gpt-4o-mini");
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (1_000_000, 2_000_000)
    );
    // gpt-4o-mini: $0.15 in and $0.60 out per million tokens.
    assert_eq!(usage.cost, Decimal::new(135, 2));

    // The request: streamed with usage, key sent, sources numbered, the guard in the prompt.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let (path, auth, body) = &requests[0];
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("[1] (Respiration)\nCellular respiration"),
        "{system}"
    );
    assert!(system.contains("[2]\nATP"), "{system}");
    assert!(
        system.contains("ONLY from the numbered sources"),
        "{system}"
    );
    assert!(system.contains("- mitochondria"), "{system}");
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Where does respiration happen?");
}

#[tokio::test]
async fn without_a_usage_chunk_tokens_are_counted_locally() {
    let (_, provider) = fake(
        vec![Reply::Sse {
            data: vec![chunk("hello world")],
            done: true,
        }],
        |_| {},
    )
    .await;
    let events = collect(&provider, question()).await;
    let Some(Ok(ChatEvent::Done(usage))) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(usage.completion_tokens, 2);
    assert!(usage.prompt_tokens > 20, "{usage:?}");
    assert!(usage.cost > Decimal::ZERO);
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let (fake, provider) = fake(
        vec![
            Reply::Error(500, None),
            Reply::Sse {
                data: vec![chunk("ok"), usage_chunk(10, 1)],
                done: true,
            },
        ],
        |_| {},
    )
    .await;
    let events = collect(&provider, question()).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Ok(ChatEvent::Delta("ok".into())));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_waited_out_and_retried() {
    let (fake, provider) = fake(
        vec![
            Reply::Error(429, Some(1)),
            Reply::Json(json!({
                "object": "list", "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}
            })),
        ],
        |_| {},
    )
    .await;
    let (vectors, _) = provider.embed(&["abc".into()]).await.unwrap();
    assert_eq!(vectors, vec![vec![0.5, 0.5]]);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn persistent_rate_limiting_is_reported_with_its_retry_after() {
    let (fake, provider) = fake(
        vec![Reply::Error(429, Some(0)), Reply::Error(429, Some(0))],
        |c| c.ai_max_retries = 1,
    )
    .await;
    let err = provider.embed(&["abc".into()]).await.unwrap_err();
    assert_eq!(
        err,
        AiError::RateLimited {
            retry_after_secs: Some(0)
        }
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_persistent_server_error_is_unavailable_after_the_retries() {
    let (fake, provider) = fake(
        vec![
            Reply::Error(503, None),
            Reply::Error(500, None),
            Reply::Error(502, None),
            Reply::Error(500, None),
        ],
        |c| c.ai_max_retries = 2,
    )
    .await;
    let err = provider.tutor(question()).await.err().unwrap();
    assert!(matches!(err, AiError::Unavailable(_)), "{err:?}");
    // The first attempt and two retries; the fourth reply is never asked for.
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (fake, provider) = fake(vec![Reply::Error(401, None)], |_| {}).await;
    let err = provider.embed(&["abc".into()]).await.unwrap_err();
    assert!(matches!(err, AiError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_provider_that_never_answers_is_a_timeout() {
    let (fake, provider) = fake(vec![Reply::Hang], |c| c.ai_timeout_secs = 1).await;
    let err = provider.tutor(question()).await.err().unwrap();
    assert_eq!(err, AiError::Timeout);
    assert_eq!(fake.requests().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn malformed_json_is_reported_as_malformed() {
    let (_, provider) = fake(
        vec![
            Reply::Raw("{\"object\": \"list\", \"data\": ["),
            Reply::Raw("[]"),
        ],
        |_| {},
    )
    .await;
    let err = provider.embed(&["abc".into()]).await.unwrap_err();
    assert!(matches!(err, AiError::Malformed(_)), "{err:?}");
    let err = provider
        .generate_quiz(QuizRequest {
            topic_title: "Cells".into(),
            num_questions: 1,
            sources: sources(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AiError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn a_stream_cut_half_way_ends_with_an_error_and_no_done() {
    let (fake, provider) = fake(
        vec![Reply::Sse {
            data: vec![chunk("Respiration happens "), chunk("in the")],
            done: false,
        }],
        |_| {},
    )
    .await;
    let events = collect(&provider, question()).await;
    assert!(
        matches!(events.first(), Some(Ok(ChatEvent::Delta(d))) if d.starts_with("Respiration")),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Err(AiError::Malformed(_)))),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Ok(ChatEvent::Done(_)))));
    assert_eq!(fake.requests().len(), 1, "a started stream is not retried");
}

#[tokio::test]
async fn embeddings_come_back_in_input_order_with_usage() {
    let (fake, provider) = fake(
        vec![Reply::Json(json!({
            "object": "list", "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}
            ],
            "usage": {"prompt_tokens": 2_000_000, "total_tokens": 2_000_000}
        }))],
        |_| {},
    )
    .await;
    let (vectors, usage) = provider
        .embed(&["first".into(), "second".into()])
        .await
        .unwrap();
    assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(usage.model, "text-embedding-3-small");
    assert_eq!(usage.prompt_tokens, 2_000_000);
    // text-embedding-3-small: $0.02 per million tokens.
    assert_eq!(usage.cost, Decimal::new(4, 2));
    let (path, _, body) = &fake.requests()[0];
    assert_eq!(path, "/v1/embeddings");
    assert_eq!(body["input"], json!(["first", "second"]));
    assert_eq!(body["model"], "text-embedding-3-small");
}

#[tokio::test]
async fn a_structured_quiz_is_parsed_and_returned_as_given() {
    let quiz = json!({
        "title": "Cells",
        "questions": [
            {"question_text": "Where does respiration happen?",
             "options": ["Mitochondria", "Nucleus", "Ribosome", "Membrane"],
             "correct_answer": "Mitochondria",
             "explanation": "Source 1 says so.", "source": 1},
            {"question_text": "What is the energy currency of the cell?",
             "options": ["Glucose", "DNA"],
             "correct_answer": "ATP",
             "explanation": null, "source": 7}
        ]
    });
    let (fake, provider) = fake(vec![Reply::Json(completion(&quiz.to_string()))], |_| {}).await;
    let generated = provider
        .generate_quiz(QuizRequest {
            topic_title: "Cells".into(),
            num_questions: 2,
            sources: sources(),
        })
        .await
        .unwrap();
    assert_eq!(generated.title, "Cells");
    assert_eq!(generated.questions.len(), 2);
    let first = &generated.questions[0];
    assert_eq!(first.correct_answer, "Mitochondria");
    assert_eq!(first.options.len(), 4);
    assert_eq!(first.source_id, Some(Uuid::from_u128(1)));
    // A key missing from its options is handed over as-is: the quiz area rejects it.
    let second = &generated.questions[1];
    assert_eq!(second.correct_answer, "ATP");
    assert_eq!(second.options, vec!["Glucose", "DNA"]);
    assert_eq!(second.explanation, None);
    assert_eq!(second.source_id, None, "source 7 does not exist");
    assert_eq!(
        (
            generated.usage.prompt_tokens,
            generated.usage.completion_tokens
        ),
        (800, 200)
    );
    // 800 * 0.15 / 1e6 + 200 * 0.60 / 1e6
    assert_eq!(generated.usage.cost, Decimal::new(24, 5));

    let (_, _, body) = &fake.requests()[0];
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert!(body.get("stream").is_none_or(|s| s != true));
}

#[tokio::test]
async fn without_a_base_url_the_offline_provider_answers() {
    let provider = Provider::from_config(&Config::default()).unwrap();
    assert!(matches!(provider, Provider::Offline(_)));
    assert_eq!(provider.chat_model(), "offline-tutor");
    assert_eq!(provider.embedding_model(), "offline-subword-256");
    let events = collect(&provider, question()).await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Ok(ChatEvent::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert!(text.contains("[1]"), "{text}");
    assert!(!text.to_lowercase().contains("mitochondria"), "{text}");
    assert!(matches!(events.last(), Some(Ok(ChatEvent::Done(u))) if u.cost.is_zero()));
}
