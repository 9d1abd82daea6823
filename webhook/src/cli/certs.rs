//! `kbatch certs`: development certificates.

use std::path::PathBuf;

/// Arguments of `kbatch certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write ca.crt, tls.crt and tls.key to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// DNS name or IP address the serving certificate is valid for (repeatable).
    /// Default: localhost, 127.0.0.1 and the in-cluster Service names.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

/// Writes the certificates and prints the base64 CA bundle.
pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    let generated =
        crate::certs::generate_dev_certs(&args.out, &args.hosts, crate::certs::KeyKind::EcdsaP256)?;
    println!("{}", generated.ca_bundle_base64());
    Ok(())
}
