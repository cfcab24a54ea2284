//! The rules of materials (SPEC §3 Materials): receiving an upload into the object store,
//! recording it within the user's storage quota, and reading, listing and deleting it.
//!
//! An upload is streamed to the store as it arrives ([`receive`]), counted against the size
//! limit and the quota left as it goes, and its type is read from its bytes. Only then is the
//! row written ([`create`]): the quota is checked again and the row and its processing job are
//! inserted in one write transaction after `lock_user`, so parallel uploads cannot overdraw the
//! quota and a material never exists without its job. Every failure after the object was
//! written deletes the object again.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::extract::Kind;
use super::model::*;
use super::process;
use super::storage::Storage;
use crate::ai::usage::{Plan, plan_of};
use crate::config::Config;
use crate::db::lock_user;
use crate::entity::{material_chunks, materials, topics};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{encode_cursor, next_page};
use crate::state::AppState;

/// Bytes looked at to recognise a file's type.
const SNIFF_BYTES: usize = 8 * 1024;
/// Bytes kept from the end of a ZIP file: enough for the central directory of a DOCX with the
/// most entries extraction accepts.
const ZIP_TAIL_BYTES: usize = 512 * 1024;
/// The start of a ZIP file (a local file header) and of a central directory entry.
const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";
const ZIP_CENTRAL_HEADER: &[u8] = b"PK\x01\x02";
/// The longest kept file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The name kept when nothing of the uploaded one is left after cleaning.
const DEFAULT_FILE_NAME: &str = "upload";

/// A file written to the store, not yet recorded.
#[derive(Debug)]
pub struct Received {
    pub key: String,
    pub size: u64,
    pub kind: Kind,
    pub file_name: String,
}

/// The storage a plan allows, in bytes.
pub fn storage_quota(config: &Config, plan: Plan) -> u64 {
    match plan {
        Plan::Free => config.plan_free_storage_bytes,
        Plan::Pro => config.plan_pro_storage_bytes,
    }
}

/// The bytes of the files `user_id` has stored.
pub async fn storage_used(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    let used: Option<i64> = materials::Entity::find()
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(file_size), 0) AS BIGINT)"))
        .filter(materials::Column::UserId.eq(user_id))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(u64::try_from(used.unwrap_or(0)).unwrap_or(0))
}

fn quota_exceeded(quota: u64) -> AppError {
    AppError::conflict(
        "storage-quota-exceeded",
        format!(
            "this file does not fit in your plan's storage of {} MiB; delete some materials first",
            quota / (1024 * 1024)
        ),
    )
}

/// The uploaded name without any path, control characters or surrounding blanks, at most
/// [`MAX_FILE_NAME_CHARS`] characters. It is only ever shown, never used as a path.
pub fn clean_file_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        DEFAULT_FILE_NAME.to_string()
    } else {
        cleaned.to_string()
    }
}

/// Reads a file's type from its bytes as they stream by: PDF by its signature (infer), DOCX as
/// a ZIP whose central directory (at its end) lists `word/document.xml`, text by being valid
/// UTF-8 throughout with no NUL byte. The name only decides between plain text and Markdown.
struct Sniffer {
    head: Vec<u8>,
    /// The last bytes of a ZIP file.
    tail: Vec<u8>,
    /// Bytes of a UTF-8 character cut by a chunk boundary.
    carry: Vec<u8>,
    text: bool,
}

