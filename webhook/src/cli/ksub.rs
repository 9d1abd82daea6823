//! `kbatch ksub` (and the `ksub` binary): submit a shell script with `#KB` directives.

use anyhow::Context;
use kbatch_ksub::{
    BuildOptions, DependencyType, build_job, parse_dependency_arg, parse_script, to_yaml,
};
use kbatch_manifests::load_policy;
use kbatch_policy::api::BatchJob;
use kbatch_policy::submission::submit_job;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ksub`.
#[derive(Debug, clap::Args)]
pub struct KsubArgs {
    /// Print the BatchJob as YAML instead of creating it.
    #[arg(long)]
    dry_run: bool,
    /// Start only after another job: `Success:<job>`, `Failure:<job>` or `Complete:<job>`
    /// (Slurm's afterok, afternotok, afterany). Repeatable; all must hold.
    #[arg(long = "dependency", value_name = "TYPE:JOB")]
    dependencies: Vec<String>,
    /// Check the job offline against the policy objects under DIR first, exactly as the
    /// webhook would, and print the defaulted job with --dry-run.
    #[arg(long, value_name = "DIR")]
    policy: Option<PathBuf>,
    /// Namespace when the script has no `#KB Namespace` (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// The script.
    script: PathBuf,
}

/// Exit codes: 0 submitted (or printed), 1 refused by policy, 2 bad script or other error.
pub fn run(args: KsubArgs) -> ExitCode {
    match submit(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn submit(args: KsubArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.script)
        .with_context(|| format!("reading {}", args.script.display()))?;
    let source = args.script.display().to_string();
    let script = match parse_script(&text) {
        Ok(script) => script,
        Err(errors) => {
            for e in errors {
                eprintln!("{source}: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    for warning in &script.warnings {
        eprintln!("{source}: warning: {warning}");
    }
    let mut dependencies = Vec::new();
    for arg in &args.dependencies {
        let (kind, job) =
            parse_dependency_arg(arg).map_err(|e| anyhow::anyhow!("--dependency {arg}: {e}"))?;
        let kind: DependencyType = kind.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        dependencies.push((kind, job));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The cluster is only needed to create the job, or to learn the default namespace.
    let needs_cluster = !args.dry_run || (args.namespace.is_none() && script.namespace.is_none());
    let client = if needs_cluster && !args.dry_run {
        Some(
            runtime
                .block_on(Client::try_default())
                .context("connecting to the cluster (kubeconfig)")?,
        )
    } else {
        None
    };
    let namespace = args
        .namespace
        .clone()
        .or_else(|| client.as_ref().map(|c| c.default_namespace().to_owned()));
    let mut job = build_job(
        &script,
        &source,
        &BuildOptions {
            namespace,
            dependencies,
        },
    );
    if let Some(dir) = &args.policy {
        let policy = load_policy(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .policy;
        match submit_job(&policy, &job) {
            Ok(defaulted) => job = defaulted,
            Err(violations) => {
                for v in violations.iter() {
                    eprintln!("{source}: refused: {v}");
                }
                return Ok(ExitCode::from(1));
            }
        }
    }
    match client {
        None => print!("{}", to_yaml(&job)?),
        Some(client) => println!("{}", runtime.block_on(create(client, &job))?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the job through the API server (which runs the admission webhook) and returns
/// the name it was given.
pub async fn create(client: Client, job: &BatchJob) -> anyhow::Result<String> {
    let namespace = job
        .namespace()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<BatchJob> = Api::namespaced(client, &namespace);
    let created = api
        .create(&PostParams::default(), job)
        .await
        .map_err(|e| match e {
            // The webhook's message lists every reason; show it as is.
            kube::Error::Api(status) => anyhow::anyhow!("{}", status.message),
            other => anyhow::Error::new(other),
        })?;
    Ok(created.name_any())
}

#[cfg(test)]
mod tests;
