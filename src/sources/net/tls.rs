//! TLS for listening sources: PEM certificate and key files into a `tokio_rustls::TlsAcceptor`
//! (rustls with the aws-lc-rs provider), optionally requiring client certificates signed by
//! `ca_file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// Serve TLS instead of plain TCP.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ServerTls")]
pub struct TlsConfig {
    /// PEM file with the server certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates client certificates must chain to. When set, every
    /// client must present a valid certificate; without it no client certificate is asked.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds a client gets to complete the TLS handshake.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
}

fn default_handshake_timeout_secs() -> u64 {
    10
}

/// Why TLS could not be set up. Messages name files, never their contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificates from {path}: {reason}")]
    Certificates { path: PathBuf, reason: String },
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("cannot read a private key from {path}: {reason}")]
    PrivateKey { path: PathBuf, reason: String },
    #[error("invalid CA certificate in {path}: {reason}")]
    CaCertificate { path: PathBuf, reason: String },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificates {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

impl TlsConfig {
    /// Reads the files and builds the acceptor (at startup, so mistakes stop the pipeline
    /// before it runs).
    pub fn build_acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = read_certificates(&self.cert_file)?;
        let key =
            PrivateKeyDer::from_pem_file(&self.key_file).map_err(|e| TlsError::PrivateKey {
                path: self.key_file.clone(),
                reason: e.to_string(),
            })?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.ca_file {
            Some(ca_file) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certificates(ca_file)? {
                    roots.add(cert).map_err(|e| TlsError::CaCertificate {
                        path: ca_file.clone(),
                        reason: e.to_string(),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    pub fn handshake_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.handshake_timeout_secs.max(1))
    }
}
