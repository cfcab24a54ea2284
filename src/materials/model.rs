//! Request and response types of the materials endpoints (SPEC §4 materials row). Field names
//! are the seed's column names; the object's key in the store stays internal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::entity::materials;

/// `processing_status` values (SPEC §3 Materials): pending → processing → ready | failed.
pub const STATUS_PENDING: &str = "pending";
pub const STATUS_PROCESSING: &str = "processing";
pub const STATUS_READY: &str = "ready";
pub const STATUS_FAILED: &str = "failed";

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// `POST /materials`: the form fields (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file: PDF, DOCX, plain text or Markdown. Its type is read from its bytes.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The topic the material belongs to.
    pub topic_id: Option<Uuid>,
    /// A title, 1 to 200 characters; the file's name when left out.
    pub title: Option<String>,
}

/// A material, as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MaterialView {
    pub id: Uuid,
    pub topic_id: Option<Uuid>,
    pub title: String,
    /// The uploaded file's name, cleaned (no path, no control characters).
    pub file_name: String,
    /// `application/pdf`, `application/vnd.openxmlformats-officedocument.wordprocessingml.document`,
    /// `text/plain` or `text/markdown`, read from the file's bytes.
    pub content_type: String,
    /// Bytes.
    pub file_size: i64,
    /// `pending`, `processing`, `ready` or `failed`.
    pub processing_status: String,
    /// Why processing failed, in words; null unless `failed`.
    pub processing_error: Option<String>,
    /// How many chunks the text was split into (0 until `ready`).
    pub chunk_count: i64,
    pub uploaded_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MaterialView {
    pub fn new(m: materials::Model, chunk_count: i64) -> Self {
        Self {
            id: m.id,
            topic_id: m.topic_id,
            title: m.title,
            file_name: m.file_name,
            content_type: m.content_type,
            file_size: m.file_size,
            processing_status: m.processing_status,
            processing_error: m.processing_error,
            chunk_count,
            uploaded_at: m.uploaded_at,
            updated_at: m.updated_at,
        }
    }
}

/// `GET /materials`: my materials, newest first.
#[derive(Debug, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MaterialListQuery {
    /// Only materials of this topic.
    #[garde(skip)]
    pub topic_id: Option<Uuid>,
    /// How many items, 1 to 100 (default 20).
    #[garde(range(min = 1, max = 100))]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<String>,
}

/// The bytes of an uploaded file, as uploaded.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);
