//! The HTTPS server layer of the kbatch admission webhook.
//!
//! It serves `POST /mutate` and `POST /validate` over TLS (1.2 and 1.3, HTTP/1.1 and HTTP/2 on
//! one port, the certificate reloaded from its files without dropping connections), and
//! `GET /healthz`, `/readyz` and `/metrics` on a separate plain-HTTP port. It makes no
//! admission decision itself: it hands each request body to a [`Reviewer`] and writes back
//! its [`Reply`]. [`PolicyReviewer`] is the real one, deciding with `kbatch-admission`.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use kbatch_webhook::{NoopReviewer, ServerConfig, serve};
//! use std::sync::Arc;
//! let config = ServerConfig::new("certs/tls.crt", "certs/tls.key");
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! serve(config, Arc::new(NoopReviewer), shutdown).await
//! # }
//! ```

#![warn(missing_docs)]

mod admission;
pub mod certs;
pub mod cli;
mod config;
mod connections;
mod memory;
mod metrics;
mod policy_reviewer;
mod probes;
mod review;
mod server;
mod telemetry;
pub mod tls;

pub use certs::{GeneratedCerts, KeyKind, default_hosts, generate_dev_certs};
pub use config::ServerConfig;
pub use memory::PEAK_BYTES_PER_BODY_BYTE as REVIEW_PEAK_BYTES_PER_BODY_BYTE;
pub use policy_reviewer::PolicyReviewer;
pub use review::{Endpoint, NoopReviewer, Outcome, Reply, Reviewer};
pub use server::{RunningServer, bind, serve};
pub use telemetry::init_tracing;
pub use tls::{CertError, CertStore};
