//! The test control plane's certificates, made with rcgen: one CA that signs the API server's
//! serving pair, every client identity (CN = user, O = groups, as the API server reads them)
//! and the webhook's serving pair; a front-proxy CA; the service-account signing key.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A certificate and its key, PEM, and where they were written.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA that signs leaves.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pub pair: Pair,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("cert", &self.pair.cert)
            .finish()
    }
}

fn write(dir: &Path, name: &str, cert_pem: &str, key_pem: &str) -> anyhow::Result<Pair> {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, cert_pem).with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(&key, key_pem).with_context(|| format!("writing {}", key.display()))?;
    Ok(Pair {
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        cert,
        key,
    })
}

impl Authority {
    /// A new self-signed CA named `name`, written to `dir/name.{crt,key}`.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<Authority> {
        let key = KeyPair::generate().context("CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        let pair = write(dir, name, &cert.pem(), &key.serialize_pem())?;
        Ok(Authority {
            issuer: Issuer::new(params, key),
            pair,
        })
    }

    /// A serving pair for `hosts` (IP addresses become IP SANs), written to `dir/name.*`.
    pub fn server(&self, dir: &Path, name: &str, hosts: &[&str]) -> anyhow::Result<Pair> {
        let key = KeyPair::generate().context("serving key")?;
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
                .context("serving params")?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).context("signing")?;
        write(dir, name, &cert.pem(), &key.serialize_pem())
    }

    /// A client identity: user `user` in `groups`, written to `dir/file.*`.
    pub fn client(
        &self,
        dir: &Path,
        file: &str,
        user: &str,
        groups: &[&str],
    ) -> anyhow::Result<Pair> {
        let key = KeyPair::generate().context("client key")?;
        let mut params = CertificateParams::new(Vec::<String>::new()).context("client params")?;
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).context("signing")?;
        write(dir, file, &cert.pem(), &key.serialize_pem())
    }
}

/// The service-account token signing key pair (`sa.key`, `sa.pub`).
pub fn service_account_keys(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let key = KeyPair::generate().context("service-account key")?;
    let private = dir.join("sa.key");
    let public = dir.join("sa.pub");
    std::fs::write(&private, key.serialize_pem())?;
    std::fs::write(&public, key.public_key_pem())?;
    Ok((private, public))
}
