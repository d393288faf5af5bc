//! TLS of `wss://` connections: the platform's root certificates, plus the CA certificates of
//! [`TransportConfig::ca_file`](super::TransportConfig::ca_file), verified with rustls.

use super::error::GremlinError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::error::Error;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The CA certificates of a PEM file; the error says, in a few words, why there are none.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    if !path.is_file() {
        return Err(format!("{} is not a readable file", path.display()));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{} is not a PEM file of certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "{} holds a certificate that cannot be a trust anchor: {e}",
                path.display()
            )
        })?;
    }
    Ok(certs)
}

/// The platform's root certificates, read once per process.
fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The client configuration of one transport: the platform's roots and those of `ca_file`.
pub(crate) fn client_config(
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, GremlinError> {
    let fail = |source: Arc<dyn Error + Send + Sync>| GremlinError::Connect {
        endpoint: "tls".into(),
        source,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in platform_roots() {
        // A platform certificate rustls cannot use is left out, as every rustls client does.
        let _ = roots.add(cert.clone());
    }
    if let Some(path) = ca_file {
        let extra =
            read_ca_file(path).map_err(|why| crate::error::ConfigError::new("ca_file", why))?;
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| crate::error::ConfigError::new("ca_file", e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(fail(Arc::new(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no root certificates found on this system (name a CA file to trust)",
        ))));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(Arc::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate problem behind a failed TLS handshake, if that is what failed: rustls
/// reports it as the typed error inside the handshake's I/O error.
pub(crate) fn certificate_problem(error: &std::io::Error) -> Option<rustls::Error> {
    let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::InvalidCertificate(_) => Some(inner.clone()),
        _ => None,
    }
}
