//! `ksub`: submit a shell script with `#KB` directives as a BatchJob (same as `kbatch ksub`).

use clap::Parser;
use std::process::ExitCode;

/// Submit a shell script with #KB directives (like Slurm's #SBATCH) as a kbatch BatchJob.
#[derive(Debug, Parser)]
#[command(name = "ksub", version, after_help = kbatch_webhook::cli::KSUB_EXAMPLES)]
struct Ksub {
    #[command(flatten)]
    args: kbatch_webhook::cli::ksub::KsubArgs,
}

fn main() -> ExitCode {
    kbatch_webhook::cli::ksub::run(Ksub::parse().args)
}
