//! HTTP handlers of the content area: extract, call one service function, answer.
//! Reads need a signed-in user; writes need the admin role (students get 403).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::service;
use crate::accounts::{AdminUser, CurrentUser};
use crate::http::Page;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{AppJson, AppPath, AppQuery, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subjects, create_subject))
        .routes(routes!(get_subject, update_subject, delete_subject))
        .routes(routes!(list_topics, create_topic))
        .routes(routes!(get_topic, update_topic, delete_topic))
        .routes(routes!(list_lessons, create_lesson))
        .routes(routes!(get_lesson, update_lesson, delete_lesson))
        .routes(routes!(complete_lesson))
        .routes(routes!(my_progress))
}

/// List subjects in the catalogue's order.
#[utoipa::path(get, path = "/subjects", tag = "content", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<SubjectView>)))]
async fn list_subjects(
    State(state): State<AppState>,
    _user: CurrentUser,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<SubjectView>>> {
    Ok(Json(service::list_subjects(&state, page).await?))
}

/// Create a subject (admin).
#[utoipa::path(post, path = "/subjects", tag = "content", request_body = CreateSubjectRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = SubjectView),
        (status = 409, description = "A subject with this name exists", body = Problem),
    ))]
async fn create_subject(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppJson(req): AppJson<CreateSubjectRequest>,
) -> AppResult<(StatusCode, Json<SubjectView>)> {
    let subject = service::create_subject(&state, req).await?;
    Ok((StatusCode::CREATED, Json(subject)))
}

/// One subject.
#[utoipa::path(get, path = "/subjects/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Subject id")), security(("bearer" = [])),
    responses((status = 200, body = SubjectView)))]
async fn get_subject(
    State(state): State<AppState>,
    _user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<SubjectView>> {
    Ok(Json(service::get_subject(&state, id).await?))
}

/// Change a subject (admin); fields left out stay as they are.
#[utoipa::path(patch, path = "/subjects/{id}", tag = "content", request_body = UpdateSubjectRequest,
    params(("id" = Uuid, Path, description = "Subject id")), security(("bearer" = [])),
    responses(
        (status = 200, body = SubjectView),
        (status = 409, description = "A subject with this name exists", body = Problem),
    ))]
async fn update_subject(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateSubjectRequest>,
) -> AppResult<Json<SubjectView>> {
    Ok(Json(service::update_subject(&state, id, req).await?))
}

/// Delete a subject (admin). One with topics is kept (409) unless `cascade=true`, which also
/// deletes its topics' quizzes with every attempt on them, and its lessons with everyone's
/// progress.
#[utoipa::path(delete, path = "/subjects/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Subject id"), DeleteQuery), security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 409, description = "The subject's topics have quizzes (`has-quizzes`), or it still has lessons (`has-lessons`) or topics (`has-topics`)", body = Problem),
    ))]
async fn delete_subject(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<DeleteQuery>,
) -> AppResult<StatusCode> {
    service::delete_subject(&state, id, query.cascade.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a subject's topics in order.
#[utoipa::path(get, path = "/subjects/{id}/topics", tag = "content",
    params(("id" = Uuid, Path, description = "Subject id"), PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<TopicView>)))]
async fn list_topics(
    State(state): State<AppState>,
    _user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<TopicView>>> {
    Ok(Json(service::list_topics(&state, id, page).await?))
}

/// Add a topic to a subject (admin).
#[utoipa::path(post, path = "/subjects/{id}/topics", tag = "content", request_body = CreateTopicRequest,
    params(("id" = Uuid, Path, description = "Subject id")), security(("bearer" = [])),
    responses(
        (status = 201, body = TopicView),
        (status = 409, description = "The subject has a topic with this name", body = Problem),
    ))]
async fn create_topic(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateTopicRequest>,
) -> AppResult<(StatusCode, Json<TopicView>)> {
    let topic = service::create_topic(&state, id, req).await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

/// One topic.
#[utoipa::path(get, path = "/topics/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Topic id")), security(("bearer" = [])),
    responses((status = 200, body = TopicView)))]
