//! Notes: my uploaded materials with their processing status (each row polls until it is
//! final), an upload form sent by htmx as multipart with a progress bar, a material's details
//! with download and delete, and search with highlighted snippets. Everything goes through
//! the materials service the JSON routes use.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{FormErrors, Layout, message, render, render_status, valid};
use super::session::{Csrf, WebUser, redirect};
use crate::content::service as content;
use crate::http::error::{AppError, AppResult, FieldError};
use crate::http::extract::{AppPath, PageParams};
use crate::materials::model::{
    MaterialListQuery, MaterialView, STATUS_FAILED, STATUS_PENDING, STATUS_PROCESSING, STATUS_READY,
};
use crate::materials::routes::{UploadClient, content_response, upload_form};
use crate::materials::search_routes::{SearchRequest, search_materials};
use crate::materials::service;
use crate::state::AppState;

/// Materials the list shows, and search hits.
const LIST_LIMIT: u64 = 100;
const SEARCH_LIMIT: u32 = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/materials", get(list_page))
        .route(
            "/materials/upload",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/materials/search", get(search_page))
        .route("/materials/{id}", get(detail_page))
        .route("/materials/{id}/row", get(row_partial))
        .route("/materials/{id}/status", get(status_partial))
        .route("/materials/{id}/download", get(download))
        .route("/materials/{id}/delete", post(delete))
}

/// A material as the pages show it.
pub struct Row {
    pub id: Uuid,
    pub title: String,
    pub file_name: String,
    pub kind: &'static str,
    pub size: String,
    pub status: String,
    pub label: &'static str,
    pub error: Option<String>,
    pub chunk_count: i64,
    pub uploaded_at: String,
    /// `ready` or `failed`: nothing will change by itself any more.
    pub is_final: bool,
}

impl From<MaterialView> for Row {
    fn from(m: MaterialView) -> Self {
        let label = match m.processing_status.as_str() {
            STATUS_PENDING => "Waiting",
            STATUS_PROCESSING => "Processing",
            STATUS_READY => "Ready",
            STATUS_FAILED => "Failed",
            _ => "Unknown",
        };
        let kind = match m.content_type.as_str() {
            "application/pdf" => "PDF",
            "text/markdown" => "Markdown",
            "text/plain" => "Text",
            t if t.contains("wordprocessingml") => "Word",
            _ => "File",
        };
        Self {
            id: m.id,
            is_final: matches!(m.processing_status.as_str(), STATUS_READY | STATUS_FAILED),
            title: m.title,
            file_name: m.file_name,
            kind,
            size: human_size(m.file_size),
            status: m.processing_status,
            label,
            error: m.processing_error,
            chunk_count: m.chunk_count,
            uploaded_at: m.uploaded_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// Bytes in B, KB or MB (powers of 1024), one decimal above bytes.
pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1024.0 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    }
}

/// A sentence with its first letter in capitals (the services' details start in lower case).
fn sentence(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// One subject's topics, for the upload form's select.
pub struct TopicGroup {
    pub subject: String,
    pub topics: Vec<(Uuid, String)>,
}

async fn topic_groups(state: &AppState) -> AppResult<Vec<TopicGroup>> {
    let all = PageParams {
        limit: Some(100),
        cursor: None,
    };
    let subjects = content::list_subjects(state, all).await?;
    let mut groups = Vec::with_capacity(subjects.items.len());
    for subject in subjects.items {
        let topics = content::list_topics(
            state,
            subject.id,
            PageParams {
                limit: Some(100),
                cursor: None,
            },
        )
        .await?;
        if !topics.items.is_empty() {
            groups.push(TopicGroup {
                subject: subject.name,
                topics: topics.items.into_iter().map(|t| (t.id, t.name)).collect(),
            });
        }
    }
    Ok(groups)
}

/// The upload form and the list: what an upload answers with, swapped in whole.
pub struct UploadArea {
    pub errors: FormErrors,
    pub topics: Vec<TopicGroup>,
    pub rows: Vec<Row>,
    /// The title of the file just uploaded.
    pub uploaded: Option<String>,
    pub max_upload_bytes: u64,
    pub max_upload: String,
}

async fn upload_area(
    state: &AppState,
    user_id: Uuid,
    errors: FormErrors,
    uploaded: Option<String>,
) -> AppResult<UploadArea> {
    let page = service::list(
        state,
        user_id,
        MaterialListQuery {
            topic_id: None,
            limit: Some(LIST_LIMIT),
            cursor: None,
        },
    )
    .await?;
    Ok(UploadArea {
        errors,
        topics: topic_groups(state).await?,
        rows: page.items.into_iter().map(Row::from).collect(),
        uploaded,
        max_upload_bytes: state.config.max_upload_bytes,
        max_upload: human_size(state.config.max_upload_bytes as i64),
    })
}

#[derive(Template)]
#[template(path = "materials/index.html")]
struct ListPage {
    layout: Layout,
    area: UploadArea,
    q: String,
    search_error: Option<String>,
}

#[derive(Template)]
#[template(path = "materials/upload_partial.html")]
struct UploadPartial {
    area: UploadArea,
}

#[derive(Template)]
#[template(path = "materials/row_partial.html")]
struct RowPartial {
    row: Row,
}

#[derive(Template)]
#[template(path = "materials/status_partial.html")]
struct StatusPartial {
    row: Row,
}

#[derive(Template)]
#[template(path = "materials/detail.html")]
struct DetailPage {
    layout: Layout,
    row: Row,
}

/// A search hit with its snippet in pieces: `(text, highlighted)`.
pub struct Hit {
    pub material_id: Uuid,
    pub title: String,
    pub file_name: String,
    /// The chunk's place in its material, from 1.
    pub position: i32,
    pub parts: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "materials/search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    search_error: Option<String>,
    hits: Vec<Hit>,
}

async fn list_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
) -> AppResult<Response> {
    let layout = Layout::signed_in(&state, &user, csrf, "My notes", "materials").await?;
    let area = upload_area(&state, user.id, FormErrors::default(), None).await?;
    Ok(render(&ListPage {
        layout,
        area,
        q: String::new(),
        search_error: None,
    }))
}

/// The errors of a refused upload: a validation error beside its field, anything else (too
/// large, wrong type, over the quota) beside the file field.
fn upload_errors(state: &AppState, err: &AppError) -> FormErrors {
    match err {
        AppError::Validation(_) => FormErrors::from_error(err),
        AppError::PayloadTooLarge => FormErrors {
            fields: vec![FieldError {
                field: "file".into(),
                message: format!(
                    "This file is larger than the upload limit of {}.",
                    human_size(state.config.max_upload_bytes as i64)
                ),
            }],
            general: None,
        },
        other => FormErrors {
            fields: vec![FieldError {
                field: "file".into(),
                message: sentence(message(other)),
            }],
            general: None,
        },
    }
}

async fn upload(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    let result = match multipart {
        Ok(multipart) => upload_form(&state, user.id, multipart, UploadClient::WebPage).await,
        Err(e) => Err(AppError::BadRequest(e.body_text())),
    };
    let (status, errors, uploaded) = match result {
        Ok(material) => (StatusCode::OK, FormErrors::default(), Some(material.title)),
        Err(err) => (err.status(), upload_errors(&state, &err), None),
    };
    let area = upload_area(&state, user.id, errors, uploaded).await?;
    Ok(render_status(status, &UploadPartial { area }))
}

async fn detail_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let row = Row::from(service::detail(&state, user.id, id).await?);
    let layout = Layout::signed_in(&state, &user, csrf, row.title.clone(), "materials").await?;
    Ok(render(&DetailPage { layout, row }))
}

