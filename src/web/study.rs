//! The study timer: start and stop over the study-session service the JSON routes use. The
//! server knows the running session, so the timer survives a reload: the page renders its
//! `started_at` (and the server's now) into data attributes and app.js ticks the clock.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::learn::is_htmx;
use super::page::{FormErrors, Layout, WebForm, render, render_status, status_of, valid};
use super::session::{self, Csrf, WebUser};
use crate::accounts::CurrentUser;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{AppPath, PageParams};
use crate::state::AppState;
use crate::study::model::{StartSessionRequest, StudySessionView};
use crate::study::service;

/// How many of the last sessions the page lists.
const RECENT: u64 = 10;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/study", get(study))
        .route("/study/start", post(start))
        .route("/study/sessions/{id}/stop", post(stop))
}

/// `H:MM:SS` of a number of seconds.
pub fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The timer and the last sessions: the part of the page htmx swaps.
#[derive(Template)]
#[template(path = "study/panel_partial.html")]
struct Panel {
    csrf: String,
    now: DateTime<Utc>,
    running: Option<StudySessionView>,
    sessions: Vec<StudySessionView>,
    subjects: Vec<(Uuid, String)>,
    errors: FormErrors,
    /// What just happened, for the page's status line.
    status: String,
    /// A finished session's result, shown in the panel.
    result: Option<String>,
    /// Whether the status goes out of band (an htmx answer).
    oob: bool,
    notes: String,
}

impl Panel {
    fn elapsed(&self) -> i64 {
        self.running
            .as_ref()
            .map_or(0, |s| (self.now - s.started_at).num_seconds().max(0))
    }

    fn elapsed_text(&self) -> String {
        clock(self.elapsed())
    }

    fn subject_name(&self, id: &Option<Uuid>) -> String {
        id.and_then(|id| self.subjects.iter().find(|(s, _)| *s == id))
            .map_or_else(|| "—".to_string(), |(_, name)| name.clone())
    }

    fn duration(&self, s: &StudySessionView) -> String {
        match s.duration_seconds {
            Some(secs) => plural(i64::from(secs) / 60, "minute", "minutes"),
            None => "Running".to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "study/index.html")]
struct StudyPage {
    layout: Layout,
    panel: Panel,
}

async fn panel(
    state: &AppState,
    user: &CurrentUser,
    csrf: &Csrf,
    errors: FormErrors,
    status: String,
    result: Option<String>,
) -> AppResult<Panel> {
    let running = service::running(state, user).await?;
    let sessions = service::recent(state, user, RECENT).await?;
    let subjects = crate::content::service::list_subjects(
        state,
        PageParams {
            limit: Some(100),
            cursor: None,
        },
    )
    .await?
    .items
    .into_iter()
    .map(|s| (s.id, s.name))
    .collect();
    Ok(Panel {
        csrf: csrf.0.clone(),
        now: state.clock.now(),
        running,
        sessions,
        subjects,
        errors,
        status,
        result,
        oob: false,
        notes: String::new(),
    })
}

async fn study(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
) -> AppResult<Response> {
    let panel = panel(
        &state,
        &user,
        &csrf,
        FormErrors::default(),
        String::new(),
        None,
    )
    .await?;
    let layout = Layout::signed_in(&state, &user, csrf, "Study timer", "study").await?;
    Ok(render(&StudyPage { layout, panel }).into_response())
}

/// The answer to a start or a stop: the panel for htmx (with the status out of band), the page
/// again for a plain form post that failed, or back to the page when it worked.
async fn answer(
    state: &AppState,
    user: &CurrentUser,
    csrf: Csrf,
    headers: &HeaderMap,
    failed: Option<&AppError>,
    mut panel: Panel,
) -> AppResult<Response> {
    if is_htmx(headers) {
        panel.oob = true;
        return Ok(render(&panel));
    }
    match failed {
        None => Ok(session::redirect(headers, "/study")),
        Some(err) => {
            let layout = Layout::signed_in(state, user, csrf, "Study timer", "study").await?;
            Ok(render_status(status_of(err), &StudyPage { layout, panel }))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StartForm {
    subject_id: String,
    notes: String,
}

async fn start(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    WebForm(form): WebForm<StartForm>,
) -> AppResult<Response> {
    let subject_id = match form.subject_id.trim() {
        "" => Ok(None),
        id => Uuid::parse_str(id)
            .map(Some)
            .map_err(|_| AppError::invalid("subject_id", "choose a subject from the list")),
    };
    let notes = form.notes.trim();
    let result = async {
        let req = StartSessionRequest {
            subject_id: subject_id?,
            topic_id: None,
            notes: (!notes.is_empty()).then(|| notes.to_string()),
        };
        service::start(&state, &user, valid(req)?).await
    }
    .await;
    let (errors, status) = match &result {
        Ok(_) => (FormErrors::default(), "Timer started.".to_string()),
        Err(err) => (
            FormErrors::from_error(err),
            "The timer did not start.".to_string(),
        ),
    };
    let mut panel = panel(&state, &user, &csrf, errors, status, None).await?;
    if result.is_err() {
        panel.notes = form.notes.clone();
    }
    answer(&state, &user, csrf, &headers, result.as_ref().err(), panel).await
}

async fn stop(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let result = service::stop(&state, &user, id).await;
    let (errors, status, summary) = match &result {
        Ok(done) => {
            let minutes = i64::from(done.session.duration_seconds.unwrap_or(0)) / 60;
            let text = format!(
                "Timer stopped. You studied {} and earned {} XP.",
                plural(minutes, "minute", "minutes"),
                done.xp_awarded
            );
            (FormErrors::default(), text.clone(), Some(text))
        }
        // Someone else's session, or none at all: the service's 404.
        Err(AppError::NotFound(what)) => return Err(AppError::NotFound(what)),
        Err(err) => (
            FormErrors::from_error(err),
            "The timer did not stop.".to_string(),
            None,
        ),
    };
    let panel = panel(&state, &user, &csrf, errors, status, summary).await?;
    answer(&state, &user, csrf, &headers, result.as_ref().err(), panel).await
}
