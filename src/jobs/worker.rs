//! The worker: claims due jobs (up to `STUDIUM_JOB_CONCURRENCY` at once), runs each through
//! [`handlers::dispatch`] while renewing its lease every third of `STUDIUM_JOB_LEASE_SECS`,
//! and records the outcome only while the lease is still its own. A handler runs in its own
//! task, so a panic fails that job's attempt, not the worker. `serve` runs [`run`] beside the
//! API (unless `STUDIUM_WORKER=off`); `studium worker` runs only it. Tests drive
//! [`Worker::run_next`], one job at a time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::handlers;
use super::queue::{self, Failure};
use crate::entity::jobs;
use crate::state::AppState;

/// How long a stopping worker lets its running jobs finish before giving their leases back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What running one job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(Uuid),
    /// Failed; queued again for a later try.
    Retry(Uuid),
    /// Failed its last attempt.
    Dead(Uuid),
    /// Its lease was taken before it finished (it ran too long without a heartbeat reaching
    /// the database); the new owner's record stands.
    LeaseLost(Uuid),
    /// Given back untried because the worker is stopping.
    Released(Uuid),
}

/// One worker: an identity (host, process, random part) and the state its handlers use.
#[derive(Clone)]
pub struct Worker {
    state: AppState,
    id: String,
}

impl Worker {
    pub fn new(state: AppState) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        let tag = Uuid::new_v4().simple().to_string();
        Self {
            state,
            id: format!("{host}:{}:{}", std::process::id(), &tag[..8]),
        }
    }

    /// This worker's name, the prefix of `locked_by` on the jobs it claims.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.state.config.job_lease_secs)
    }

    /// Claims up to `limit` due jobs. The lock names this worker and this claim.
    pub async fn claim(&self, limit: usize) -> anyhow::Result<(Vec<jobs::Model>, String)> {
        let lock = format!("{}/{}", self.id, &Uuid::new_v4().simple().to_string()[..8]);
        let jobs = queue::claim(
            &self.state.db,
            &lock,
            self.state.clock.now(),
            self.lease(),
            limit as u64,
        )
        .await?;
        Ok((jobs, lock))
    }

    /// Claims and runs one job to its end: `None` when nothing was due.
    pub async fn run_next(&self) -> anyhow::Result<Option<Outcome>> {
        let (jobs, lock) = self.claim(1).await?;
        let Some(job) = jobs.into_iter().next() else {
            return Ok(None);
        };
        let (_keep, never) = watch::channel(false);
        Ok(Some(self.execute(job, lock, never).await?))
    }

    /// Runs a claimed job with its heartbeat, then records the outcome. When `give_up` turns
    /// true (the worker is stopping and the grace period is over) the handler is abandoned and
    /// the job given back.
    pub async fn execute(
        &self,
        job: jobs::Model,
        lock: String,
        give_up: watch::Receiver<bool>,
    ) -> anyhow::Result<Outcome> {
        let state = self.state.clone();
        let kind = job.kind.clone();
        let payload = job.payload.clone();
        let handler = async move { handlers::dispatch(&state, &kind, payload).await };
        self.execute_with(job, lock, give_up, handler).await
    }

    /// [`Worker::execute`] with the handler given: the lease, heartbeat, panic containment
    /// and outcome recording around any work.
    pub async fn execute_with<H>(
        &self,
        job: jobs::Model,
        lock: String,
        mut give_up: watch::Receiver<bool>,
        handler: H,
    ) -> anyhow::Result<Outcome>
    where
        H: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let state = &self.state;
        let db = state.db.write();
        if job.attempts > job.max_attempts {
            // Claimed again after its last attempt's worker died: that attempt counted.
            let error = job
                .last_error
                .clone()
                .unwrap_or_else(|| "the worker running it stopped before the job finished".into());
            return self.record_failure(&job, &lock, &error).await;
        }
        let mut handle = tokio::spawn(handler);
        let mut beat = tokio::time::interval(self.lease() / 3);
        beat.tick().await;
        let mut can_give_up = true;
        let result = loop {
            tokio::select! {
                result = &mut handle => break result,
                _ = beat.tick() => {
                    match queue::heartbeat(db, job.id, &lock, state.clock.now(), self.lease()).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = %job.id, kind = %job.kind, "lost the lease of a running job"),
                        Err(err) => tracing::warn!(job = %job.id, error = %err, "renewing a job's lease failed"),
                    }
                }
                changed = give_up.changed(), if can_give_up => {
                    if changed.is_ok() && *give_up.borrow() {
                        handle.abort();
                        queue::release(db, job.id, &lock, state.clock.now()).await?;
                        tracing::info!(job = %job.id, kind = %job.kind, "job given back: the worker is stopping");
                        return Ok(Outcome::Released(job.id));
                    }
                    // Nobody can ask us to give up any more: wait for the handler alone.
                    can_give_up = changed.is_ok();
                }
            }
        };
        match result {
            Ok(Ok(())) => {
                if queue::complete(db, job.id, &lock, state.clock.now()).await? {
                    tracing::debug!(job = %job.id, kind = %job.kind, "job done");
                    Ok(Outcome::Done(job.id))
                } else {
                    tracing::warn!(job = %job.id, kind = %job.kind, "job finished after its lease was taken");
                    Ok(Outcome::LeaseLost(job.id))
                }
            }
            Ok(Err(err)) => self.record_failure(&job, &lock, &format!("{err:#}")).await,
            Err(join) if join.is_panic() => {
                let panic = join.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                self.record_failure(&job, &lock, &format!("the handler panicked: {message}"))
                    .await
            }
            Err(_) => {
                self.record_failure(&job, &lock, "the handler was cancelled")
                    .await
            }
        }
    }

    async fn record_failure(
        &self,
        job: &jobs::Model,
        lock: &str,
        error: &str,
    ) -> anyhow::Result<Outcome> {
        let retry_base = Duration::from_secs(self.state.config.job_retry_base_secs);
        let failure = queue::fail(
            self.state.db.write(),
            job,
            lock,
            self.state.clock.now(),
            error,
            retry_base,
        )
        .await?;
        Ok(match failure {
            Failure::Retry(at) => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, retry_at = %at, %error, "job failed; retrying later");
                Outcome::Retry(job.id)
            }
            Failure::Dead => {
                tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed its last attempt");
                if let Err(e) =
                    handlers::on_dead(&self.state, &job.kind, job.payload.clone(), error).await
                {
                    tracing::error!(job = %job.id, kind = %job.kind, error = %e, "recording a dead job's outcome failed");
                }
                Outcome::Dead(job.id)
            }
            Failure::LeaseLost => Outcome::LeaseLost(job.id),
        })
    }
}

