//! TLS for the main port, so browsers on `https://` pages can use the widget (`wss://`) without a
//! terminating proxy in front.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::rustls::ServerConfig;

/// A TLS configuration from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_chain).collect::<Result<_, _>>().map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("certificate: no PEM certificate found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("private key: {e}"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(cfg))
}

/// Reads [`from_pem`]'s inputs from files.
pub fn from_pem_files(cert_chain: &std::path::Path, key: &std::path::Path) -> Result<Arc<ServerConfig>, String> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    from_pem(&read(cert_chain)?, &read(key)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_generated_certificate_loads_and_garbage_is_refused_with_a_reason() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        assert!(super::from_pem(ck.cert.pem().as_bytes(), ck.signing_key.serialize_pem().as_bytes()).is_ok());
        let e = super::from_pem(b"nope", ck.signing_key.serialize_pem().as_bytes()).unwrap_err();
        assert!(e.contains("certificate"), "{e}");
        let e = super::from_pem(ck.cert.pem().as_bytes(), b"nope").unwrap_err();
        assert!(e.contains("private key"), "{e}");
    }
}