async fn row_partial(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let row = Row::from(service::detail(&state, user.id, id).await?);
    Ok(render(&RowPartial { row }))
}

async fn status_partial(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let row = Row::from(service::detail(&state, user.id, id).await?);
    Ok(render(&StatusPartial { row }))
}

async fn download(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    Ok(content_response(
        service::content(&state, user.id, id).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    service::delete(&state, user.id, id).await?;
    Ok(redirect(&headers, "/materials"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SearchQuery {
    q: String,
}

async fn search_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Query(query): Query<SearchQuery>,
) -> AppResult<Response> {
    let layout = Layout::signed_in(&state, &user, csrf, "Search my notes", "materials").await?;
    let req = SearchRequest {
        query: query.q.clone(),
        limit: Some(SEARCH_LIMIT),
        topic_id: None,
    };
    let result = async {
        let req = valid(req)?;
        search_materials(&state, user.id, &req.query, SEARCH_LIMIT as usize, None).await
    }
    .await;
    let (status, hits, search_error) = match result {
        Ok(hits) => (
            StatusCode::OK,
            hits.into_iter()
                .map(|h| Hit {
                    material_id: h.material_id,
                    title: h.title,
                    file_name: h.file_name,
                    position: h.chunk_index + 1,
                    parts: snippet_parts(&h.snippet),
                })
                .collect(),
            None,
        ),
        Err(err) => {
            let text = match &err {
                AppError::Validation(fields) => fields
                    .first()
                    .map(|f| format!("The search words: {}.", f.message))
                    .unwrap_or_else(|| message(&err)),
                other => sentence(message(other)),
            };
            (err.status(), Vec::new(), Some(text))
        }
    };
    Ok(render_status(
        status,
        &SearchPage {
            layout,
            q: query.q,
            search_error,
            hits,
        },
    ))
}

/// The service's snippet (HTML-escaped text with `<mark>…</mark>` around matched words) as
/// plain-text pieces, each marked or not, for the template to escape again as it prints
/// them: no markup from the snippet reaches the page as such.
pub fn snippet_parts(snippet: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut rest = snippet;
    while let Some(open) = rest.find("<mark>") {
        let after = &rest[open + "<mark>".len()..];
        let Some(close) = after.find("</mark>") else {
            break;
        };
        if open > 0 {
            parts.push((unescape(&rest[..open]), false));
        }
        parts.push((unescape(&after[..close]), true));
        rest = &after[close + "</mark>".len()..];
    }
    if !rest.is_empty() {
        parts.push((unescape(rest), false));
    }
    parts
}

/// Undoes the service's escaping (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (entity, ch) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
        ]
        .into_iter()
        .find(|(e, _)| tail.starts_with(e))
        .unwrap_or(("&", '&'));
        out.push(ch);
        rest = &tail[entity.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_parts_unescape_text_and_keep_marks_apart() {
        let snippet = crate::materials::search::snippet(
            "Cells & \"friends\": <b>the</b> mitochondria power cells",
            &["mitochondria".to_string()],
        );
        let parts = snippet_parts(&snippet);
        let marked: Vec<&str> = parts.iter().filter(|p| p.1).map(|p| p.0.as_str()).collect();
        assert_eq!(marked, vec!["mitochondria"], "{parts:?}");
        let text: String = parts.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            text,
            "Cells & \"friends\": <b>the</b> mitochondria power cells"
        );
    }

    #[test]
    fn a_stray_ampersand_or_unclosed_mark_stays_text() {
        assert_eq!(
            snippet_parts("a &x <mark>b"),
            vec![("a &x <mark>b".to_string(), false)]
        );
        assert_eq!(human_size(2048), "2.0 KB");
    }
}
