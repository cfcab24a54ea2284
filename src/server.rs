//! Serving: bind, announce, run until Ctrl-C or SIGTERM, then drain in-flight requests.
//! Alongside the API run the background-job worker (`jobs::worker::run`) and the scheduler that
//! queues the periodic maintenance (`maintenance::run_periodically`), the leaderboard refresh
//! (`social::leaderboard::run_periodically`) and the re-embedding sweep of materials
//! (`materials::reembed::run_periodically`, at the maintenance interval), unless
//! `STUDIUM_WORKER=off`; they stop with it, the worker letting its running jobs finish.
//! [`work`] (`studium worker`) runs the same background half without the API.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

pub async fn serve(state: AppState) -> anyhow::Result<()> {
    prepare_local_storage(&state.config.storage_url)?;
    let addr = state.config.bind_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (STUDIUM_BIND): {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!("Studium is listening on http://{local}");
    tracing::info!(
        "Web app: http://{local}/ (sign up there; `studium create-admin` makes an admin)"
    );
    tracing::info!(
        "API documentation: http://{local}/docs (OpenAPI at http://{local}/api/openapi.json)"
    );

    let (stop_background, stop) = watch::channel(false);
    let background = if state.config.worker {
        spawn_background(&state, stop)
    } else {
        tracing::info!("no job worker in this process (STUDIUM_WORKER=off)");
        Vec::new()
    };
    let app = crate::app::build(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_background.send(true);
    })
    .await;
    // The shutdown signal (or, if serving failed, the dropped sender) ends the background tasks
    // once the jobs in progress have finished or been given back.
    join_background(background).await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// `studium worker`: runs jobs (and queues the periodic maintenance) until Ctrl-C or SIGTERM,
/// then lets the running jobs finish or gives their leases back.
pub async fn work(state: AppState) -> anyhow::Result<()> {
    let (stop_background, stop) = watch::channel(false);
    let background = spawn_background(&state, stop);
    shutdown_signal().await;
    let _ = stop_background.send(true);
    join_background(background).await;
    tracing::info!("stopped");
    Ok(())
}

fn spawn_background(
    state: &AppState,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(crate::maintenance::run_periodically(
            state.clone(),
            Duration::from_secs(state.config.maintenance_interval_secs),
            stop.clone(),
        )),
        tokio::spawn(crate::social::leaderboard::run_periodically(
            state.clone(),
            Duration::from_secs(state.config.leaderboard_refresh_secs),
            stop.clone(),
        )),
        tokio::spawn(crate::materials::reembed::run_periodically(
            state.clone(),
            Duration::from_secs(state.config.maintenance_interval_secs),
            stop.clone(),
        )),
        tokio::spawn(crate::jobs::worker::run(state.clone(), stop)),
    ]
}

async fn join_background(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        if let Err(err) = task.await {
            tracing::warn!(error = %err, "a background task ended abnormally");
        }
    }
}

/// Creates the local upload directory up front, so a path that cannot be written is reported
/// at start rather than at the first upload. Object-store URLs (`s3://…`) are left alone.
fn prepare_local_storage(storage_url: &str) -> anyhow::Result<()> {
    if storage_url.contains("://") {
        return Ok(());
    }
    std::fs::create_dir_all(storage_url).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the upload directory {storage_url:?} (STUDIUM_STORAGE_URL): {e}"
        )
    })?;
    tracing::info!(directory = %storage_url, "uploads are stored in a local directory");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
