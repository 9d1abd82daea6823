//! `kbatch`: the admission webhook, offline checks, certificates, CRDs and `ksub`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    kbatch_webhook::cli::Cli::parse().run()
}
