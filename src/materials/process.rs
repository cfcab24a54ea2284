//! Processing a material (SPEC §3 Materials), run as a background job: read the object,
//! extract its text, split it into overlapping token-aware chunks, embed them in batches
//! through the AI provider (each batch's usage logged under the `material` feature), and
//! store the chunks. `processing_status` moves pending → processing → ready, or failed with a
//! readable `processing_error`.
//!
//! The chunks of a run replace those of any earlier run in one transaction (delete, then
//! insert; `chunk_index` is unique per material), so running a material twice — a retried
//! job, a reprocess — never duplicates its chunks.
//!
//! A material embedded with another model than the provider's current one (after an upgrade,
//! or a change of `STUDIUM_AI_EMBEDDING_MODEL`) is re-embedded by [`reembed`], queued by the
//! periodic sweep of [`super::reembed`] under the same job key as a reprocess. It stays `ready`
//! meanwhile, so full-text search keeps finding it: its old chunks stay until the new ones
//! replace them in the same one transaction.
//!
//! [`run`] answers `Ok` for a finished run and for a permanent failure (a file that cannot be
//! read will not read better next time), and `Err` for a transient one (the store or the AI
//! provider unreachable), after which the job queue should try again.
//!
//! Embedding storage format, which search relies on: `embedding_vector` holds the vector as
//! little-endian `f32` bytes, `embedding_model` the model's name, `embedding_dim` its length.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::chunk::{self, Chunk};
use super::extract::{self, Kind};
use super::model::*;
use crate::ai::usage;
use crate::ai::{AiError, Feature};
use crate::config::Config;
use crate::entity::{material_chunks, materials};
use crate::http::error::AppError;
use crate::jobs::{self, NewJob};
use crate::state::AppState;

/// Texts per embedding call.
pub const EMBED_BATCH: usize = 128;
/// Chunk rows per INSERT (SQLite limits the parameters of one statement).
const INSERT_BATCH: usize = 500;
/// The job kind that processes a material.
pub const JOB_KIND: &str = "material.process";

/// Schedules the processing of `material_id` as a job on `conn` — the caller's transaction, so
/// that the material and its job are committed together. The unique key keeps one live job per
/// material: scheduling it again while one waits or runs adds nothing.
pub async fn schedule(
    conn: &impl ConnectionTrait,
    config: &Config,
    now: DateTime<Utc>,
    material_id: Uuid,
) -> Result<(), DbErr> {
    let job = NewJob::new(JOB_KIND, serde_json::json!({ "material_id": material_id }))
        .unique(format!("{JOB_KIND}:{material_id}"));
    jobs::enqueue(conn, job, now, config.job_max_attempts).await?;
    Ok(())
}

/// Schedules the re-embedding of the ready material `material_id` ([`reembed`]) under the same
/// unique key as [`schedule`]: never queued twice, nor beside a reprocess.
pub async fn schedule_reembed(
    conn: &impl ConnectionTrait,
    config: &Config,
    now: DateTime<Utc>,
    material_id: Uuid,
) -> Result<jobs::Enqueued, DbErr> {
    let job = NewJob::new(
        JOB_KIND,
        serde_json::json!({ "material_id": material_id, "reembed": true }),
    )
    .unique(format!("{JOB_KIND}:{material_id}"));
    jobs::enqueue(conn, job, now, config.job_max_attempts).await
}

/// The job's payload.
#[derive(Debug, serde::Deserialize)]
struct JobPayload {
    material_id: Uuid,
    /// Queued by the re-embedding sweep rather than by an upload or a reprocess.
    #[serde(default)]
    reembed: bool,
}

/// The `material.process` job: [`run`] (or [`reembed`]) on the payload's material.
pub async fn run_job(state: &AppState, payload: serde_json::Value) -> anyhow::Result<()> {
    let payload: JobPayload = serde_json::from_value(payload)?;
    if payload.reembed {
        reembed(state, payload.material_id).await
    } else {
        run(state, payload.material_id).await
    }
}

/// The job gave up after its last attempt: the material is `failed` with the last error, so
/// it is never left waiting for a run that will not come (a reprocess starts it again).
pub async fn job_dead(
    state: &AppState,
    payload: serde_json::Value,
    error: &str,
) -> anyhow::Result<()> {
    let payload: JobPayload = serde_json::from_value(payload)?;
    let message = format!("processing failed after several tries: {error}");
    mark_failed(state, payload.material_id, &message).await?;
    Ok(())
}

