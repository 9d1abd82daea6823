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
    /// HTTPS address of /mutate and /validate. IP:PORT; an IPv6 address may be written bare
    /// (`fd00::1:8443`), as `$(POD_IP):8443` expands to.
    #[arg(long, default_value = "127.0.0.1:8443", value_parser = parse_addr)]
    addr: SocketAddr,
    /// Plain-HTTP address of /healthz, /readyz and /metrics (the manifests bind it to the pod's
    /// IP, out of reach of other containers' loopback).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    probe_addr: SocketAddr,
    /// Bytes that requests being read and reviewed may cost at once (a Kubernetes quantity:
    /// 96Mi, 1Gi). Default: half of --memory-limit, else 128Mi.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    review_memory: Option<usize>,
    /// The container's memory limit, which sizes --review-memory (the manifests pass the
    /// limit through the downward API).
    #[arg(long, value_name = "BYTES", env = "KBATCH_MEMORY_LIMIT", value_parser = parse_bytes)]
    memory_limit: Option<usize>,
    /// Open HTTPS connections at most; at the limit a new one closes an idle one.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
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
    config.max_connections = args.max_connections;
    config.review_memory_bytes =
        review_memory(args.review_memory, args.memory_limit).unwrap_or(config.review_memory_bytes);
    tracing::info!(
        review_memory_bytes = config.review_memory_bytes,
        max_connections = config.max_connections,
        "limits"
    );
    runtime.block_on(crate::serve(config, reviewer, shutdown_signal()))
}

/// The review memory budget: as given, else half the memory limit (the other half for the
/// policy snapshot, connections and the allocator's slack).
fn review_memory(given: Option<usize>, memory_limit: Option<usize>) -> Option<usize> {
    given.or(memory_limit.map(|limit| limit / 2))
}

/// `IP:PORT`, `[IPv6]:PORT`, or a bare IPv6 address followed by `:PORT`.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let bare_v6 = text.rsplit_once(':').and_then(|(ip, port)| {
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        Some(SocketAddr::from((ip, port.parse::<u16>().ok()?)))
    });
    bare_v6.ok_or_else(|| format!("{text:?} is not IP:PORT (e.g. 0.0.0.0:8443 or [::]:8443)"))
}

/// A byte count as a Kubernetes quantity (`128Mi`, `1G`, `268435456`).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let quantity = kbatch_policy::quantity::Quantity::parse(text).map_err(|e| e.to_string())?;
    if quantity.is_negative() || quantity.is_zero() {
        return Err(format!("{text:?} must be more than zero bytes"));
    }
    usize::try_from(quantity.ceil_units()).map_err(|_| format!("{text:?} is too large"))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_as_the_downward_api_writes_them() {
        for (text, want) in [
            ("0.0.0.0:8443", "0.0.0.0:8443"),
            ("10.1.2.3:8080", "10.1.2.3:8080"),
            ("[fd00::1]:8080", "[fd00::1]:8080"),
            ("fd00::1:8080", "[fd00::1]:8080"),
            ("::1:8080", "[::1]:8080"),
        ] {
            assert_eq!(parse_addr(text).unwrap().to_string(), want, "{text}");
        }
        for bad in [
            "",
            "8080",
            "10.1.2.3",
            "10.1.2.3:http",
            "fd00::1",
            "host:8080",
        ] {
            let error = parse_addr(bad).unwrap_err();
            assert!(error.contains("is not IP:PORT"), "{bad}: {error}");
        }
    }

    #[test]
    fn byte_quantities() {
        assert_eq!(parse_bytes("128Mi").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("268435456").unwrap(), 268_435_456);
        assert_eq!(parse_bytes("1.5Ki").unwrap(), 1536);
        for bad in ["0", "-1Mi", "lots", ""] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_budget_is_given_or_half_the_limit() {
        assert_eq!(review_memory(Some(64), Some(1000)), Some(64));
        assert_eq!(review_memory(None, Some(256 << 20)), Some(128 << 20));
        assert_eq!(review_memory(None, None), None);
    }
}
