//! The dashboard: level and XP, the streak (and whether it is at risk today), what to do next,
//! the last 30 days of study as a chart, and mastery per topic.

pub mod chart;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use uuid::Uuid;

use super::page::{Layout, render};
use super::session::{Csrf, WebUser, redirect};
use crate::http::error::AppResult;
use crate::http::extract::{AppPath, PageParams};
use crate::mastery::model::{MasteryLevel, TopicMasteryView};
use crate::me::model::MeResponse;
use crate::recommendations::service::RecommendationView;
use crate::state::AppState;
use crate::study::model::{StatsQuery, StreakView};

/// Days in the study chart.
const CHART_DAYS: u32 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/recommendations/{id}/dismiss", post(dismiss))
}

/// A recommendation as the page links it.
struct Suggestion {
    id: Uuid,
    title: String,
    reason: String,
    href: String,
}

/// The web page of a recommendation's target (the API's `link` is the JSON path).
pub fn target_href(reference_type: &str, id: Uuid) -> String {
    match reference_type {
        "lesson" => format!("/learn/lessons/{id}"),
        "quiz" => format!("/quizzes/{id}"),
        _ => format!("/learn/topics/{id}"),
    }
}

impl From<RecommendationView> for Suggestion {
    fn from(r: RecommendationView) -> Self {
        Self {
            id: r.id,
            href: target_href(&r.reference_type, r.reference_id),
            title: r.title,
            reason: r.reason,
        }
    }
}

/// One topic's mastery as the table shows it.
struct MasteryRow {
    topic_id: Uuid,
    topic: String,
    percent: i64,
    level: &'static str,
    lessons: String,
}

impl From<TopicMasteryView> for MasteryRow {
    fn from(m: TopicMasteryView) -> Self {
        Self {
            topic_id: m.topic_id,
            topic: m.topic_name,
            percent: m.mastery.round().clamp(0.0, 100.0) as i64,
            level: match m.level {
                MasteryLevel::New => "New",
                MasteryLevel::Learning => "Learning",
                MasteryLevel::Proficient => "Proficient",
                MasteryLevel::Mastered => "Mastered",
            },
            lessons: format!("{} of {}", m.lessons_completed, m.lessons_total),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/index.html")]
struct DashboardPage {
    layout: Layout,
    me: MeResponse,
    xp: crate::gamification::model::XpSummary,
    streak: StreakView,
    suggestions: Vec<Suggestion>,
    chart: String,
    study_minutes: i64,
    mastery: Vec<MasteryRow>,
}

impl DashboardPage {
    /// How far into the current level, in percent.
    fn level_percent(&self) -> i64 {
        let span = (self.xp.next_level_xp - self.xp.level_start_xp).max(1);
        ((self.xp.total_xp - self.xp.level_start_xp) * 100 / span).clamp(0, 100)
    }
}

async fn dashboard(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
) -> AppResult<Response> {
    let layout = Layout::signed_in(&state, &user, csrf, "Dashboard", "dashboard").await?;
    let me = crate::me::service::me(&state, &user).await?;
    let xp = crate::gamification::service::my_xp(&state, &user).await?;
    let streak = crate::study::service::streak(&state, &user).await?;
    let recommendations = crate::recommendations::service::list(&state, &user).await?;
    let stats = crate::study::stats::stats(
        &state,
        &user,
        StatsQuery {
            days: Some(CHART_DAYS),
        },
    )
    .await?;
    let mastery = crate::mastery::service::my_mastery(
        &state,
        &user,
        PageParams {
            limit: Some(100),
            cursor: None,
        },
    )
    .await?;
    let days: Vec<chart::Day> = stats
        .days
        .iter()
        .map(|d| chart::Day {
            date: d.date,
            minutes: d.study_minutes,
        })
        .collect();
    Ok(render(&DashboardPage {
        layout,
        me,
        xp,
        streak,
        suggestions: recommendations.items.into_iter().map(Into::into).collect(),
        chart: chart::study_chart("Minutes studied per day, last 30 days", &days),
        study_minutes: stats.totals.study_minutes,
        mastery: mastery.items.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// "Dismiss" on a recommendation: htmx swaps its line for a note that it is dismissed;
/// without JavaScript the form posts and the dashboard is shown again, without it.
async fn dismiss(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    crate::recommendations::service::dismiss(&state, &user, id).await?;
    if headers.contains_key("hx-request") {
        Ok(Html("<li class=\"muted dismissed\" role=\"status\">Dismissed.</li>").into_response())
    } else {
        Ok(redirect(&headers, "/"))
    }
}
