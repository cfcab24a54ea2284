//! Structured logs: text for people, JSON for collectors; `RUST_LOG` filters. And the
//! process-wide Prometheus recorder whose handle `AppState` keeps for `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// How often the recorder folds recorded histogram samples into its summaries.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide recorder, installed on first use (a process has one recorder).
///
/// A recorder installed this way keeps every histogram sample until upkeep folds it into the
/// summaries; without it, request durations pile up in memory whenever nobody scrapes
/// `/metrics`. One thread per process runs the upkeep.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                let upkeep = handle.clone();
                let spawned = std::thread::Builder::new()
                    .name("metrics-upkeep".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(METRICS_UPKEEP_EVERY);
                            upkeep.run_upkeep();
                        }
                    });
                if let Err(err) = spawned {
                    tracing::warn!(error = %err, "metrics upkeep not started");
                }
                Some(handle)
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics recorder not installed");
                None
            }
        })
        .clone()
}
