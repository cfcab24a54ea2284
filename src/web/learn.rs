//! Learning pages: the subjects, a subject's topics, a topic's lessons with my progress, and a
//! lesson with its Markdown and a "Mark complete" button (an htmx POST that swaps in what the
//! completion earned). All over the content service the JSON routes use.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use uuid::Uuid;

use super::markdown;
use super::page::{Layout, render};
use super::session::{self, Csrf, WebUser};
use crate::content::model::{LessonSummary, LessonView, SubjectView, TopicView};
use crate::content::service;
use crate::http::error::AppResult;
use crate::http::extract::{AppPath, PageParams};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/learn", get(subjects))
        .route("/learn/subjects/{id}", get(subject))
        .route("/learn/topics/{id}", get(topic))
        .route("/learn/lessons/{id}", get(lesson))
        .route("/learn/lessons/{id}/complete", post(complete))
}

/// Whether htmx sent the request (it wants a fragment, not a page).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Everything in one list: the catalogue's pages hold at most 100 of a kind.
fn all() -> PageParams {
    PageParams {
        limit: Some(100),
        cursor: None,
    }
}

/// A word for `topics.difficulty_level` (1 beginner … 3 intermediate … 5 advanced).
fn difficulty(level: Option<i32>) -> &'static str {
    match level {
        Some(..=2) => "Beginner",
        Some(3) => "Intermediate",
        Some(_) => "Advanced",
        None => "",
    }
}

/// Lessons completed out of the total, and mastery, of a subject or topic.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    completed: i64,
    total: i64,
    mastery: i64,
}

impl Progress {
    fn percent(&self) -> i64 {
        if self.total == 0 {
            0
        } else {
            (self.completed * 100 / self.total).clamp(0, 100)
        }
    }
}

/// My progress per subject and per topic, by id.
async fn progress(
    state: &AppState,
    user_id: Uuid,
) -> AppResult<(HashMap<Uuid, Progress>, HashMap<Uuid, Progress>)> {
    let mine = service::my_progress(state, user_id).await?;
    let mut subjects = HashMap::new();
    let mut topics = HashMap::new();
    for s in mine.subjects {
        subjects.insert(
            s.subject_id,
            Progress {
                completed: s.lessons_completed,
                total: s.lessons_total,
                mastery: s.mastery.round() as i64,
            },
        );
        for t in s.topics {
            topics.insert(
                t.topic_id,
                Progress {
                    completed: t.lessons_completed,
                    total: t.lessons_total,
                    mastery: t.mastery.round() as i64,
                },
            );
        }
    }
    Ok((subjects, topics))
}

struct SubjectItem {
    subject: SubjectView,
    progress: Progress,
}

#[derive(Template)]
#[template(path = "learn/subjects.html")]
struct SubjectsPage {
    layout: Layout,
    subjects: Vec<SubjectItem>,
}

async fn subjects(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
) -> AppResult<Response> {
    let layout = Layout::signed_in(&state, &user, csrf, "Learn", "learn").await?;
    let list = service::list_subjects(&state, all()).await?;
    let (progress, _) = progress(&state, user.id).await?;
    let subjects = list
        .items
        .into_iter()
        .map(|subject| SubjectItem {
            progress: progress.get(&subject.id).copied().unwrap_or_default(),
            subject,
        })
        .collect();
    Ok(render(&SubjectsPage { layout, subjects }).into_response())
}

struct TopicItem {
    topic: TopicView,
    difficulty: &'static str,
    progress: Progress,
}

#[derive(Template)]
#[template(path = "learn/subject.html")]
struct SubjectPage {
    layout: Layout,
    subject: SubjectView,
    topics: Vec<TopicItem>,
}

async fn subject(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let subject = service::get_subject(&state, id).await?;
    let list = service::list_topics(&state, id, all()).await?;
    let (_, progress) = progress(&state, user.id).await?;
    let layout = Layout::signed_in(&state, &user, csrf, subject.name.clone(), "learn").await?;
    let topics = list
        .items
        .into_iter()
        .map(|topic| TopicItem {
            difficulty: difficulty(topic.difficulty_level),
            progress: progress.get(&topic.id).copied().unwrap_or_default(),
            topic,
        })
        .collect();
    Ok(render(&SubjectPage {
        layout,
        subject,
        topics,
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "learn/topic.html")]
struct TopicPage {
    layout: Layout,
    subject: SubjectView,
    topic: TopicView,
    difficulty: &'static str,
    lessons: Vec<LessonSummary>,
    completed: usize,
}

async fn topic(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let topic = service::get_topic(&state, id).await?;
    let subject = service::get_subject(&state, topic.subject_id).await?;
    let lessons = service::list_lessons(&state, user.id, id, all())
        .await?
        .items;
    let layout = Layout::signed_in(&state, &user, csrf, topic.name.clone(), "learn").await?;
    Ok(render(&TopicPage {
        layout,
        difficulty: difficulty(topic.difficulty_level),
        completed: lessons.iter().filter(|l| l.completed).count(),
        subject,
        topic,
        lessons,
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "learn/lesson.html")]
struct LessonPage {
    layout: Layout,
    subject: SubjectView,
    topic: TopicView,
    lesson: LessonView,
    html: String,
}

async fn lesson(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let lesson = service::get_lesson(&state, user.id, id).await?;
    let topic = service::get_topic(&state, lesson.lesson.topic_id).await?;
    let subject = service::get_subject(&state, topic.subject_id).await?;
    let layout =
        Layout::signed_in(&state, &user, csrf, lesson.lesson.title.clone(), "learn").await?;
    let html = markdown::to_safe_html(&lesson.content);
    Ok(render(&LessonPage {
        layout,
        subject,
        topic,
        lesson,
        html,
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "learn/complete_partial.html")]
struct CompletePartial {
    xp_awarded: i32,
    total_xp: i64,
    achievements: usize,
}

/// "Mark complete": the same service as `POST /lessons/{id}/complete`. htmx gets the fragment
/// saying what it earned (nothing the second time); a plain form post goes back to the lesson.
async fn complete(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let done = service::complete_lesson(&state, user.id, id).await?;
    if !is_htmx(&headers) {
        return Ok(session::redirect(&headers, &format!("/learn/lessons/{id}")));
    }
    let xp = crate::gamification::service::my_xp(&state, &user).await?;
    Ok(render(&CompletePartial {
        xp_awarded: done.xp_awarded,
        total_xp: xp.total_xp,
        achievements: done.achievements_unlocked.len(),
    })
    .into_response())
}