/// Claims and runs jobs until `stop` turns true (or its sender is dropped): then claims no
/// more, lets running jobs finish for up to [`SHUTDOWN_GRACE`], and gives back the leases of
/// those still running, so another worker takes them at once rather than after the lease.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let worker = Arc::new(Worker::new(state.clone()));
    let poll = Duration::from_millis(state.config.job_poll_ms);
    let concurrency = state.config.job_concurrency.max(1) as usize;
    let (give_up_tx, give_up) = watch::channel(false);
    let mut running: JoinSet<()> = JoinSet::new();
    tracing::info!(worker = %worker.id(), concurrency, "job worker started");
    loop {
        if *stop.borrow() {
            break;
        }
        if running.len() < concurrency {
            match worker.claim(concurrency - running.len()).await {
                Ok((jobs, lock)) => {
                    for job in jobs {
                        let worker = worker.clone();
                        let give_up = give_up.clone();
                        let lock = lock.clone();
                        running.spawn(async move {
                            let id = job.id;
                            if let Err(err) = worker.execute(job, lock, give_up).await {
                                tracing::warn!(job = %id, error = %err, "recording a job's outcome failed");
                            }
                        });
                    }
                }
                Err(err) => tracing::warn!(error = %err, "claiming jobs failed"),
            }
        }
        tokio::select! {
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = running.join_next() => {
                if next.is_none() {
                    break;
                }
            }
            _ = &mut grace => {
                let _ = give_up_tx.send(true);
                while running.join_next().await.is_some() {}
                break;
            }
        }
    }
    tracing::info!(worker = %worker.id(), "job worker stopped");
}
