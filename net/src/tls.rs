//! Which servers a `wss://` connection trusts. By default the platform decides, through
//! rustls-platform-verifier: the OS verifier on Android, iOS, macOS and Windows (so enterprise CAs,
//! distrust decisions and revocation apply as for the OS's own apps), webpki with the system's roots
//! on Linux. Apps may add a private CA on top of that, or trust only their own roots.

use frontdesk_core::transport::TransportError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The roots a `wss://` connection trusts.
#[derive(Debug, Clone, Default)]
pub enum TrustedRoots {
    /// The platform's verifier and trust store.
    #[default]
    Platform,
    /// The platform's, and also these (a private CA next to the public ones).
    PlatformAnd(Vec<CertificateDer<'static>>),
    /// Only these; the system's store is not consulted (private CA deployments, pinned self-signed servers).
    Only(Vec<CertificateDer<'static>>),
}

/// The certificates of a PEM bundle (`-----BEGIN CERTIFICATE-----` blocks; other blocks are skipped).
/// Errors say what is wrong, and a bundle without any certificate is an error rather than "trust nothing".
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TransportError::Failed(format!("root certificates: not a PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(TransportError::Failed("root certificates: no -----BEGIN CERTIFICATE----- block in the PEM".into()));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn store(roots: &[CertificateDer<'static>]) -> Result<RootCertStore, TransportError> {
    let mut store = RootCertStore::empty();
    for (i, c) in roots.iter().enumerate() {
        store.add(c.clone()).map_err(|e| TransportError::Failed(format!("root certificate {}: {e}", i + 1)))?;
    }
    Ok(store)
}

/// The rustls configuration for `roots`. Built once per connector: on Linux it reads the system's store.
pub fn client_config(roots: &TrustedRoots) -> Result<Arc<ClientConfig>, TransportError> {
    let setup = |e: rustls::Error| TransportError::Failed(format!("TLS setup: {e}"));
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(setup)?;
    let cfg = match roots {
        TrustedRoots::Only(roots) => builder.with_root_certificates(store(roots)?).with_no_client_auth(),
        TrustedRoots::Platform => builder.dangerous().with_custom_certificate_verifier(platform_verifier(&[])?).with_no_client_auth(),
        TrustedRoots::PlatformAnd(extra) => builder.dangerous().with_custom_certificate_verifier(platform_verifier(extra)?).with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

#[cfg(not(target_os = "android"))]
fn platform_verifier(extra: &[CertificateDer<'static>]) -> Result<Arc<dyn ServerCertVerifier>, TransportError> {
    // Checked here too so a bad extra root is named by its position, like for `Only`.
    store(extra)?;
    let v = rustls_platform_verifier::Verifier::new_with_extra_roots(extra.iter().cloned(), provider())
        .map_err(|e| TransportError::Failed(format!("TLS setup: the platform's verifier: {e}")))?;
    Ok(Arc::new(v))
}

/// Android's verifier takes no extra roots: it is asked first, and the extra roots only when it does
/// not know the issuer.
#[cfg(target_os = "android")]
fn platform_verifier(extra: &[CertificateDer<'static>]) -> Result<Arc<dyn ServerCertVerifier>, TransportError> {
    if !android::is_initialised() {
        return Err(TransportError::Failed(
            "TLS setup: on Android the platform's verifier needs the app's Context first: call FrontdeskTls.init(context) (Kotlin) or fd_tls_android_init (C) once at start".into(),
        ));
    }
    let platform: Arc<dyn ServerCertVerifier> = Arc::new(
        rustls_platform_verifier::Verifier::new(provider())
            .map_err(|e| TransportError::Failed(format!("TLS setup: the platform's verifier: {e}")))?,
    );
    if extra.is_empty() {
        return Ok(platform);
    }
    Ok(Arc::new(PlatformThenExtra::new(platform, extra)?))
}

/// Asks the platform's verifier, then, only for an issuer it does not know, webpki with the extra roots.
#[derive(Debug)]
#[cfg_attr(not(target_os = "android"), allow(dead_code))]
struct PlatformThenExtra {
    platform: Arc<dyn ServerCertVerifier>,
    extra: Arc<WebPkiServerVerifier>,
}

#[cfg_attr(not(target_os = "android"), allow(dead_code))]
impl PlatformThenExtra {
    fn new(platform: Arc<dyn ServerCertVerifier>, extra: &[CertificateDer<'static>]) -> Result<Self, TransportError> {
        let extra = WebPkiServerVerifier::builder_with_provider(Arc::new(store(extra)?), provider())
            .build()
            .map_err(|e| TransportError::Failed(format!("TLS setup: {e}")))?;
        Ok(PlatformThenExtra { platform, extra })
    }
}

impl ServerCertVerifier for PlatformThenExtra {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.platform.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                self.extra.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.extra.verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.extra.verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.extra.supported_verify_schemes()
    }
}

/// Why rustls refused the server's certificate, in words an operator acts on; `None` for a TLS
/// failure that is not about the certificate.
pub fn certificate_failure(e: &rustls::Error) -> Option<String> {
    let rustls::Error::InvalidCertificate(c) = e else { return None };
    Some(match c {
        CertificateError::UnknownIssuer => {
            "unknown issuer: no trusted root signed the server's certificate (pass the server's CA as an extra root)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!("expired: {c}"),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!("not valid yet: {c}"),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!("name mismatch: {c}"),
        CertificateError::Revoked => "revoked".into(),
        CertificateError::BadSignature => "bad signature".into(),
        other => other.to_string(),
    })
}

/// Android: rustls-platform-verifier calls into the JVM and must be handed the app's Context once.
#[cfg(target_os = "android")]
pub mod android {
    use std::sync::atomic::{AtomicBool, Ordering};

    static INITIALISED: AtomicBool = AtomicBool::new(false);

    /// Whether [`init`] succeeded in this process.
    pub fn is_initialised() -> bool {
        INITIALISED.load(Ordering::Acquire)
    }

    /// Hands rustls-platform-verifier the JVM and the app's `Context` (a JNI `JNIEnv*` and a `jobject`).
    ///
    /// # Safety
    /// `env` must be the current thread's valid `JNIEnv*` and `context` a valid local or global reference.
    pub unsafe fn init(env: *mut std::ffi::c_void, context: *mut std::ffi::c_void) -> Result<(), String> {
        if env.is_null() || context.is_null() {
            return Err("a JNIEnv and an android.content.Context are needed".into());
        }
        let mut unowned = jni::EnvUnowned::from_raw(env as *mut jni::sys::JNIEnv);
        let r = unowned
            .with_env(|env| -> Result<(), jni::errors::Error> {
                let context = jni::objects::JObject::from_raw(env, context as jni::sys::jobject);
                rustls_platform_verifier::android::init_with_env(env, context)
            })
            .into_outcome();
        match r {
            jni::Outcome::Ok(()) => {
                INITIALISED.store(true, Ordering::Release);
                Ok(())
            }
            jni::Outcome::Err(e) => Err(format!("rustls-platform-verifier init: {e}")),
            jni::Outcome::Panic(_) => Err("rustls-platform-verifier init panicked".into()),
        }
    }
}

/// Off Android there is nothing to initialise: [`android_init`] says so.
#[cfg(not(target_os = "android"))]
pub mod android {
    /// Always true: only Android's verifier needs the JVM.
    pub fn is_initialised() -> bool {
        true
    }
}

/// Initialises TLS on Android from JNI (see [`android::init`]); elsewhere an error saying it is not needed.
///
/// # Safety
/// On Android, as for [`android::init`]; elsewhere the pointers are not read.
pub unsafe fn android_init(env: *mut std::ffi::c_void, context: *mut std::ffi::c_void) -> Result<(), String> {
    #[cfg(target_os = "android")]
    return android::init(env, context);
    #[cfg(not(target_os = "android"))]
    {
        let _ = (env, context);
        Err("only Android needs TLS initialising (its verifier calls into the JVM)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ca(rcgen::CertificateParams, rcgen::KeyPair, rcgen::Certificate);

    fn ca(name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        let k = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&k).unwrap();
        Ca(p, k, c)
    }

    fn leaf(ca: &Ca, host: &str) -> CertificateDer<'static> {
        let p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca.0, &ca.1);
        p.signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer).unwrap().der().clone()
    }

    #[test]
    fn pem_bundles_are_parsed_and_garbage_is_refused_with_a_reason() {
        let (a, b) = (ca("A"), ca("B"));
        let bundle = format!("# two roots\n{}{}", a.2.pem(), b.2.pem());
        assert_eq!(pem_certificates(bundle.as_bytes()).unwrap(), vec![a.2.der().clone(), b.2.der().clone()]);
        let e = pem_certificates(b"not pem at all").unwrap_err().to_string();
        assert!(e.contains("no -----BEGIN CERTIFICATE-----"), "{e}");
        let e = pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap_err().to_string();
        assert!(e.contains("root certificates"), "{e}");
        let e = client_config(&TrustedRoots::Only(vec![CertificateDer::from(vec![1u8, 2, 3])])).unwrap_err().to_string();
        assert!(e.contains("root certificate 1"), "{e}");
    }

    /// Android's path (platform first, extra roots for an unknown issuer), checked here with webpki
    /// standing in for the platform.
    #[test]
    fn platform_then_extra_falls_back_only_for_an_unknown_issuer() {
        let (public, private) = (ca("public"), ca("private"));
        let platform = WebPkiServerVerifier::builder_with_provider(Arc::new(store(&[public.2.der().clone()]).unwrap()), provider()).build().unwrap();
        let v = PlatformThenExtra::new(platform, &[private.2.der().clone()]).unwrap();
        let name = ServerName::try_from("fd.test").unwrap();
        let now = UnixTime::now();
        assert!(v.verify_server_cert(&leaf(&public, "fd.test"), &[], &name, &[], now).is_ok());
        assert!(v.verify_server_cert(&leaf(&private, "fd.test"), &[], &name, &[], now).is_ok());
        let other = ca("other");
        let e = v.verify_server_cert(&leaf(&other, "fd.test"), &[], &name, &[], now).unwrap_err();
        assert!(certificate_failure(&e).unwrap().starts_with("unknown issuer"), "{e}");
        // A platform verdict other than "unknown issuer" stands: the extra roots never override it.
        let e = v.verify_server_cert(&leaf(&public, "other.test"), &[], &name, &[], now).unwrap_err();
        assert!(certificate_failure(&e).unwrap().starts_with("name mismatch"), "{e}");
    }
}