/// A run that could not finish.
#[derive(Debug)]
enum Stop {
    /// The file's fault, or the user's allowance: `failed` with this message, not retried.
    Permanent(String),
    /// Try again later.
    Transient(anyhow::Error),
}

impl From<DbErr> for Stop {
    fn from(e: DbErr) -> Self {
        Stop::Transient(e.into())
    }
}

/// Processes `material_id` (see the module documentation). A material that no longer
/// exists, or is already `ready` or `failed`, is left alone.
pub async fn run(state: &AppState, material_id: Uuid) -> anyhow::Result<()> {
    let Some(material) = claim(state, material_id).await? else {
        return Ok(());
    };
    match process(state, &material, STATUS_PROCESSING).await {
        Ok(()) => Ok(()),
        Err(Stop::Permanent(message)) => {
            tracing::info!(%material_id, %message, "material failed");
            mark_failed(state, material_id, &message).await?;
            Ok(())
        }
        Err(Stop::Transient(e)) => {
            // Back to `pending`: the retry starts over.
            set_status(state, material_id, STATUS_PROCESSING, STATUS_PENDING, None).await?;
            Err(e.context(format!("processing material {material_id}")))
        }
    }
}

/// Embeds a `ready` material again with the provider's current model, when some of its chunks
/// carry another (or none). The material stays `ready`, its old chunks searchable by full text,
/// until the new chunks replace them in one transaction; a reprocess asked for meanwhile is
/// run once this is over (the two share one job key, so its own job was never queued). A
/// permanent failure (the file gone, the owner's AI allowance used up) leaves the material as
/// it was, with the reason in `processing_error`; a transient one is retried by the queue.
pub async fn reembed(state: &AppState, material_id: Uuid) -> anyhow::Result<()> {
    let material = materials::Entity::find_by_id(material_id)
        .one(state.db.write())
        .await?;
    if let Some(material) = material
        && material.processing_status == STATUS_READY
        && has_stale_chunks(state.db.write(), material_id, state.ai.embedding_model()).await?
    {
        match process(state, &material, STATUS_READY).await {
            Ok(()) => {}
            Err(Stop::Permanent(message)) => {
                tracing::warn!(%material_id, %message, "re-embedding a material failed");
                note_reembed_failure(state, material_id, &message).await?;
            }
            Err(Stop::Transient(e)) => {
                return Err(e.context(format!("re-embedding material {material_id}")));
            }
        }
    }
    // A reprocess while this job was queued or running set the material back to `pending`.
    run(state, material_id).await
}

/// Whether any chunk of the material lacks a vector of `model`.
pub async fn has_stale_chunks(
    conn: &impl ConnectionTrait,
    material_id: Uuid,
    model: &str,
) -> Result<bool, DbErr> {
    let stale: Option<Uuid> = material_chunks::Entity::find()
        .select_only()
        .column(material_chunks::Column::Id)
        .filter(material_chunks::Column::MaterialId.eq(material_id))
        .filter(stale_chunk(model))
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(stale.is_some())
}

/// Chunks without a vector of `model`: embedded with another model, or not at all.
pub fn stale_chunk(model: &str) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(material_chunks::Column::EmbeddingModel.is_null())
        .add(material_chunks::Column::EmbeddingModel.ne(model))
}

/// Keeps a ready material as it is, saying in `processing_error` why it was not re-embedded.
/// Its `updated_at` moves on, which also puts it behind the others in the sweep's order.
async fn note_reembed_failure(
    state: &AppState,
    material_id: Uuid,
    message: &str,
) -> anyhow::Result<()> {
    materials::Entity::update_many()
        .col_expr(
            materials::Column::ProcessingError,
            Expr::value(Some(format!(
                "embedding with the current model failed ({message}); full-text search still \
                 finds the material"
            ))),
        )
        .col_expr(materials::Column::UpdatedAt, Expr::value(state.clock.now()))
        .filter(materials::Column::Id.eq(material_id))
        .filter(materials::Column::ProcessingStatus.eq(STATUS_READY))
        .exec(state.db.write())
        .await?;
    Ok(())
}

