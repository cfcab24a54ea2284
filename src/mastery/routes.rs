//! HTTP handlers of the mastery area.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::TopicMasteryView;
use super::service;
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::AppResult;
use crate::http::extract::{AppQuery, PageParams};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_mastery))
}

/// My mastery per topic I have practised, faded by the time since I last practised it.
#[utoipa::path(get, path = "/me/mastery", tag = "mastery", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<TopicMasteryView>)))]
async fn my_mastery(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<PageParams>,
) -> AppResult<Json<Page<TopicMasteryView>>> {
    Ok(Json(service::my_mastery(&state, &user, page).await?))
}
