//! The `kbatch` command line (and `ksub`).

mod certs;
pub mod check;
mod controller;
pub mod crds;
pub mod ksub;
mod kube_store;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// kbatch: batch queueing for Kubernetes, checked at admission.
#[derive(Debug, Parser)]
#[command(name = "kbatch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTPS admission webhook (POST /mutate, POST /validate).
    #[command(after_help = "Examples:\n  \
        kbatch serve --policy manifests/examples --tls-cert certs/tls.crt --tls-key certs/tls.key\n  \
        kbatch serve --kube --addr 0.0.0.0:8443 --probe-addr 0.0.0.0:8080 --log-format json")]
    Serve(serve::ServeArgs),
    /// Run the controller: BatchJobs to Indexed Jobs, scheduling, budgets, finalizers.
    ///
    /// Connects with the current kubeconfig or the in-cluster configuration; two replicas
    /// are safe (only the holder of the Lease kbatch-controller reconciles). Exits 2 when
    /// the lease is lost, so that the pod restarts as a follower.
    #[command(after_help = "Examples:\n  \
        kbatch controller\n  \
        RUST_LOG=kbatch_controller=debug kbatch controller --log-format json\n  \
        POD_NAMESPACE=kbatch-system POD_NAME=$(hostname) kbatch controller")]
    Controller(controller::ControllerArgs),
    /// Apply the webhook's defaulting and validation to BatchJobs in YAML files, offline.
    ///
    /// Every kbatch object read (jobs and policy) is first checked against its CRD schema, as
    /// the API server checks it: types, required fields, enum values, unknown fields. A job that
    /// breaks it is refused; a policy object that breaks it is left out, with a warning.
    ///
    /// Prints one line per refused job (`PATH[:DOC]: <name>: <reasons>`); exits 0 when every job
    /// is accepted, 1 when any is refused, 2 when the input cannot be read.
    #[command(after_help = "Examples:\n  \
        kbatch check --policy manifests/examples my-job.yaml\n  \
        kbatch check --policy manifests/examples jobs/ -o yaml\n  \
        kbatch check --policy manifests/examples --user alice my-job.yaml")]
    Check(CheckArgs),
    /// Generate a development CA and a serving certificate (ECDSA P-256) for the webhook.
    ///
    /// Writes ca.crt, tls.crt and tls.key to --out and prints the base64 CA bundle for the
    /// webhook configurations' caBundle.
    #[command(
        after_help = "Example:\n  kbatch certs --out certs --host localhost --host 127.0.0.1"
    )]
    Certs(certs::CertsArgs),
    /// Print every CustomResourceDefinition (apiextensions.k8s.io/v1), generated from the types.
    #[command(after_help = "Example:\n  kbatch crds | kubectl apply -f -")]
    Crds,
    /// Print a shell completion script for kbatch.
    #[command(
        after_help = "Examples:\n  kbatch completions bash > /etc/bash_completion.d/kbatch\n  kbatch completions zsh > \"${fpath[1]}/_kbatch\""
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Submit a shell script with #KB directives (like Slurm's #SBATCH) as a BatchJob.
    ///
    /// Exits 0 when submitted (or printed), 1 when refused by policy, 2 for a bad script.
    #[command(after_help = KSUB_EXAMPLES)]
    Ksub(ksub::KsubArgs),
}

/// The examples of `ksub --help`.
pub const KSUB_EXAMPLES: &str = "Directives (at the top of the script, keywords case-insensitive):\n  \
    #KB Jobname <prefix>   #KB Namespace <ns>      #KB Image <image>      #KB Queuename <queue>\n  \
    #KB MaxWallTime <dur>  #KB MinCpu <qty>        #KB MinMemory <qty>    #KB GPU <model> <count>\n  \
    #KB Mount <pvc> <path> #KB Taskcount <n>       #KB RetryLimit <n>     #KB PreemptibleVM Require|Prefer|Forbid\n\n\
Examples:\n  \
    ksub --dry-run render.sh\n  \
    ksub --policy manifests/examples --dry-run render.sh\n  \
    ksub --dependency Success:render-frames encode.sh";

/// Arguments of `kbatch check`.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Directory (or file) holding the policy objects: queues, constraints, priorities…
    #[arg(long, value_name = "DIR")]
    policy: PathBuf,
    /// Output format: `yaml` prints the defaulted accepted jobs.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_parser = ["yaml"])]
    output: Option<String>,
    /// Check as this Kubernetes user: their BatchUserContext in the job's namespace defaults
    /// and checks the pod templates, as the webhook does for the requesting user.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// With --user: let a user without a BatchUserContext through (the webhook's
    /// --allow-users-without-context).
    #[arg(long, requires = "user")]
    allow_users_without_context: bool,
    /// Files or directories of BatchJobs (multi-document YAML; directories are recursed).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

impl Cli {
    /// Runs the chosen command and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(args) => report(serve::run(args)),
            Command::Check(args) => {
                let options = check::CheckOptions {
                    policy: args.policy,
                    paths: args.paths,
                    yaml: args.output.is_some(),
                    user: args.user,
                    allow_users_without_context: args.allow_users_without_context,
                };
                let stdout = std::io::stdout();
                let stderr = std::io::stderr();
                match check::run(&options, &mut stdout.lock(), &mut stderr.lock()) {
                    Ok(check::CheckOutcome::Accepted) => ExitCode::SUCCESS,
                    Ok(check::CheckOutcome::Refused) => ExitCode::from(1),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::from(2)
                    }
                }
            }
            Command::Certs(args) => report(certs::run(args)),
            Command::Controller(args) => report(controller::run(args)),
            Command::Crds => report(crds::render().map(|yaml| print!("{yaml}"))),
            Command::Ksub(args) => ksub::run(args),
            Command::Completions { shell } => {
                use clap::CommandFactory;
                clap_complete::generate(
                    shell,
                    &mut Cli::command(),
                    "kbatch",
                    &mut std::io::stdout(),
                );
                ExitCode::SUCCESS
            }
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
