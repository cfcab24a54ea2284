//! The dashboard: level and XP, the streak, and what to do next.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::page::{Layout, render};
use super::session::{Csrf, WebUser};
use crate::http::error::AppResult;
use crate::me::model::MeResponse;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(dashboard))
}

#[derive(Template)]
#[template(path = "dashboard/index.html")]
struct DashboardPage {
    layout: Layout,
    me: MeResponse,
    xp: crate::gamification::model::XpSummary,
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
    Ok(render(&DashboardPage { layout, me, xp }).into_response())
}
