//! Computation that would hold up an async worker.
//!
//! A Tokio worker runs one task at a time, and the tasks it holds up include requests that hold
//! SQLite's one writing connection between two statements (`crate::db`): every write queued
//! behind them waits too. Work that computes for long between two `.await`s (the offline
//! provider's replies, scoring a student's vectors) runs on Tokio's blocking threads instead,
//! where the operating system shares the cores between it and the async workers.

/// Runs `work` on a blocking thread and gives its result. A panic in `work` resumes here, as
/// if it had run in place; `Err` only when the runtime is shutting down.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    match tokio::task::spawn_blocking(work).await {
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        done => done,
    }
}
