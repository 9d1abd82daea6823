//! Logging setup.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber on stderr: the filter from `RUST_LOG` (default
/// `info`; an unparsable value also means `info`), JSON lines when `json` (each event carries
/// the fields of its span, e.g. an admission request's uid, kind, namespace, name, operation,
/// outcome and latency), human-readable text otherwise. A second call does nothing.
pub fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!json && std::io::stderr().is_terminal());
    // An error only means a subscriber is already installed: keep that one.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
