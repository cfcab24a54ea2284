//! Serving: bind, announce, run until Ctrl-C or SIGTERM, then drain in-flight requests.
//! Alongside the API runs the housekeeping loop (expired rate-limit buckets).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::state::AppState;

pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let addr = state.config.bind_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (STUDIUM_BIND): {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!("Studium is listening on http://{local}");
    tracing::info!(
        "API documentation: http://{local}/docs (OpenAPI at http://{local}/api/openapi.json)"
    );

    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let app = crate::app::build(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    housekeeping.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(err) = crate::ratelimit::purge_expired(&state.db, state.clock.now()).await {
            tracing::warn!(error = %err, "purging rate-limit buckets failed");
        }
    }
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
