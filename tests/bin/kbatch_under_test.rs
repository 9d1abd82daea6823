//! The `kbatch` command line, built inside the e2e package so that its tests can run the real
//! server as a child process (`CARGO_BIN_EXE_kbatch-under-test`) and read its memory.

use clap::Parser;
use std::process::ExitCode;

/// The allocator of the shipped `kbatch` binary: memory is measured as it is served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    kbatch_webhook::cli::Cli::parse().run()
}
