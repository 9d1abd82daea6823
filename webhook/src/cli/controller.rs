//! `kbatch controller`: runs `kbatch_controller::run` against the current cluster.

use anyhow::Context as _;

/// Arguments of `kbatch controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Log format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// Connects (kubeconfig or in-cluster configuration) and runs the controller until SIGTERM,
/// Ctrl-C, or the loss of the leader lease (an error).
pub fn run(args: ControllerArgs) -> anyhow::Result<()> {
    crate::init_tracing(args.log_format == "json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (kubeconfig or in-cluster configuration)")?;
        kbatch_controller::run(client).await
    })
}
