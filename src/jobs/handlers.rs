//! Every job kind and the one place that maps a kind to its area's function. A handler is an
//! `async fn(&AppState, serde_json::Value) -> anyhow::Result<()>`; an error (or a panic) fails
//! the attempt and the queue retries it. Handlers must be idempotent: a job whose worker died
//! after the work but before recording it runs again.

use serde_json::Value;

use crate::materials::{process, reembed};
use crate::state::AppState;

/// Sends one email: payload `{"to", "subject", "body"}` ([`crate::mail::Email`]).
pub const EMAIL_SEND: &str = "email.send";
/// One periodic maintenance run ([`crate::maintenance::run_once`]); payload `{}`.
pub const MAINTENANCE_RUN: &str = "maintenance.run";

/// Runs the handler of `kind`. A new kind is one constant above and one arm here, calling a
/// function of the area that owns the work (e.g. `material.process` with payload
/// `{"material_id": uuid}` → the materials area's processing function).
pub async fn dispatch(state: &AppState, kind: &str, payload: Value) -> anyhow::Result<()> {
    match kind {
        EMAIL_SEND => crate::mail::send_job(state, payload).await,
        MAINTENANCE_RUN => crate::maintenance::run_job(state, payload).await,
        process::JOB_KIND => process::run_job(state, payload).await,
        reembed::JOB_KIND => reembed::run_job(state, payload).await,
        crate::social::leaderboard::JOB_KIND => {
            crate::social::leaderboard::run_job(state, payload).await
        }
        other => anyhow::bail!("no handler for job kind {other:?}"),
    }
}

/// Called once a job of `kind` has failed its last attempt, for the kinds whose area must say
/// so in its own data (a material that will not be processed is `failed`, not left `pending`).
pub async fn on_dead(
    state: &AppState,
    kind: &str,
    payload: Value,
    error: &str,
) -> anyhow::Result<()> {
    match kind {
        process::JOB_KIND => process::job_dead(state, payload, error).await,
        _ => Ok(()),
    }
}
