//! `kbatch controller`: runs `kbatch_controller::run` against the current cluster, with its
//! probes and metrics on a plain-HTTP address.

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use kbatch_controller::{ApiCounting, Observed};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `kbatch controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Plain-HTTP address of /healthz, /readyz (ready once leader with its stores synced) and
    /// /metrics. IP:PORT; an IPv6 address may be written bare, as `$(POD_IP):8081` expands to.
    #[arg(long, default_value = "127.0.0.1:8081", value_parser = super::serve::parse_addr)]
    probe_addr: SocketAddr,
    /// The most BatchJob reconciles in flight at once (each mostly waits on the API server).
    #[arg(long, default_value_t = kbatch_controller::JOB_RECONCILES,
        value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_concurrent_reconciles: u16,
    /// Log format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// The probe routes of the controller.
fn router(observed: Arc<Observed>) -> Router {
    Router::new()
        .route("/healthz", get(crate::probes::healthz))
        .route(
            "/readyz",
            get(|State(o): State<Arc<Observed>>| async move {
                crate::probes::readiness(o.unready_reason())
            }),
        )
        .route(
            "/metrics",
            get(|State(o): State<Arc<Observed>>| async move { crate::probes::openmetrics(o.encode()) }),
        )
        .with_state(observed)
}

/// Connects (kubeconfig or in-cluster configuration) and runs the controller until SIGTERM,
/// Ctrl-C, or the loss of the leader lease (an error).
pub fn run(args: ControllerArgs) -> anyhow::Result<()> {
    crate::init_tracing(args.log_format == "json");
    let observed = Arc::new(Observed::new());
    let listener = std::net::TcpListener::bind(args.probe_addr)
        .with_context(|| format!("binding the probe address {}", args.probe_addr))?;
    let probes = crate::probes::spawn_router(listener, router(Arc::clone(&observed)))
        .context("starting the probe server")?;
    tracing::info!(probes = %args.probe_addr, "kbatch controller probes serving");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let config = kube::Config::infer()
            .await
            .context("reading the kubeconfig or in-cluster configuration")?;
        let client = kube::client::ClientBuilder::try_from(config)
            .context("connecting to the cluster")?
            .with_layer(&ApiCounting(Arc::clone(&observed)))
            .build();
        let result = kbatch_controller::run(client, observed, args.max_concurrent_reconciles)
            .await
            .context("the controller stopped");
        probes.stop(Duration::from_secs(2)).await;
        result
    })
}
