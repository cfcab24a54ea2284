//! The admin area: service statistics, users, content, AI usage, jobs and quiz item
//! statistics — the admin JSON routes' services, as pages. Students get a 403 page.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{FormErrors, Layout, WebForm, render, render_status, valid};
use super::session::{Csrf, WebUser};
use crate::accounts::CurrentUser;
use crate::accounts::model::{AdminUpdateUserRequest, AdminUserQuery, AdminUserView};
use crate::admin::model::AdminStats;
use crate::ai::usage_model::{AdminUsageQuery, AiUsageReport, GroupBy};
use crate::content::model::{
    CreateLessonRequest, CreateSubjectRequest, CreateTopicRequest, LessonSummary, SubjectView,
    TopicView,
};
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{AppPath, PageParams};
use crate::jobs::model::{JobQuery, JobView};
use crate::quizzes::model::{QuizStats, QuizSummary};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/users", get(users))
        .route("/admin/users/{id}", post(update_user))
        .route("/admin/content", get(subjects).post(create_subject))
        .route(
            "/admin/content/subjects/{id}",
            get(subject).post(create_topic),
        )
        .route("/admin/content/topics/{id}", get(topic).post(create_lesson))
        .route("/admin/quizzes/{id}/stats", get(quiz_stats))
        .route("/admin/usage", get(usage))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/{id}/retry", post(retry_job))
}

/// A signed-in admin of the web app.
pub struct WebAdmin(pub CurrentUser);

#[derive(Template)]
#[template(path = "admin/forbidden.html")]
struct ForbiddenPage {
    layout: Layout,
}

impl FromRequestParts<AppState> for WebAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let WebUser(user) = WebUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            return Ok(WebAdmin(user));
        }
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        match Layout::signed_in(state, &user, csrf, "Admins only", "admin").await {
            Ok(layout) => Err(render_status(
                StatusCode::FORBIDDEN,
                &ForbiddenPage { layout },
            )),
            Err(err) => Err(err.into_response()),
        }
    }
}

async fn layout(
    state: &AppState,
    admin: &CurrentUser,
    csrf: Csrf,
    title: &str,
) -> AppResult<Layout> {
    Layout::signed_in(state, admin, csrf, title, "admin").await
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    stats: AdminStats,
}

async fn overview(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
) -> AppResult<Response> {
    let layout = layout(&state, &admin, csrf, "Admin").await?;
    let stats = crate::admin::service::stats(&state).await?;
    Ok(render(&OverviewPage { layout, stats }))
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    users: Vec<AdminUserView>,
    next: Option<String>,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
struct UsersQuery {
    q: Option<String>,
    cursor: Option<String>,
}

async fn users_page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: Csrf,
    query: UsersQuery,
    errors: FormErrors,
) -> AppResult<Response> {
    let layout = layout(state, admin, csrf, "Users").await?;
    let q = query.q.unwrap_or_default();
    let page = crate::accounts::service::admin_list_users(
        state,
        valid(AdminUserQuery {
            q: Some(q.clone()).filter(|q| !q.is_empty()),
            limit: Some(50),
            cursor: query.cursor,
        })?,
    )
    .await?;
    let next = page.next_cursor.map(|c| {
        serde_urlencoded::to_string([("q", q.as_str()), ("cursor", c.as_str())]).unwrap_or_default()
    });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok(render_status(
        status,
        &UsersPage {
            layout,
            q,
            users: page.items,
            next,
            errors,
        },
    ))
}

async fn users(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    Query(query): Query<UsersQuery>,
) -> AppResult<Response> {
    users_page(&state, &admin, csrf, query, FormErrors::default()).await
}

#[derive(Debug, Deserialize)]
struct UpdateUserForm {
    /// `activate`, `deactivate`, `make-admin` or `make-student`.
    action: String,
}

async fn update_user(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
    WebForm(form): WebForm<UpdateUserForm>,
) -> AppResult<Response> {
    let req = match form.action.as_str() {
        "activate" => AdminUpdateUserRequest {
            role: None,
            is_active: Some(true),
        },
        "deactivate" => AdminUpdateUserRequest {
            role: None,
            is_active: Some(false),
        },
        "make-admin" => AdminUpdateUserRequest {
            role: Some("admin".into()),
            is_active: None,
        },
        "make-student" => AdminUpdateUserRequest {
            role: Some("student".into()),
            is_active: None,
        },
        _ => return Err(AppError::invalid("action", "unknown action")),
    };
    match crate::accounts::service::admin_update_user(&state, &admin, id, req).await {
        Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
        Err(err @ AppError::Conflict { .. }) => {
            users_page(
                &state,
                &admin,
                csrf,
                UsersQuery::default(),
                FormErrors::from_error(&err),
            )
            .await
        }
        Err(err) => Err(err),
    }
}

