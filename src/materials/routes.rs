//! HTTP handlers of materials: upload (multipart, streamed to the object store), list, detail,
//! download, delete and reprocess. Someone else's material is "not found" everywhere.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::*;
use super::service;
use crate::accounts::CurrentUser;
use crate::http::Page;
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{AppPath, AppQuery};
use crate::state::AppState;

/// The longest text form field (`topic_id`, `title`), in bytes.
const MAX_FIELD_BYTES: usize = 4 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    // The upload counts its own bytes against `STUDIUM_MAX_UPLOAD_BYTES` as it streams them,
    // so the JSON body limit does not apply to it.
    let upload = OpenApiRouter::new()
        .routes(routes!(upload_material, list_materials))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(upload)
        .routes(routes!(get_material, delete_material))
        .routes(routes!(download_material))
        .routes(routes!(reprocess_material))
}

/// Upload a file (PDF, DOCX, plain text or Markdown) as `multipart/form-data`: the field
/// `file`, optionally `topic_id` and `title`. The file is stored as it arrives and its type
/// read from its bytes; it is then processed in the background (text extraction, chunking,
/// embedding): follow `processing_status` with `GET /materials/{id}`.
#[utoipa::path(post, path = "/materials", tag = "materials",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Stored; processing is scheduled (`processing_status` is `pending`)", body = MaterialView),
        (status = 400, description = "Not a readable multipart form", body = Problem),
        (status = 409, description = "The file does not fit in the storage quota of your plan (`storage-quota-exceeded`)", body = Problem),
        (status = 413, description = "The file is larger than the upload limit", body = Problem),
        (status = 415, description = "Not a PDF, DOCX, UTF-8 text or Markdown file", body = Problem),
        (status = 422, description = "No or an empty `file`, an unknown `topic_id`, a bad `title` or an unknown field", body = Problem),
    ))]
async fn upload_material(
    State(state): State<AppState>,
    user: CurrentUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    let multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let material = upload_form(&state, user.id, multipart, UploadClient::Api).await?;
    Ok((StatusCode::ACCEPTED, Json(material)).into_response())
}

/// Who sent an upload form: the JSON API's clients, or the web app's page, whose form also
/// carries its CSRF field and sends an empty `topic_id` for "no topic".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadClient {
    Api,
    WebPage,
}

/// Reads an upload form (`file`, optional `topic_id` and `title`) as it streams in, storing
/// the file through [`service::receive`] and recording it with [`service::create`]. Any other
/// field is a 422, and a refused upload leaves nothing stored.
pub async fn upload_form(
    state: &AppState,
    user_id: Uuid,
    mut multipart: Multipart,
    client: UploadClient,
) -> AppResult<MaterialView> {
    let web = client == UploadClient::WebPage;
    let mut received: Option<service::Received> = None;
    let mut topic_id = None;
    let mut title = None;
    let outcome: AppResult<()> = async {
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?
        {
            let name = field.name().unwrap_or_default().to_string();
            match name.as_str() {
                "file" => {
                    if received.is_some() {
                        return Err(AppError::invalid("file", "send one file per upload"));
                    }
                    let file_name = field.file_name().map(str::to_string);
                    received = Some(
                        service::receive(state, user_id, file_name.as_deref(), &mut field).await?,
                    );
                }
                "topic_id" => {
                    let text = small_field(&mut field, "topic_id").await?;
                    if !(web && text.trim().is_empty()) {
                        let id = Uuid::parse_str(text.trim())
                            .map_err(|_| AppError::invalid("topic_id", "not a UUID"))?;
                        topic_id = Some(id);
                    }
                }
                "title" => title = Some(small_field(&mut field, "title").await?),
                "csrf_token" if web => {
                    small_field(&mut field, "csrf_token").await?;
                }
                other => {
                    return Err(AppError::invalid(
                        other.to_string(),
                        "unknown field; expected file, topic_id or title",
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(err) = outcome {
        if let Some(r) = received
            && let Err(e) = state.storage.delete(&r.key).await
        {
            tracing::warn!(error = ?e, "could not delete the object of a refused upload");
        }
        return Err(err);
    }
    let received = received.ok_or_else(|| AppError::invalid("file", "a file is required"))?;
    service::create(state, user_id, received, topic_id, title).await
}

/// A short text form field, at most [`MAX_FIELD_BYTES`].
async fn small_field(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &'static str,
) -> AppResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(AppError::invalid(name, "too long"));
        }
    }
    String::from_utf8(bytes).map_err(|_| AppError::invalid(name, "not UTF-8 text"))
}

/// My materials, the newest first; `topic_id` keeps one topic's.
#[utoipa::path(get, path = "/materials", tag = "materials", params(MaterialListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<MaterialView>),
        (status = 422, description = "A bad `limit`, `cursor` or `topic_id`", body = Problem),
    ))]
async fn list_materials(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<MaterialListQuery>,
) -> AppResult<Json<Page<MaterialView>>> {
    Ok(Json(service::list(&state, user.id, query).await?))
}

/// One of my materials: its processing status, error and chunk count.
#[utoipa::path(get, path = "/materials/{id}", tag = "materials",
    params(("id" = Uuid, Path, description = "Material id")), security(("bearer" = [])),
    responses((status = 200, body = MaterialView)))]
async fn get_material(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Json<MaterialView>> {
    Ok(Json(service::detail(&state, user.id, id).await?))
}

/// The file as uploaded, with its type, as an attachment.
#[utoipa::path(get, path = "/materials/{id}/content", tag = "materials",
    params(("id" = Uuid, Path, description = "Material id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The file; `Content-Disposition: attachment` with its name",
            content(
                (FileBytes = "application/pdf"),
                (FileBytes = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                (FileBytes = "text/plain"),
                (FileBytes = "text/markdown"),
            )),
    ))]
async fn download_material(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let content = service::content(&state, user.id, id).await?;
    Ok(content_response(content))
}

/// The stored file as an attachment, with its type, size and name.
pub fn content_response(content: service::Content) -> Response {
    let m = &content.material;
    let mut response = Response::new(Body::from_stream(content.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&m.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&m.file_size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&m.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// `attachment` with the name twice: an ASCII fallback (quotes, backslashes and anything
/// outside printable ASCII replaced) and the exact name percent-encoded (RFC 6266 / 8187).
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Delete one of my materials: its file, chunks and record.
#[utoipa::path(delete, path = "/materials/{id}", tag = "materials",
    params(("id" = Uuid, Path, description = "Material id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
async fn delete_material(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    service::delete(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Process one of my materials again (after a failure, or to re-embed it); its new chunks
/// replace the old ones.
#[utoipa::path(post, path = "/materials/{id}/reprocess", tag = "materials",
    params(("id" = Uuid, Path, description = "Material id")), security(("bearer" = [])),
    responses(
        (status = 202, description = "Processing is scheduled (`processing_status` is `pending`)", body = MaterialView),
        (status = 409, description = "It is already waiting for or under processing (`material-processing`)", body = Problem),
    ))]
async fn reprocess_material(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let material = service::reprocess(&state, user.id, id).await?;
    Ok((StatusCode::ACCEPTED, Json(material)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_and_keeps_the_exact_name() {
        assert_eq!(
            content_disposition("Zellbiologie \"Teil 1\"\\é.pdf"),
            "attachment; filename=\"Zellbiologie _Teil 1___.pdf\"; \
             filename*=UTF-8''Zellbiologie%20%22Teil%201%22%5C%C3%A9.pdf"
        );
    }
}