impl Sniffer {
    fn new() -> Self {
        Self {
            head: Vec::with_capacity(SNIFF_BYTES),
            tail: Vec::new(),
            carry: Vec::new(),
            text: true,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.head.starts_with(ZIP_LOCAL_HEADER) {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > 2 * ZIP_TAIL_BYTES {
                let excess = self.tail.len() - ZIP_TAIL_BYTES;
                self.tail.drain(..excess);
            }
        }
        if !self.text {
            return;
        }
        if chunk.contains(&0) {
            self.text = false;
            return;
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        match std::str::from_utf8(&data) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => {
                self.carry = data[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.text = false,
        }
    }

    /// Whether the file can no longer be an accepted type (known once the head is read).
    fn rejected_early(&self) -> bool {
        self.head.len() >= SNIFF_BYTES
            && !self.text
            && !infer::archive::is_pdf(&self.head)
            && !self.head.starts_with(ZIP_LOCAL_HEADER)
    }

    fn binary_kind(&self) -> Option<Kind> {
        if infer::archive::is_pdf(&self.head) {
            Some(Kind::Pdf)
        } else if self.head.starts_with(ZIP_LOCAL_HEADER) && lists_word_document(&self.tail) {
            Some(Kind::Docx)
        } else {
            None
        }
    }

    fn kind(&self, file_name: &str) -> Option<Kind> {
        if let Some(kind) = self.binary_kind() {
            return Some(kind);
        }
        if !(self.text && self.carry.is_empty()) {
            return None;
        }
        let lower = file_name.to_lowercase();
        Some(if lower.ends_with(".md") || lower.ends_with(".markdown") {
            Kind::Markdown
        } else {
            Kind::Text
        })
    }
}

/// Whether the central directory at the end of a ZIP file names `word/document.xml`.
fn lists_word_document(tail: &[u8]) -> bool {
    const NAME: &[u8] = b"word/document.xml";
    tail.windows(ZIP_CENTRAL_HEADER.len())
        .enumerate()
        .filter(|(_, w)| *w == ZIP_CENTRAL_HEADER)
        .any(|(at, _)| {
            let name_len = tail
                .get(at + 28..at + 30)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
            name_len == Some(NAME.len()) && tail.get(at + 46..at + 46 + NAME.len()) == Some(NAME)
        })
}

/// The object store failed: logged with its cause, answered 503.
fn storage_unavailable(cause: anyhow::Error) -> AppError {
    tracing::error!(error = ?cause, "the object store failed");
    AppError::Unavailable("the file storage is unavailable; try again")
}

fn unsupported() -> AppError {
    AppError::UnsupportedMediaType(
        "only PDF, Word (DOCX), plain text (UTF-8) and Markdown files are accepted; the type is \
         read from the file's content"
            .into(),
    )
}

/// Streams an uploaded file into the store under a new key of `user_id`. Answers 413 beyond
/// `STUDIUM_MAX_UPLOAD_BYTES`, 409 `storage-quota-exceeded` beyond the quota left, 415 for a
/// type that is not accepted and 422 for an empty file; in each case nothing stays stored.
pub async fn receive<S, E>(
    state: &AppState,
    user_id: Uuid,
    file_name: Option<&str>,
    mut body: S,
) -> AppResult<Received>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file_name = clean_file_name(file_name);
    let now = state.clock.now();
    let quota = storage_quota(&state.config, plan_of(state.db.read(), user_id, now).await?);
    let left = quota.saturating_sub(storage_used(state.db.read(), user_id).await?);
    let max = state.config.max_upload_bytes;
    if left == 0 {
        return Err(quota_exceeded(quota));
    }

    let key = Storage::new_key(user_id);
    let mut upload = state
        .storage
        .start_upload(&key)
        .await
        .map_err(storage_unavailable)?;
    let mut sniffer = Sniffer::new();
    let mut size: u64 = 0;
    let failure = loop {
        let chunk = match body.next().await {
            None => break None,
            Some(Err(e)) => {
                break Some(AppError::BadRequest(format!(
                    "the upload could not be read: {e}"
                )));
            }
            Some(Ok(chunk)) => chunk,
        };
        size += chunk.len() as u64;
        if size > max {
            break Some(AppError::PayloadTooLarge);
        }
        if size > left {
            break Some(quota_exceeded(quota));
        }
        sniffer.feed(&chunk);
        if sniffer.rejected_early() {
            break Some(unsupported());
        }
        if let Err(e) = upload.write(&chunk).await {
            break Some(storage_unavailable(e));
        }
    };
    let failure = failure.or_else(|| {
        if size == 0 {
            Some(AppError::invalid("file", "the file is empty"))
        } else {
            None
        }
    });
    let kind = match (failure, sniffer.kind(&file_name)) {
        (Some(err), _) => {
            upload.abort().await;
            return Err(err);
        }
        (None, None) => {
            upload.abort().await;
            return Err(unsupported());
        }
        (None, Some(kind)) => kind,
    };
    upload.finish().await.map_err(storage_unavailable)?;
    Ok(Received {
        key,
        size,
        kind,
        file_name,
    })
}

/// Records a received file as a `pending` material of `user_id` and schedules its processing,
/// in one transaction; on any failure the object is deleted.
pub async fn create(
    state: &AppState,
    user_id: Uuid,
    received: Received,
    topic_id: Option<Uuid>,
    title: Option<String>,
) -> AppResult<MaterialView> {
    let key = received.key.clone();
    let result = async {
        let title = material_title(title, &received.file_name)?;
        insert(state, user_id, received, topic_id, title).await
    }
    .await;
    if result.is_err()
        && let Err(e) = state.storage.delete(&key).await
    {
        tracing::warn!(error = ?e, "could not delete the object of a refused upload");
    }
    result
}

/// The title a material is stored under: the one given, trimmed, or else the file's name.
fn material_title(title: Option<String>, file_name: &str) -> AppResult<String> {
    match title.map(|t| t.trim().to_string()) {
        Some(t) if t.is_empty() => Err(AppError::invalid("title", "must not be blank")),
        Some(t) if t.chars().count() > MAX_TITLE_CHARS => Err(AppError::invalid(
            "title",
            format!("at most {MAX_TITLE_CHARS} characters"),
        )),
        Some(t) if t.chars().any(char::is_control) => Err(AppError::invalid(
            "title",
            "must not contain control characters",
        )),
        Some(t) => Ok(t),
        None => Ok(file_name.chars().take(MAX_TITLE_CHARS).collect()),
    }
}

async fn insert(
    state: &AppState,
    user_id: Uuid,
    received: Received,
    topic_id: Option<Uuid>,
    title: String,
) -> AppResult<MaterialView> {
    if let Some(topic) = topic_id
        && topics::Entity::find_by_id(topic)
            .one(state.db.read())
            .await?
            .is_none()
    {
        return Err(AppError::invalid("topic_id", "no such topic"));
    }
    let now = state.clock.now();
    let size = i64::try_from(received.size).map_err(|_| AppError::PayloadTooLarge)?;

    let txn = state.db.begin_write().await?;
    lock_user(&txn, user_id).await?;
    let quota = storage_quota(&state.config, plan_of(&txn, user_id, now).await?);
    if storage_used(&txn, user_id).await? + received.size > quota {
        return Err(quota_exceeded(quota));
    }
    let id = Uuid::now_v7();
    let material = materials::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        topic_id: Set(topic_id),
        title: Set(title),
        file_name: Set(received.file_name),
        content_type: Set(received.kind.content_type().to_string()),
        file_size: Set(size),
        s3_url: Set(received.key),
        processing_status: Set(STATUS_PENDING.to_string()),
        processing_error: Set(None),
        uploaded_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    process::schedule(&txn, &state.config, now, id).await?;
    txn.commit().await?;
    Ok(MaterialView::new(material, 0))
}

/// One material of `user_id`; someone else's is "not found".
pub async fn find(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<materials::Model> {
    materials::Entity::find_by_id(id)
        .filter(materials::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("material"))
}

/// The number of chunks of each of `ids`.
async fn chunk_counts(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, i64>, sea_orm::DbErr> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(Uuid, i64)> = material_chunks::Entity::find()
        .select_only()
        .column(material_chunks::Column::MaterialId)
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .filter(material_chunks::Column::MaterialId.is_in(ids))
        .group_by(material_chunks::Column::MaterialId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// `GET /materials/{id}`.
pub async fn detail(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<MaterialView> {
    let db = state.db.read();
    let material = find(db, user_id, id).await?;
    let count = chunk_counts(db, vec![id])
        .await?
        .get(&id)
        .copied()
        .unwrap_or(0);
    Ok(MaterialView::new(material, count))
}

/// `GET /materials`: newest first, keyset-paginated, optionally of one topic.
pub async fn list(
    state: &AppState,
    user_id: Uuid,
    query: MaterialListQuery,
) -> AppResult<Page<MaterialView>> {
    let page = crate::http::extract::PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit();
    let mut select = materials::Entity::find()
        .filter(materials::Column::UserId.eq(user_id))
        .order_by_desc(materials::Column::Id);
    if let Some(topic) = query.topic_id {
        select = select.filter(materials::Column::TopicId.eq(topic));
    }
    if let Some(after) = page.after_id()? {
        select = select.filter(materials::Column::Id.lt(after));
    }
    let db = state.db.read();
    let mut rows = select.limit(limit + 1).all(db).await?;
    let next_cursor = next_page(&mut rows, limit, |r| encode_cursor(r.id));
    let counts = chunk_counts(db, rows.iter().map(|r| r.id).collect()).await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|m| {
                let count = counts.get(&m.id).copied().unwrap_or(0);
                MaterialView::new(m, count)
            })
            .collect(),
        next_cursor,
    })
}

/// An uploaded file, ready to be streamed back.
pub struct Content {
    pub material: materials::Model,
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// `GET /materials/{id}/content`: the original file.
pub async fn content(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<Content> {
    let material = find(state.db.read(), user_id, id).await?;
    let body = state
        .storage
        .stream(&material.s3_url)
        .await
        .map_err(storage_unavailable)?;
    Ok(Content { material, body })
}

/// `DELETE /materials/{id}`: the row and its chunks (one transaction), then the object. An
/// object that cannot be deleted is logged; the material is gone for the user either way.
pub async fn delete(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<()> {
    let txn = state.db.begin_write().await?;
    let material = find(&txn, user_id, id).await?;
    material_chunks::Entity::delete_many()
        .filter(material_chunks::Column::MaterialId.eq(id))
        .exec(&txn)
        .await?;
    materials::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    if let Err(e) = state.storage.delete(&material.s3_url).await {
        tracing::error!(error = ?e, material_id = %id, "the object of a deleted material remains");
    }
    Ok(())
}

/// `POST /materials/{id}/reprocess`: back to `pending` with its processing scheduled again;
/// the new chunks replace the old ones. A material being processed answers 409.
pub async fn reprocess(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<MaterialView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let material = find(&txn, user_id, id).await?;
    if material.processing_status == STATUS_PROCESSING
        || material.processing_status == STATUS_PENDING
    {
        return Err(AppError::conflict(
            "material-processing",
            "the material is already waiting for or under processing",
        ));
    }
    let mut active: materials::ActiveModel = material.into();
    active.processing_status = Set(STATUS_PENDING.to_string());
    active.processing_error = Set(None);
    active.updated_at = Set(now);
    let material = active.update(&txn).await?;
    process::schedule(&txn, &state.config, now, id).await?;
    txn.commit().await?;
    let count = chunk_counts(state.db.read(), vec![id])
        .await?
        .get(&id)
        .copied()
        .unwrap_or(0);
    Ok(MaterialView::new(material, count))
}

/// Deletes every stored file of `user_id`, whose account is being deleted.
pub async fn delete_user_files(state: &AppState, user_id: Uuid) -> anyhow::Result<()> {
    let deleted = state.storage.delete_user(user_id).await?;
    tracing::info!(%user_id, deleted, "deleted the files of a deleted account");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_control_characters_and_excess_length() {
        assert_eq!(clean_file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(
            clean_file_name(Some("C:\\Users\\ada\\notes.pdf")),
            "notes.pdf"
        );
        assert_eq!(clean_file_name(Some("bio\u{0}\r\nlogy.txt")), "biology.txt");
        assert_eq!(clean_file_name(Some("..")), "upload");
        assert_eq!(clean_file_name(None), "upload");
        assert_eq!(clean_file_name(Some(&"a".repeat(300))).chars().count(), 255);
    }

    #[test]
    fn text_split_inside_a_character_is_still_text() {
        let mut s = Sniffer::new();
        let bytes = "é".as_bytes();
        s.feed(&bytes[..1]);
        s.feed(&bytes[1..]);
        assert_eq!(s.kind("notes.md"), Some(Kind::Markdown));
        let mut s = Sniffer::new();
        s.feed(b"abc\0def");
        assert_eq!(s.kind("notes.txt"), None);
    }
}
