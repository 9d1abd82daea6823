//! End-to-end tests over real TLS on 127.0.0.1: certificates from `generate_dev_certs` in a
//! tempdir, a client that trusts only the generated CA, HTTP/1.1 and HTTP/2.
//! One test binary (modules below) to keep linking cheap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod admission;
mod certs;
mod deploy;
mod hostile;
mod https;
mod probes;
mod rotation;
mod shutdown;
