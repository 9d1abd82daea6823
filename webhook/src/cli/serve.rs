//! `kbatch serve`: the webhook over a policy snapshot.

use crate::{PolicyReviewer, Reviewer, ServerConfig};
use anyhow::Context;
use kbatch_admission::AdmissionConfig;

use kbatch_policy::snapshot::PolicySet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `kbatch serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Serve the policy objects in the YAML files under DIR (no cluster needed).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "kube",
        conflicts_with = "kube"
    )]
    policy: Option<PathBuf>,
    /// Watch the policy objects in the cluster (kubeconfig or in-cluster configuration).
    #[arg(long)]
    kube: bool,
    /// HTTPS address of /mutate and /validate.
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// Plain-HTTP address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:8080")]
    probe_addr: SocketAddr,
    /// PEM certificate chain (reloaded when it changes).
    #[arg(long, default_value = "certs/tls.crt")]
    tls_cert: PathBuf,
    /// PEM private key (reloaded when it changes).
    #[arg(long, default_value = "certs/tls.key")]
    tls_key: PathBuf,
    /// Group whose members may terminate anyone's job (repeatable).
    #[arg(long = "admin-group", default_values = ["system:masters", "kbatch:admins"])]
    admin_groups: Vec<String>,
    /// Let users without a matching BatchUserContext run unrestricted.
    #[arg(long)]
    allow_users_without_context: bool,
    /// The kbatch controller's user (repeatable): the only writer of kbatch statuses, of a
    /// BatchJob's owner references and of its reservation finalizer.
    #[arg(long = "controller-user", default_values = [kbatch_admission::CONTROLLER_USER])]
    controller_users: Vec<String>,
    /// The garbage collector's user (repeatable): it may drop a BatchJob's dangling owners.
    #[arg(long = "garbage-collector-user", default_values = kbatch_admission::GARBAGE_COLLECTOR_USERS)]
    garbage_collector_users: Vec<String>,
    /// Log format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// Reads the policy objects under `dir` into a snapshot.
fn load_policy(dir: &std::path::Path) -> anyhow::Result<PolicySet> {
    let loaded = kbatch_manifests::load_policy(dir)
        .with_context(|| format!("loading policy objects from {}", dir.display()))?;
    for (doc, e) in loaded.unusable() {
        tracing::warn!(
            source = %doc.source,
            document = doc.index,
            name = doc.name.as_deref().unwrap_or("<unnamed>"),
            "ignoring policy object: {e}"
        );
    }
    tracing::info!(objects = loaded.documents.len(), dir = %dir.display(), "policy loaded");
    Ok(loaded.policy)
}

/// Loads the policy (or starts watching it) and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::init_tracing(args.log_format == "json");
    let admission = AdmissionConfig {
        admin_groups: args.admin_groups,
        allow_users_without_context: args.allow_users_without_context,
        controller_users: args.controller_users,
        garbage_collector_users: args.garbage_collector_users,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reviewer: Arc<dyn Reviewer> = match &args.policy {
        Some(dir) => Arc::new(PolicyReviewer::new(load_policy(dir)?, admission)),
        None => runtime
            .block_on(super::kube_store::start(admission))
            .context("connecting to the cluster (kubeconfig or in-cluster configuration)")?,
    };
    let mut config = ServerConfig::new(args.tls_cert, args.tls_key);
    config.addr = args.addr;
    config.probe_addr = args.probe_addr;
    runtime.block_on(crate::serve(config, reviewer, shutdown_signal()))
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
