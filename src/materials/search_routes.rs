//! `POST /materials/search`: hybrid search over my ready materials. The service step (the
//! query's embedding with its usage, then [`search::search`]) is [`search_materials`], which
//! the tutor shares.

use axum::Json;
use axum::extract::State;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::search::{self, MaterialHit, Query, STATUS_READY};
use crate::accounts::CurrentUser;
use crate::ai::{Feature, Provider, usage};
use crate::entity::{materials, topics};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::AppJson;
use crate::http::validate::not_blank;
use crate::state::AppState;

/// Hits a search returns by default, and at most.
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_route))
}

/// `POST /materials/search`.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for: a question or a few words, 1 to 500 characters.
    #[garde(length(chars, min = 1, max = 500), custom(not_blank))]
    #[schema(min_length = 1, max_length = 500)]
    pub query: String,
    /// Hits to return, 1 to 50 (default 10).
    #[garde(inner(range(min = 1, max = 50)))]
    #[schema(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
    /// Only materials filed under this topic.
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
}

/// One chunk of one of my materials.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub material_id: Uuid,
    pub title: String,
    pub file_name: String,
    pub chunk_id: Uuid,
    /// The chunk's position in its material, from 0.
    pub chunk_index: i32,
    /// The fused rank score, larger is better (reciprocal-rank fusion of the full-text and
    /// vector rankings).
    pub score: f64,
    /// Words of the chunk around the match, HTML-escaped, with the query's words wrapped in
    /// `<mark>…</mark>`.
    pub snippet: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub items: Vec<SearchHit>,
}

impl From<MaterialHit> for SearchHit {
    fn from(h: MaterialHit) -> Self {
        Self {
            material_id: h.material_id,
            title: h.title,
            file_name: h.file_name,
            chunk_id: h.chunk_id,
            chunk_index: h.chunk_index,
            score: h.score,
            snippet: h.snippet,
        }
    }
}

/// Search my uploaded materials: full-text and vector similarity over my ready materials'
/// chunks, fused by rank; each hit names its material and chunk and shows a highlighted
/// snippet. Only my own materials are searched. With a hosted AI provider, embedding the
/// query counts against the daily `material` allowance.
#[utoipa::path(post, path = "/materials/search", tag = "materials", request_body = SearchRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SearchResponse),
        (status = 401, body = Problem),
        (status = 422, description = "A blank or too long `query`, a `limit` outside 1–50, or an unknown `topic_id`", body = Problem),
        (status = 429, description = "Today's material allowance is used up (hosted AI provider only; `quota-exceeded`)", body = Problem),
        (status = 503, description = "The AI provider could not embed the query (`ai-unavailable`)", body = Problem),
    ))]
async fn search_route(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<SearchRequest>,
) -> AppResult<Json<SearchResponse>> {
    if let Some(topic) = req.topic_id
        && topics::Entity::find_by_id(topic)
            .one(state.db.read())
            .await?
            .is_none()
    {
        return Err(AppError::invalid("topic_id", "no such topic"));
    }
    let limit = req.limit.map_or(DEFAULT_LIMIT, |l| l as usize);
    let hits = search_materials(&state, user.id, &req.query, limit, req.topic_id).await?;
    Ok(Json(SearchResponse {
        items: hits.into_iter().map(SearchHit::from).collect(),
    }))
}

/// Whether `user_id` has any ready material (on `topic_id`, when given).
/// The user's ready materials (their ids), for an `EXISTS` in a caller's own statement: what
/// [`has_ready_materials`] asks, without a round trip of its own.
pub fn ready_materials_select(user_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    materials::Entity::find()
        .select_only()
        .column(materials::Column::Id)
        .filter(materials::Column::UserId.eq(user_id))
        .filter(materials::Column::ProcessingStatus.eq(STATUS_READY))
        .into_query()
}

pub async fn has_ready_materials(
    state: &AppState,
    user_id: Uuid,
    topic_id: Option<Uuid>,
) -> AppResult<bool> {
    let mut select = materials::Entity::find()
        .filter(materials::Column::UserId.eq(user_id))
        .filter(materials::Column::ProcessingStatus.eq(STATUS_READY));
    if let Some(topic) = topic_id {
        select = select.filter(materials::Column::TopicId.eq(topic));
    }
    Ok(select.count(state.db.read()).await? > 0)
}

/// Embeds `text` for a search of `user_id`'s materials. The offline provider is free and not
/// logged; a hosted one is reserved against, and settled to, the `material` allowance.
pub async fn embed_query(state: &AppState, user_id: Uuid, text: &str) -> AppResult<Vec<f32>> {
    let texts = [text.to_string()];
    if matches!(state.ai, Provider::Offline(_)) {
        let (mut vectors, _) = state.ai.embed(&texts).await?;
        return Ok(vectors.pop().unwrap_or_default());
    }
    let reservation = usage::reserve(
        &state.db,
        &state.config,
        user_id,
        Feature::Material,
        state.ai.embedding_model(),
        state.clock.now(),
    )
    .await?;
    match state.ai.embed(&texts).await {
        Ok((mut vectors, used)) => {
            reservation
                .settle(&state.db, &used, state.clock.now())
                .await?;
            Ok(vectors.pop().unwrap_or_default())
        }
        Err(err) => {
            reservation.release(&state.db, state.clock.now()).await?;
            Err(err.into())
        }
    }
}

/// The hybrid search of `user_id`'s ready materials for `text` (SPEC §3 "Materials"). A user
/// with no ready material gets nothing, and no embedding is asked for.
pub async fn search_materials(
    state: &AppState,
    user_id: Uuid,
    text: &str,
    limit: usize,
    topic_id: Option<Uuid>,
) -> AppResult<Vec<MaterialHit>> {
    if !has_ready_materials(state, user_id, topic_id).await? {
        return Ok(Vec::new());
    }
    let embedding = embed_query(state, user_id, text).await?;
    let query = Query {
        text,
        embedding: &embedding,
        embedding_model: state.ai.embedding_model(),
    };
    Ok(search::search(state.db.read(), user_id, query, limit, topic_id).await?)
}

/// The tutor's share of the search: like [`search_materials`] over all of the user's ready
/// materials, but a failed embedding (a hosted provider down, or the day's `material`
/// allowance used up) falls back to full-text alone rather than failing the question.
///
/// `ready` says whether the user has a ready material at all, which the tutor reads in one
/// statement with its other checks ([`ready_materials_select`]): without one, nothing is
/// searched and no embedding is asked for.
pub async fn search_for_tutor(
    state: &AppState,
    user_id: Uuid,
    text: &str,
    limit: usize,
    ready: bool,
) -> AppResult<Vec<MaterialHit>> {
    if !ready {
        return Ok(Vec::new());
    }
    let embedding = match embed_query(state, user_id, text).await {
        Ok(v) => v,
        Err(err) => {
            tracing::warn!(error = %err, "embedding a question failed; material search by text alone");
            Vec::new()
        }
    };
    let query = Query {
        text,
        embedding: &embedding,
        embedding_model: state.ai.embedding_model(),
    };
    Ok(search::search(state.db.read(), user_id, query, limit, None).await?)
}
