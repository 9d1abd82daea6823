//! The webhook server for `make bench`: the real decisions (`--policy DIR`), the no-op
//! reviewer (`--noop`, the ceiling of the same server stack), or a reviewer that only parses
//! the body into a `serde_json::Value` (`--parse-value`, the cost of generic JSON parsing
//! that the real decisions should beat). Built only for benchmarks.
#![allow(clippy::print_stderr)]

use kbatch_admission::AdmissionConfig;
use kbatch_webhook::{Endpoint, NoopReviewer, PolicyReviewer, Reply, Reviewer, ServerConfig};
use std::sync::Arc;

/// The same allocator as the `kbatch` binary, so that the bench measures what is served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses the body into a `serde_json::Value`, then answers as [`NoopReviewer`] does.
struct ParseValueReviewer;

impl Reviewer for ParseValueReviewer {
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply {
        let parsed = serde_json::from_slice::<serde_json::Value>(body);
        std::hint::black_box(&parsed);
        NoopReviewer.review(endpoint, body)
    }

    fn is_ready(&self) -> bool {
        true
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(addr), Some(probe), Some(cert), Some(key)) = (
        arg("--addr"),
        arg("--probe-addr"),
        arg("--tls-cert"),
        arg("--tls-key"),
    ) else {
        anyhow::bail!(
            "usage: bench_server --addr A --probe-addr P --tls-cert F --tls-key F (--noop | --parse-value | --policy DIR)"
        );
    };
    let reviewer: Arc<dyn Reviewer> = match arg("--policy") {
        Some(dir) => {
            let policy = kbatch_manifests::load_policy(std::path::Path::new(&dir))?.policy;
            Arc::new(PolicyReviewer::new(policy, AdmissionConfig::default()))
        }
        None if args.iter().any(|a| a == "--noop") => Arc::new(NoopReviewer),
        None if args.iter().any(|a| a == "--parse-value") => Arc::new(ParseValueReviewer),
        None => anyhow::bail!("choose --noop, --parse-value or --policy DIR"),
    };
    let mut config = ServerConfig::new(cert, key);
    config.addr = addr.parse()?;
    config.probe_addr = probe.parse()?;
    // The load generators open many connections at once.
    config.max_connections = 4096;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(kbatch_webhook::serve(config, reviewer, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}
