//! Periodic work on the queue: a job of one kind queued once per interval, however many
//! processes are running. Each process ticks on its own clock; the unique key
//! `<prefix>:<interval start, Unix seconds>` ([`super::enqueue_once`]) lets only the first
//! tick of an interval in any process queue it — even after that interval's job has run.

use std::time::Duration;

use sea_orm::DbErr;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::{Enqueued, NewJob};
use crate::state::AppState;

/// One kind of periodic job: what to queue, under which key prefix, how often.
#[derive(Debug, Clone, Copy)]
pub struct Periodic {
    pub kind: &'static str,
    pub key_prefix: &'static str,
    pub every: Duration,
}

impl Periodic {
    /// Queues the job of the interval holding now (payload `{}`), unless any process has.
    pub async fn queue(&self, state: &AppState) -> Result<Enqueued, DbErr> {
        let now = state.clock.now();
        let secs = i64::try_from(self.every.as_secs().max(1)).unwrap_or(i64::MAX);
        let start = now.timestamp().div_euclid(secs) * secs;
        let job = NewJob::new(self.kind, serde_json::json!({}))
            .unique(format!("{}:{start}", self.key_prefix));
        let txn = state.db.begin_write().await?;
        let queued = super::enqueue_once(&txn, job, now, state.config.job_max_attempts).await?;
        txn.commit().await?;
        Ok(queued)
    }

    /// Queues the current interval's job at once and then every interval, until `stop` turns
    /// true (or its sender is dropped). A failure to queue is logged and tried again at the
    /// next tick; after a slow tick the next waits a full interval rather than catching up.
    pub async fn run(self, state: AppState, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tick.tick() => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                    continue;
                }
            }
            match self.queue(&state).await {
                Ok(Enqueued::Queued(id)) => {
                    tracing::debug!(job = %id, kind = self.kind, "periodic job queued")
                }
                Ok(Enqueued::Duplicate) => {}
                Err(err) => {
                    tracing::warn!(error = %err, kind = self.kind, "queuing a periodic job failed")
                }
            }
        }
        tracing::debug!(kind = self.kind, "periodic queuing stopped");
    }
}
