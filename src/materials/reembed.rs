//! Re-embedding after a change of embedding model. Vector search compares a query only with
//! chunks embedded by the provider's current model, so after an upgrade (the offline model's
//! name changes with its features) or a new `STUDIUM_AI_EMBEDDING_MODEL`, notes embedded
//! before are found by full text alone. A periodic `material.reembed` job — queued once per
//! maintenance interval across all processes, like the maintenance run — finds up to
//! [`BATCH`] `ready` materials having a chunk without a vector of the current model, longest
//! unchanged first, and schedules each one's re-embedding ([`process::schedule_reembed`]) under
//! the material's processing job key, so it is never queued twice nor beside a reprocess. A big
//! library is thus re-embedded a batch per interval, each material staying `ready` and found
//! by full text until its new chunks replace the old in one transaction.

use std::time::Duration;

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::watch;
use uuid::Uuid;

use super::model::STATUS_READY;
use super::process;
use crate::entity::{material_chunks, materials};
use crate::jobs::periodic::Periodic;
use crate::jobs::{self, Enqueued};
use crate::state::AppState;

/// The periodic sweep's job kind.
pub const JOB_KIND: &str = "material.reembed";
/// The most materials one sweep schedules.
pub const BATCH: u64 = 50;

/// Up to `limit` ready materials with a chunk lacking a vector of `model`, those unchanged
/// longest first.
pub async fn stale_materials(
    conn: &impl ConnectionTrait,
    model: &str,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    let stale_chunks = Query::select()
        .column(material_chunks::Column::MaterialId)
        .from(material_chunks::Entity)
        .cond_where(process::stale_chunk(model))
        .to_owned();
    materials::Entity::find()
        .select_only()
        .column(materials::Column::Id)
        .filter(materials::Column::ProcessingStatus.eq(STATUS_READY))
        .filter(materials::Column::Id.in_subquery(stale_chunks))
        .order_by_asc(materials::Column::UpdatedAt)
        .order_by_asc(materials::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

/// One sweep: schedules the re-embedding of up to [`BATCH`] stale materials. Returns how many
/// jobs it queued (a material whose job is already queued or running is not counted again).
pub async fn run_once(state: &AppState) -> Result<u64, DbErr> {
    let stale = stale_materials(state.db.read(), state.ai.embedding_model(), BATCH).await?;
    if stale.is_empty() {
        return Ok(0);
    }
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut queued = 0;
    for id in stale {
        if let Enqueued::Queued(_) = process::schedule_reembed(&txn, &state.config, now, id).await?
        {
            queued += 1;
        }
    }
    txn.commit().await?;
    Ok(queued)
}

/// The `material.reembed` job's handler: one [`run_once`].
pub async fn run_job(state: &AppState, _payload: serde_json::Value) -> anyhow::Result<()> {
    let queued = run_once(state).await?;
    if queued > 0 {
        tracing::info!(
            queued,
            model = state.ai.embedding_model(),
            "materials queued for re-embedding"
        );
    }
    Ok(())
}

/// The periodic sweep: queued once per interval of `every` across all processes, under the
/// unique key `material-reembed:<interval start, Unix seconds>`.
pub fn periodic(every: Duration) -> Periodic {
    Periodic {
        kind: JOB_KIND,
        key_prefix: "material-reembed",
        every,
    }
}

/// Queues the sweep of the interval of length `every` holding now, unless any process has.
pub async fn queue_sweep(state: &AppState, every: Duration) -> Result<jobs::Enqueued, DbErr> {
    periodic(every).queue(state).await
}

/// Queues the sweep now and then every `every`, until `stop` turns true.
pub async fn run_periodically(state: AppState, every: Duration, stop: watch::Receiver<bool>) {
    periodic(every).run(state, stop).await
}