/// A create form's fields as typed, to show them again beside their errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameForm {
    name: String,
    description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LessonForm {
    title: String,
    content: String,
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn all() -> PageParams {
    PageParams {
        limit: Some(100),
        cursor: None,
    }
}

#[derive(Template)]
#[template(path = "admin/subjects.html")]
struct SubjectsPage {
    layout: Layout,
    subjects: Vec<SubjectView>,
    form: NameForm,
    errors: FormErrors,
}

async fn subjects_page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: Csrf,
    form: NameForm,
    errors: Option<AppError>,
) -> AppResult<Response> {
    let layout = layout(state, admin, csrf, "Content").await?;
    let subjects = crate::content::service::list_subjects(state, all())
        .await?
        .items;
    let status = errors.as_ref().map_or(StatusCode::OK, AppError::status);
    Ok(render_status(
        status,
        &SubjectsPage {
            layout,
            subjects,
            form,
            errors: errors
                .as_ref()
                .map(FormErrors::from_error)
                .unwrap_or_default(),
        },
    ))
}

async fn subjects(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
) -> AppResult<Response> {
    subjects_page(&state, &admin, csrf, NameForm::default(), None).await
}

async fn create_subject(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    WebForm(form): WebForm<NameForm>,
) -> AppResult<Response> {
    let req = CreateSubjectRequest {
        name: form.name.clone(),
        description: optional(&form.description),
        icon: None,
        color: None,
        order_index: None,
    };
    let created =
        async { crate::content::service::create_subject(&state, valid(req)?).await }.await;
    match created {
        Ok(subject) => {
            Ok(Redirect::to(&format!("/admin/content/subjects/{}", subject.id)).into_response())
        }
        Err(err) => subjects_page(&state, &admin, csrf, form, Some(err)).await,
    }
}

#[derive(Template)]
#[template(path = "admin/subject.html")]
struct SubjectPage {
    layout: Layout,
    subject: SubjectView,
    topics: Vec<TopicView>,
    form: NameForm,
    errors: FormErrors,
}

async fn subject_page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: Csrf,
    id: Uuid,
    form: NameForm,
    errors: Option<AppError>,
) -> AppResult<Response> {
    let subject = crate::content::service::get_subject(state, id).await?;
    let layout = layout(state, admin, csrf, &subject.name).await?;
    let topics = crate::content::service::list_topics(state, id, all())
        .await?
        .items;
    let status = errors.as_ref().map_or(StatusCode::OK, AppError::status);
    Ok(render_status(
        status,
        &SubjectPage {
            layout,
            subject,
            topics,
            form,
            errors: errors
                .as_ref()
                .map(FormErrors::from_error)
                .unwrap_or_default(),
        },
    ))
}

async fn subject(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    subject_page(&state, &admin, csrf, id, NameForm::default(), None).await
}

async fn create_topic(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
    WebForm(form): WebForm<NameForm>,
) -> AppResult<Response> {
    let req = CreateTopicRequest {
        name: form.name.clone(),
        description: optional(&form.description),
        difficulty_level: None,
        order_index: None,
    };
    let created =
        async { crate::content::service::create_topic(&state, id, valid(req)?).await }.await;
    match created {
        Ok(topic) => {
            Ok(Redirect::to(&format!("/admin/content/topics/{}", topic.id)).into_response())
        }
        Err(AppError::NotFound(what)) => Err(AppError::NotFound(what)),
        Err(err) => subject_page(&state, &admin, csrf, id, form, Some(err)).await,
    }
}

#[derive(Template)]
#[template(path = "admin/topic.html")]
struct TopicPage {
    layout: Layout,
    topic: TopicView,
    lessons: Vec<LessonSummary>,
    quizzes: Vec<QuizSummary>,
    form: LessonForm,
    errors: FormErrors,
}