/// Marks a material `failed` with `message` (also for the job queue, when it gives up on a
/// job after its last try).
pub async fn mark_failed(state: &AppState, material_id: Uuid, message: &str) -> anyhow::Result<()> {
    let now = state.clock.now();
    materials::Entity::update_many()
        .col_expr(
            materials::Column::ProcessingStatus,
            Expr::value(STATUS_FAILED),
        )
        .col_expr(
            materials::Column::ProcessingError,
            Expr::value(Some(message.to_string())),
        )
        .col_expr(materials::Column::UpdatedAt, Expr::value(now))
        .filter(materials::Column::Id.eq(material_id))
        .filter(materials::Column::ProcessingStatus.is_in([STATUS_PENDING, STATUS_PROCESSING]))
        .exec(state.db.write())
        .await?;
    Ok(())
}

/// pending (or a `processing` left by a run that died) → processing.
async fn claim(state: &AppState, material_id: Uuid) -> anyhow::Result<Option<materials::Model>> {
    let now = state.clock.now();
    let claimed = materials::Entity::update_many()
        .col_expr(
            materials::Column::ProcessingStatus,
            Expr::value(STATUS_PROCESSING),
        )
        .col_expr(
            materials::Column::ProcessingError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(materials::Column::UpdatedAt, Expr::value(now))
        .filter(materials::Column::Id.eq(material_id))
        .filter(materials::Column::ProcessingStatus.is_in([STATUS_PENDING, STATUS_PROCESSING]))
        .exec(state.db.write())
        .await?
        .rows_affected;
    if claimed == 0 {
        return Ok(None);
    }
    Ok(materials::Entity::find_by_id(material_id)
        .one(state.db.write())
        .await?)
}

async fn set_status(
    state: &AppState,
    material_id: Uuid,
    from: &str,
    to: &str,
    error: Option<String>,
) -> anyhow::Result<()> {
    materials::Entity::update_many()
        .col_expr(materials::Column::ProcessingStatus, Expr::value(to))
        .col_expr(materials::Column::ProcessingError, Expr::value(error))
        .col_expr(materials::Column::UpdatedAt, Expr::value(state.clock.now()))
        .filter(materials::Column::Id.eq(material_id))
        .filter(materials::Column::ProcessingStatus.eq(from))
        .exec(state.db.write())
        .await?;
    Ok(())
}

/// Extracts, chunks, embeds and stores `material`, whose status is `status` for as long as this
/// runs (`processing`, or `ready` for a re-embedding): the chunks are stored only if it still is.
async fn process(state: &AppState, material: &materials::Model, status: &str) -> Result<(), Stop> {
    let kind = Kind::from_content_type(&material.content_type).ok_or_else(|| {
        Stop::Permanent(format!(
            "files of type {} cannot be processed",
            material.content_type
        ))
    })?;
    if !state
        .storage
        .exists(&material.s3_url)
        .await
        .map_err(Stop::Transient)?
    {
        return Err(Stop::Permanent(
            "the uploaded file is missing from storage".into(),
        ));
    }
    let bytes = state
        .storage
        .read(
            &material.s3_url,
            state.config.max_upload_bytes.max(material.file_size as u64),
        )
        .await
        .map_err(Stop::Transient)?;
    let started = std::time::Instant::now();
    let text = extract::extract(kind, bytes)
        .await
        .map_err(|e| Stop::Permanent(e.0))?;
    let extracted = started.elapsed();
    let markdown = kind == Kind::Markdown;
    let chunks = tokio::task::spawn_blocking(move || chunk::split(&text, markdown))
        .await
        .map_err(|e| Stop::Transient(e.into()))?;
    if chunks.is_empty() {
        return Err(Stop::Permanent("the file contains no text".into()));
    }
    let chunked = started.elapsed();
    let (vectors, model) = embed(state, material.user_id, &chunks).await?;
    let embedded = started.elapsed();
    let count = chunks.len();
    store(state, material.id, status, chunks, vectors, &model).await?;
    tracing::info!(
        material_id = %material.id,
        chunks = count,
        extract_ms = extracted.as_millis() as u64,
        chunk_ms = (chunked - extracted).as_millis() as u64,
        embed_ms = (embedded - chunked).as_millis() as u64,
        store_ms = (started.elapsed() - embedded).as_millis() as u64,
        "material processed"
    );
    Ok(())
}

/// Embeds the chunks' texts in batches of [`EMBED_BATCH`], each call reserved against and
/// settled to the user's `material` allowance.
async fn embed(
    state: &AppState,
    user_id: Uuid,
    chunks: &[Chunk],
) -> Result<(Vec<Vec<f32>>, String), Stop> {
    let mut vectors = Vec::with_capacity(chunks.len());
    let mut model = state.ai.embedding_model().to_string();
    for batch in chunks.chunks(EMBED_BATCH) {
        let texts: Vec<String> = batch.iter().map(|c| c.text.clone()).collect();
        let reservation = match usage::reserve(
            &state.db,
            &state.config,
            user_id,
            Feature::Material,
            &model,
            state.clock.now(),
        )
        .await
        {
            Ok(r) => r,
            Err(AppError::QuotaExceeded { detail, .. }) => {
                return Err(Stop::Permanent(format!(
                    "the AI allowance of your plan is used up ({detail}); reprocess the \
                     material later"
                )));
            }
            Err(e) => return Err(Stop::Transient(anyhow::anyhow!("reserving AI usage: {e}"))),
        };
        match state.ai.embed(&texts).await {
            Ok((batch_vectors, used)) => {
                let well_formed = batch_vectors.len() == texts.len()
                    && batch_vectors
                        .iter()
                        .all(|v| !v.is_empty() && v.len() == batch_vectors[0].len());
                reservation
                    .settle(&state.db, &used, state.clock.now())
                    .await
                    .map_err(|e| Stop::Transient(anyhow::anyhow!("settling AI usage: {e}")))?;
                if !well_formed {
                    return Err(Stop::Transient(
                        AiError::Malformed("embeddings of the wrong number or size".into()).into(),
                    ));
                }
                model = used.model;
                vectors.extend(batch_vectors);
            }
            Err(e) => {
                let _ = reservation.release(&state.db, state.clock.now()).await;
                return Err(Stop::Transient(e.into()));
            }
        }
    }
    if vectors.windows(2).any(|w| w[0].len() != w[1].len()) {
        return Err(Stop::Transient(
            AiError::Malformed("embeddings of different sizes".into()).into(),
        ));
    }
    Ok((vectors, model))
}

/// `embedding_vector`'s format: little-endian `f32`s.
pub fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector of `embedding_vector` bytes (`None` when their length is no multiple of 4).
pub fn vector_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Replaces the material's chunks and marks it `ready`, in one transaction. A material deleted
/// (or no longer in `status`) meanwhile is left as it is.
async fn store(
    state: &AppState,
    material_id: Uuid,
    status: &str,
    chunks: Vec<Chunk>,
    vectors: Vec<Vec<f32>>,
    model: &str,
) -> Result<(), Stop> {
    let now = state.clock.now();
    let rows: Vec<material_chunks::ActiveModel> = chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (c, v))| material_chunks::ActiveModel {
            id: Set(Uuid::now_v7()),
            material_id: Set(material_id),
            chunk_index: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            chunk_text: Set(c.text),
            token_count: Set(i32::try_from(c.token_count).unwrap_or(i32::MAX)),
            embedding_dim: Set(Some(i32::try_from(v.len()).unwrap_or(i32::MAX))),
            embedding_vector: Set(Some(vector_bytes(&v))),
            embedding_model: Set(Some(model.to_string())),
            created_at: Set(now),
        })
        .collect();

    let txn = state.db.begin_write().await?;
    // Locked (on PostgreSQL; SQLite has one writer) so that a delete of the material waits
    // for this transaction instead of orphaning the chunks it inserts.
    let still_ours = materials::Entity::find_by_id(material_id)
        .filter(materials::Column::ProcessingStatus.eq(status))
        .lock_exclusive()
        .one(&txn)
        .await?
        .is_some();
    if !still_ours {
        return Ok(());
    }
    material_chunks::Entity::delete_many()
        .filter(material_chunks::Column::MaterialId.eq(material_id))
        .exec(&txn)
        .await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(INSERT_BATCH).collect();
        material_chunks::Entity::insert_many(batch)
            .exec(&txn)
            .await?;
    }
    materials::Entity::update_many()
        .col_expr(
            materials::Column::ProcessingStatus,
            Expr::value(STATUS_READY),
        )
        .col_expr(
            materials::Column::ProcessingError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(materials::Column::UpdatedAt, Expr::value(now))
        .filter(materials::Column::Id.eq(material_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_as_little_endian_f32() {
        let v = vec![1.0f32, -0.5, 0.25];
        let bytes = vector_bytes(&v);
        assert_eq!(bytes.len(), 12);
        assert_eq!(&bytes[..4], &1.0f32.to_le_bytes());
        assert_eq!(vector_from_bytes(&bytes).unwrap(), v);
        assert!(vector_from_bytes(&[0, 1, 2]).is_none());
    }
}