async fn get_topic(
    State(state): State<AppState>,
    _user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<TopicView>> {
    Ok(Json(service::get_topic(&state, id).await?))
}

/// Change a topic (admin); `subject_id` moves it to another subject.
#[utoipa::path(patch, path = "/topics/{id}", tag = "content", request_body = UpdateTopicRequest,
    params(("id" = Uuid, Path, description = "Topic id")), security(("bearer" = [])),
    responses(
        (status = 200, body = TopicView),
        (status = 409, description = "The subject has a topic with this name", body = Problem),
    ))]
async fn update_topic(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateTopicRequest>,
) -> AppResult<Json<TopicView>> {
    Ok(Json(service::update_topic(&state, id, req).await?))
}

/// Delete a topic (admin). One with quizzes (409 `has-quizzes`) or lessons (409 `has-lessons`)
/// is kept unless `cascade=true`, which deletes the quizzes with their questions and every
/// attempt on them, and the lessons with everyone's progress, in one transaction.
#[utoipa::path(delete, path = "/topics/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Topic id"), DeleteQuery), security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 409, description = "The topic has quizzes (`has-quizzes`) or lessons (`has-lessons`)", body = Problem),
    ))]
async fn delete_topic(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<DeleteQuery>,
) -> AppResult<StatusCode> {
    service::delete_topic(&state, id, query.cascade.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a topic's lessons in order (without their bodies), each with whether I completed it.
#[utoipa::path(get, path = "/topics/{id}/lessons", tag = "content",
    params(("id" = Uuid, Path, description = "Topic id"), PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<LessonSummary>)))]
async fn list_lessons(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<LessonSummary>>> {
    Ok(Json(
        service::list_lessons(&state, user.id, id, page).await?,
    ))
}

/// Add a lesson to a topic (admin). `video` and `pdf` lessons need a `content_url`.
#[utoipa::path(post, path = "/topics/{id}/lessons", tag = "content", request_body = CreateLessonRequest,
    params(("id" = Uuid, Path, description = "Topic id")), security(("bearer" = [])),
    responses((status = 201, body = LessonView)))]
async fn create_lesson(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateLessonRequest>,
) -> AppResult<(StatusCode, Json<LessonView>)> {
    let lesson = service::create_lesson(&state, id, req).await?;
    Ok((StatusCode::CREATED, Json(lesson)))
}

/// One lesson with its Markdown body and whether I completed it.
#[utoipa::path(get, path = "/lessons/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Lesson id")), security(("bearer" = [])),
    responses((status = 200, body = LessonView)))]
async fn get_lesson(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<LessonView>> {
    Ok(Json(service::get_lesson(&state, user.id, id).await?))
}

/// Change a lesson (admin); `topic_id` moves it to another topic.
#[utoipa::path(patch, path = "/lessons/{id}", tag = "content", request_body = UpdateLessonRequest,
    params(("id" = Uuid, Path, description = "Lesson id")), security(("bearer" = [])),
    responses((status = 200, body = LessonView)))]
async fn update_lesson(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateLessonRequest>,
) -> AppResult<Json<LessonView>> {
    Ok(Json(
        service::update_lesson(&state, admin.id, id, req).await?,
    ))
}

/// Delete a lesson and everyone's progress on it (admin).
#[utoipa::path(delete, path = "/lessons/{id}", tag = "content",
    params(("id" = Uuid, Path, description = "Lesson id")), security(("bearer" = [])),
    responses((status = 204)))]
async fn delete_lesson(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::delete_lesson(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark a lesson completed. The first completion awards 10 XP and counts as a study day;
/// repeating it changes nothing and awards 0.
#[utoipa::path(post, path = "/lessons/{id}/complete", tag = "content",
    params(("id" = Uuid, Path, description = "Lesson id")), security(("bearer" = [])),
    responses((status = 200, body = CompleteLessonResponse)))]
async fn complete_lesson(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<CompleteLessonResponse>> {
    Ok(Json(service::complete_lesson(&state, user.id, id).await?))
}

/// My progress: lessons completed and mastery, per subject and per topic.
#[utoipa::path(get, path = "/me/progress", tag = "content", security(("bearer" = [])),
    responses((status = 200, body = ProgressResponse)))]
async fn my_progress(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<ProgressResponse>> {
    Ok(Json(service::my_progress(&state, user.id).await?))
}
