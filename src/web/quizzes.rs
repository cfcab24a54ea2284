//! The quiz pages: my quizzes and attempts, generating a quiz on a topic, taking a quiz and
//! its results — over the same service functions as the JSON routes.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{FormErrors, Layout, WebForm, render, render_status, status_of, valid};
use super::session::{self, Csrf, WebUser};
use super::tutor::{TopicGroup, topic_groups};
use crate::accounts::CurrentUser;
use crate::http::error::{AppError, AppResult};
use crate::quizzes::generate::{
    self, DEFAULT_QUESTIONS, GenerateQuizRequest, MAX_GENERATED_QUESTIONS,
};
use crate::quizzes::model::{
    AnswerInput, AttemptListQuery, AttemptView, QuizSummary, QuizView, SubmitAttemptRequest,
};
use crate::quizzes::service;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/quizzes", get(index))
        .route("/quizzes/generate", post(generate_quiz))
        .route("/quizzes/{id}", get(take))
        .route("/quizzes/{id}/attempts", post(submit))
        .route("/quizzes/attempts/{id}", get(results))
}

/// A score as people read it: `66.67`, `100`.
fn percent(score: impl std::borrow::Borrow<f64>) -> String {
    let rounded = format!("{:.2}", score.borrow());
    rounded
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The list and generating

/// An attempt in my list, with its quiz's title.
struct AttemptRow {
    attempt: AttemptView,
    title: String,
}

#[derive(Template)]
#[template(path = "quizzes/index.html")]
struct IndexPage {
    layout: Layout,
    errors: FormErrors,
    topics: Vec<TopicGroup>,
    topic_id: Option<Uuid>,
    num_questions: String,
    max_questions: u32,
    quizzes: Vec<QuizSummary>,
    attempts: Vec<AttemptRow>,
}

impl IndexPage {
    fn selected(&self, id: &Uuid) -> bool {
        self.topic_id.as_ref() == Some(id)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenerateFields {
    topic_id: String,
    num_questions: String,
}

async fn index(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
) -> AppResult<Response> {
    index_page(
        &state,
        &user,
        csrf,
        FormErrors::default(),
        GenerateFields {
            topic_id: String::new(),
            num_questions: DEFAULT_QUESTIONS.to_string(),
        },
        StatusCode::OK,
    )
    .await
}

async fn index_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: Csrf,
    errors: FormErrors,
    fields: GenerateFields,
    status: StatusCode,
) -> AppResult<Response> {
    let layout = Layout::signed_in(state, user, csrf, "Quizzes", "quizzes").await?;
    let quizzes = service::my_quizzes(state, user.id, 50).await?;
    let attempts = service::list_my_attempts(
        state,
        user.id,
        AttemptListQuery {
            quiz_id: None,
            limit: Some(20),
            cursor: None,
        },
    )
    .await?;
    let mut titles: HashMap<Uuid, String> =
        quizzes.iter().map(|q| (q.id, q.title.clone())).collect();
    let mut rows = Vec::new();
    for attempt in attempts.items {
        let title = match titles.get(&attempt.quiz_id) {
            Some(t) => t.clone(),
            None => {
                let t = service::get_quiz(state, user.id, attempt.quiz_id)
                    .await
                    .map(|q| q.title)
                    .unwrap_or_else(|_| "A quiz".into());
                titles.insert(attempt.quiz_id, t.clone());
                t
            }
        };
        rows.push(AttemptRow { attempt, title });
    }
    Ok(render_status(
        status,
        &IndexPage {
            layout,
            errors,
            topics: topic_groups(state).await?,
            topic_id: fields.topic_id.trim().parse().ok(),
            num_questions: fields.num_questions,
            max_questions: MAX_GENERATED_QUESTIONS,
            quizzes,
            attempts: rows,
        },
    ))
}

async fn generate_quiz(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    WebForm(fields): WebForm<GenerateFields>,
) -> AppResult<Response> {
    let result = async {
        let topic_id: Uuid = fields
            .topic_id
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("topic_id", "choose a topic"))?;
        let num_questions = match fields.num_questions.trim() {
            "" => None,
            n => Some(n.parse::<u32>().map_err(|_| {
                AppError::invalid(
                    "num_questions",
                    format!("must be a number from 1 to {MAX_GENERATED_QUESTIONS}"),
                )
            })?),
        };
        let req = valid(GenerateQuizRequest {
            num_questions,
            source: None,
        })?;
        generate::generate(&state, user.id, topic_id, req).await
    }
    .await;
    match result {
        Ok(generated) => Ok(session::redirect(
            &headers,
            &format!("/quizzes/{}", generated.quiz.id),
        )),
        Err(err @ AppError::Internal(_)) => Err(err),
        Err(err) => {
            let errors = match &err {
                AppError::NotFound(_) => FormErrors {
                    fields: vec![crate::http::error::FieldError {
                        field: "topic_id".into(),
                        message: "no such topic".into(),
                    }],
                    general: None,
                },
                other => super::tutor::ask_errors(other),
            };
            index_page(&state, &user, csrf, errors, fields, status_of(&err)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Taking a quiz

#[derive(Template)]
#[template(path = "quizzes/take.html")]
struct TakePage {
    layout: Layout,
    quiz: QuizView,
    errors: FormErrors,
    started_at: String,
    /// The answers already chosen (after a refused submission), by question id.
    chosen: HashMap<Uuid, String>,
}

impl TakePage {
    fn is_chosen(&self, question: &Uuid, option: &str) -> bool {
        self.chosen.get(question).is_some_and(|a| a == option)
    }
}

async fn take(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let quiz = service::get_quiz(&state, user.id, id).await?;
    let layout = Layout::signed_in(&state, &user, csrf, quiz.title.clone(), "quizzes").await?;
    Ok(render(&TakePage {
        layout,
        quiz,
        errors: FormErrors::default(),
        started_at: state.clock.now().to_rfc3339(),
        chosen: HashMap::new(),
    }))
}

async fn submit(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    WebForm(pairs): WebForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut started_at = None;
    let mut chosen = HashMap::new();
    let mut answers = Vec::new();
    for (name, value) in pairs {
        if name == "started_at" {
            started_at = DateTime::parse_from_rfc3339(value.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc));
        } else if let Some(question_id) =
            name.strip_prefix("q-").and_then(|q| q.parse::<Uuid>().ok())
        {
            chosen.insert(question_id, value.clone());
            answers.push(AnswerInput {
                question_id,
                answer: value,
            });
        }
    }
    let result = async {
        if answers.is_empty() {
            return Err(AppError::invalid(
                "answers",
                "answer at least one question before submitting",
            ));
        }
        let req = valid(SubmitAttemptRequest {
            answers,
            started_at,
        })?;
        service::submit_attempt(&state, user.id, id, req).await
    }
    .await;
    match result {
        Ok(res) => Ok(session::redirect(
            &headers,
            &format!("/quizzes/attempts/{}", res.attempt.id),
        )),
        Err(err @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(err),
        Err(err) => {
            let quiz = service::get_quiz(&state, user.id, id).await?;
            let layout =
                Layout::signed_in(&state, &user, csrf, quiz.title.clone(), "quizzes").await?;
            let errors = match &err {
                AppError::Validation(fields) => FormErrors::general(
                    fields
                        .iter()
                        .map(|f| f.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                other => FormErrors::from_error(other),
            };
            Ok(render_status(
                status_of(&err),
                &TakePage {
                    layout,
                    quiz,
                    errors,
                    started_at: started_at.unwrap_or_else(|| state.clock.now()).to_rfc3339(),
                    chosen,
                },
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// One question's verdict, with the question itself.
struct ResultRow {
    question: String,
    answer: Option<String>,
    correct: bool,
    correct_answer: String,
    explanation: Option<String>,
}

#[derive(Template)]
#[template(path = "quizzes/results.html")]
struct ResultsPage {
    layout: Layout,
    quiz_id: Uuid,
    title: String,
    attempt: AttemptView,
    score: String,
    rows: Vec<ResultRow>,
}

async fn results(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let detail = service::get_attempt(&state, user.id, id).await?;
    let quiz = service::get_quiz(&state, user.id, detail.attempt.quiz_id).await?;
    let texts: HashMap<Uuid, String> = quiz
        .questions
        .iter()
        .map(|q| (q.id, q.question_text.clone()))
        .collect();
    let rows = detail
        .results
        .into_iter()
        .map(|r| ResultRow {
            question: texts.get(&r.question_id).cloned().unwrap_or_default(),
            answer: r.answer,
            correct: r.correct,
            correct_answer: r.correct_answer,
            explanation: r.explanation,
        })
        .collect();
    let title = format!("Results: {}", quiz.title);
    let layout = Layout::signed_in(&state, &user, csrf, title.clone(), "quizzes").await?;
    Ok(render(&ResultsPage {
        layout,
        quiz_id: quiz.id,
        title,
        score: percent(detail.attempt.score_percentage),
        attempt: detail.attempt,
        rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_without_trailing_zeros() {
        assert_eq!(percent(66.666), "66.67");
        assert_eq!(percent(100.0), "100");
        assert_eq!(percent(50.5), "50.5");
        assert_eq!(percent(0.0), "0");
    }
}
