//! HTTP handlers of the quiz area: extract, call one service function, answer. Students read
//! quizzes and submit attempts; admins write shared quizzes and read item statistics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::generate::{GenerateQuizRequest, GeneratedQuizResponse};
use super::model::*;
use super::{generate, service, stats};
use crate::accounts::{AdminUser, CurrentUser};
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_topic_quizzes, generate_quiz))
        .routes(routes!(get_quiz))
        .routes(routes!(submit_attempt))
        .routes(routes!(list_my_attempts))
        .routes(routes!(get_attempt))
        .routes(routes!(create_quiz))
        .routes(routes!(quiz_stats))
}

/// The quizzes of a topic you can take: shared ones and your own generated ones, with their
/// question counts and your best score.
#[utoipa::path(get, path = "/topics/{id}/quizzes", tag = "quizzes", params(("id" = Uuid, Path, description = "Topic id"), PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<QuizSummary>)))]
async fn list_topic_quizzes(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<QuizSummary>>> {
    Ok(Json(
        service::list_topic_quizzes(&state, user.id, id, page).await?,
    ))
}

/// Generate a practice quiz on a topic from its lessons, for me alone. Each question is
/// checked before it is stored (2–6 distinct options, exactly one correct, the key supported
/// by the passage it comes from); the ones that fail are listed in `rejected`. Counts against
/// the daily quiz-generation allowance.
#[utoipa::path(post, path = "/topics/{id}/quizzes", tag = "quizzes", params(("id" = Uuid, Path, description = "Topic id")),
    request_body = GenerateQuizRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = GeneratedQuizResponse),
        (status = 422, description = "A bad `num_questions`, nothing to build a quiz from, or text too thin for the offline generator to make a question", body = Problem),
        (status = 429, description = "Today's quiz-generation allowance is used up (`quota-exceeded`)", body = Problem),
        (status = 503, description = "The AI provider failed, or a hosted model produced no valid question (`ai-unavailable`)", body = Problem),
    ))]
async fn generate_quiz(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    OptionalJson(req): OptionalJson<GenerateQuizRequest>,
) -> AppResult<(StatusCode, Json<GeneratedQuizResponse>)> {
    let quiz = generate::generate(&state, user.id, id, req.unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(quiz)))
}

/// A quiz with its questions and options — never the correct answers or explanations, which
/// come back with the results of an attempt.
#[utoipa::path(get, path = "/quizzes/{id}", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = QuizView),
        (status = 404, description = "No such quiz, or another student's own quiz", body = Problem),
    ))]
async fn get_quiz(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<QuizView>> {
    Ok(Json(service::get_quiz(&state, user.id, id).await?))
}

/// Submit an attempt: scored on the server. Each answer names a question of this quiz (at most
/// once) and one of its options (case and surrounding spaces ignored); questions left out
/// count as wrong. XP: 10 per correct answer beyond your best earlier attempt on the quiz, plus
/// 20 the first time you score 100 %. The results show every key and explanation.
#[utoipa::path(post, path = "/quizzes/{id}/attempts", tag = "quizzes", request_body = SubmitAttemptRequest,
    params(("id" = Uuid, Path, description = "Quiz id")), security(("bearer" = [])),
    responses(
        (status = 201, body = AttemptResponse),
        (status = 404, description = "No such quiz, or another student's own quiz", body = Problem),
        (status = 422, description = "An answer to a question of another quiz or an unknown question, a question answered twice, or an answer that is none of the options; the field path names it (`answers[2].question_id`)", body = Problem),
    ))]
async fn submit_attempt(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<SubmitAttemptRequest>,
) -> AppResult<(StatusCode, Json<AttemptResponse>)> {
    let res = service::submit_attempt(&state, user.id, id, req).await?;
    Ok((StatusCode::CREATED, Json(res)))
}

/// Your quiz attempts, newest first, optionally on one quiz.
#[utoipa::path(get, path = "/me/quiz-attempts", tag = "quizzes", params(AttemptListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<AttemptView>)))]
async fn list_my_attempts(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<AttemptListQuery>,
) -> AppResult<Json<Page<AttemptView>>> {
    Ok(Json(
        service::list_my_attempts(&state, user.id, query).await?,
    ))
}

/// One of your attempts with its per-question results.
#[utoipa::path(get, path = "/quiz-attempts/{id}", tag = "quizzes", params(("id" = Uuid, Path, description = "Attempt id")),
    security(("bearer" = [])),
    responses((status = 200, body = AttemptDetail)))]
async fn get_attempt(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<AttemptDetail>> {
    Ok(Json(service::get_attempt(&state, user.id, id).await?))
}

/// Write a shared quiz (admin). Every question needs 2–6 distinct options (case and spaces
/// ignored) and a correct answer that is one of them; a key differing from its option only in
/// case or spaces is stored as the option.
#[utoipa::path(post, path = "/admin/quizzes", tag = "quizzes", request_body = CreateQuizRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = AdminQuizView),
        (status = 422, description = "Unknown topic, or a question that breaks the rules (its path names it: `questions[1].options`)", body = Problem),
    ))]
async fn create_quiz(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(req): AppJson<CreateQuizRequest>,
) -> AppResult<(StatusCode, Json<AdminQuizView>)> {
    let quiz = service::create_quiz(&state, admin.id, req).await?;
    Ok((StatusCode::CREATED, Json(quiz)))
}

/// Item statistics of a quiz (admin): each question's facility and discrimination over each
/// student's first attempt, and flags on dubious items once 20 attempts are counted.
#[utoipa::path(get, path = "/admin/quizzes/{id}/stats", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id")),
    security(("bearer" = [])),
    responses((status = 200, body = QuizStats)))]
async fn quiz_stats(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<QuizStats>> {
    Ok(Json(stats::quiz_stats(&state, id).await?))
}