async fn topic_page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: Csrf,
    id: Uuid,
    form: LessonForm,
    errors: Option<AppError>,
) -> AppResult<Response> {
    let topic = crate::content::service::get_topic(state, id).await?;
    let layout = layout(state, admin, csrf, &topic.name).await?;
    let lessons = crate::content::service::list_lessons(state, admin.id, id, all())
        .await?
        .items;
    let quizzes = crate::quizzes::service::list_topic_quizzes(state, admin.id, id, all())
        .await?
        .items;
    let status = errors.as_ref().map_or(StatusCode::OK, AppError::status);
    Ok(render_status(
        status,
        &TopicPage {
            layout,
            topic,
            lessons,
            quizzes,
            form,
            errors: errors
                .as_ref()
                .map(FormErrors::from_error)
                .unwrap_or_default(),
        },
    ))
}

async fn topic(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    topic_page(&state, &admin, csrf, id, LessonForm::default(), None).await
}

async fn create_lesson(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
    WebForm(form): WebForm<LessonForm>,
) -> AppResult<Response> {
    let req = CreateLessonRequest {
        title: form.title.clone(),
        content: form.content.clone(),
        content_type: None,
        content_url: None,
        order_index: None,
        estimated_duration_minutes: None,
    };
    let created =
        async { crate::content::service::create_lesson(&state, id, valid(req)?).await }.await;
    match created {
        Ok(_) => Ok(Redirect::to(&format!("/admin/content/topics/{id}")).into_response()),
        Err(AppError::NotFound(what)) => Err(AppError::NotFound(what)),
        Err(err) => topic_page(&state, &admin, csrf, id, form, Some(err)).await,
    }
}

#[derive(Template)]
#[template(path = "admin/quiz_stats.html")]
struct QuizStatsPage {
    layout: Layout,
    stats: QuizStats,
}

impl QuizStatsPage {
    fn percent(value: &Option<f64>) -> String {
        value.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
    }

    fn decimal(value: &Option<f64>) -> String {
        value.map_or_else(|| "—".into(), |v| format!("{v:.2}"))
    }
}

async fn quiz_stats(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let stats = crate::quizzes::stats::quiz_stats(&state, id).await?;
    let layout = layout(&state, &admin, csrf, "Item statistics").await?;
    Ok(render(&QuizStatsPage { layout, stats }))
}

#[derive(Template)]
#[template(path = "admin/usage.html")]
struct UsagePage {
    layout: Layout,
    report: AiUsageReport,
    group: &'static str,
}

#[derive(Debug, Default, Deserialize)]
struct UsageQuery {
    group_by: Option<GroupBy>,
}

fn group_name(group: &GroupBy) -> &'static str {
    match group {
        GroupBy::User => "user",
        GroupBy::Model => "model",
        GroupBy::Feature => "feature",
        GroupBy::Day => "day",
    }
}

async fn usage(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(query) =
        query.map_err(|_| AppError::invalid("group_by", "one of user, model, feature, day"))?;
    let layout = layout(&state, &admin, csrf, "AI usage").await?;
    let report = crate::ai::usage_report::report(
        &state,
        AdminUsageQuery {
            from: None,
            to: None,
            group_by: query.group_by,
        },
    )
    .await?;
    let group = group_name(&report.group_by);
    Ok(render(&UsagePage {
        layout,
        report,
        group,
    }))
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    layout: Layout,
    jobs: Vec<JobView>,
    status: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct JobsQuery {
    status: Option<String>,
    cursor: Option<String>,
}

async fn jobs(
    State(state): State<AppState>,
    WebAdmin(admin): WebAdmin,
    csrf: Csrf,
    Query(query): Query<JobsQuery>,
) -> AppResult<Response> {
    let layout = layout(&state, &admin, csrf, "Jobs").await?;
    let status = query.status.unwrap_or_default();
    let page = crate::jobs::admin::list(
        &state,
        valid(JobQuery {
            status: Some(status.clone()).filter(|s| !s.is_empty()),
            kind: None,
            limit: Some(50),
            cursor: query.cursor,
        })?,
    )
    .await?;
    let next = page.next_cursor.map(|c| {
        serde_urlencoded::to_string([("status", status.as_str()), ("cursor", c.as_str())])
            .unwrap_or_default()
    });
    Ok(render(&JobsPage {
        layout,
        jobs: page.items,
        status,
        next,
    }))
}

async fn retry_job(
    State(state): State<AppState>,
    WebAdmin(_admin): WebAdmin,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    crate::jobs::admin::retry(&state, id).await?;
    Ok(Redirect::to("/admin/jobs").into_response())
}
