//! `wss://` against a real TLS WebSocket server on 127.0.0.1, with certificates from a CA the test
//! makes: which roots are trusted decides whether the dial succeeds, and a refusal names its cause.

use frontdesk_core::transport::{Connector, TransportError};
use frontdesk_net::ws::WsConnector;
use futures::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;

struct Ca {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { params, key, cert }
}

/// A server certificate for `host` signed by `ca`; `expired` puts its validity in 2020.
fn leaf(ca: &Ca, host: &str, expired: bool) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    if expired {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &rcgen::Issuer::from_params(&ca.params, &ca.key)).unwrap();
    (cert.der().clone(), PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// A TLS WebSocket echo server on 127.0.0.1 presenting `cert`; returns its port.
async fn echo_server(cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.0], cert.1)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

async fn dial(c: &mut WsConnector) -> Result<frontdesk_core::transport::Transport, TransportError> {
    tokio::time::timeout(Duration::from_secs(10), c.connect()).await.expect("dial answered within 10 s")
}

fn refused(r: Result<frontdesk_core::transport::Transport, TransportError>) -> String {
    match r {
        Err(TransportError::Certificate(why)) => why,
        Err(e) => panic!("expected a certificate refusal, got {e}"),
        Ok(_) => panic!("expected a certificate refusal, but it connected"),
    }
}

#[tokio::test]
async fn the_platform_alone_refuses_a_private_ca_naming_the_unknown_issuer_and_an_extra_root_lets_it_in() {
    let private = ca("frontdesk test CA");
    let port = echo_server(leaf(&private, "localhost", false)).await;
    let url = format!("wss://localhost:{port}/client");

    let why = refused(dial(&mut WsConnector::new(url.clone())).await);
    assert!(why.starts_with("unknown issuer"), "{why}");
    // The app sees the type and the cause in the message.
    assert!(TransportError::Certificate(why).to_string().contains("server certificate refused: unknown issuer"));

    let mut c = WsConnector::new(url.clone()).with_extra_roots_pem(private.cert.pem().as_bytes()).unwrap();
    let mut t = dial(&mut c).await.expect("connects with the CA as an extra root");
    t.sender.send(b"{\"hello\":1}".to_vec()).await.unwrap();
    assert_eq!(t.receiver.recv().await.unwrap(), b"{\"hello\":1}");
    // A clone (as the bindings make per dial) reuses the configuration and connects again.
    let mut again = c.clone();
    assert!(dial(&mut again).await.is_ok());

    // Only the given roots: a different CA alone is refused for the same server.
    let other = ca("someone else");
    let mut only_other = WsConnector::new(url.clone()).with_root_certificates(vec![other.cert.der().clone()]).unwrap();
    assert!(refused(dial(&mut only_other).await).starts_with("unknown issuer"));
    let mut only_ours = WsConnector::new(url).with_root_certificates(vec![private.cert.der().clone()]).unwrap();
    assert!(dial(&mut only_ours).await.is_ok());
}

#[tokio::test]
async fn a_certificate_for_another_name_or_out_of_date_is_refused_with_that_cause() {
    let private = ca("frontdesk test CA");
    let wrong = echo_server(leaf(&private, "elsewhere.example", false)).await;
    let mut c = WsConnector::new(format!("wss://localhost:{wrong}/client")).with_extra_roots(vec![private.cert.der().clone()]).unwrap();
    let why = refused(dial(&mut c).await);
    assert!(why.starts_with("name mismatch") && why.contains("elsewhere.example"), "{why}");

    let old = echo_server(leaf(&private, "localhost", true)).await;
    let mut c = WsConnector::new(format!("wss://localhost:{old}/client")).with_extra_roots(vec![private.cert.der().clone()]).unwrap();
    let why = refused(dial(&mut c).await);
    assert!(why.starts_with("expired"), "{why}");
}

#[tokio::test]
async fn bad_roots_are_refused_when_configured_and_other_failures_stay_untyped() {
    let e = WsConnector::new("wss://localhost:1/client").with_extra_roots_pem(b"no certificates here").unwrap_err();
    assert!(matches!(&e, TransportError::Failed(m) if m.contains("no -----BEGIN CERTIFICATE-----")), "{e}");
    // Nothing listens on the port: not a certificate problem.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = dial(&mut WsConnector::new(format!("wss://127.0.0.1:{port}/client"))).await.err().expect("refused");
    assert!(matches!(e, TransportError::Failed(_)), "{e}");
}
