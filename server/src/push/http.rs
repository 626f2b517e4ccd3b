//! The few HTTP requests pushes need: a POST over `http://` (HTTP/1.1) or `https://` (HTTP/2 when
//! the server offers it by ALPN, as APNs must; HTTP/1.1 otherwise). HTTP/2 connections are kept
//! per origin and reused, as APNs asks.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// An `http://` or `https://` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether it is `https://`.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (80 or 443 unless given).
    pub port: u16,
    /// Path and query, from `/`.
    pub path: String,
}

impl Url {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Url, String> {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            _ => return Err(format!("{url}: not an http:// or https:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // `[v6]:port`, `[v6]`, `host:port` or `host`.
        let (host, port) = match authority.strip_prefix('[').and_then(|a| a.split_once(']')) {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| format!("{url}: bad port"))?,
            None => if tls { 443 } else { 80 },
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(Url { tls, host: host.to_owned(), port, path: path.to_owned() })
    }

    /// The same origin with another path.
    pub fn with_path(&self, path: &str) -> Url {
        Url { path: format!("{}{path}", self.path.trim_end_matches('/')), ..self.clone() }
    }

    fn origin(&self) -> String {
        format!("{}://{}:{}", if self.tls { "https" } else { "http" }, self.host, self.port)
    }
}

/// An answer: status, headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// Sends POSTs, trusting the system's roots and any extra CA given.
pub struct Client {
    tls: TlsConnector,
    h2: Mutex<HashMap<String, SendRequest<Full<Bytes>>>>,
}

impl Client {
    /// A client trusting the system's roots plus the certificates of `extra_ca` (PEM).
    pub fn new(extra_ca: Option<&[u8]>) -> Result<Client, String> {
        let mut roots = RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        if let Some(pem) = extra_ca {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(|e| format!("--push-ca: {e}"))?;
            if certs.is_empty() {
                return Err("--push-ca: no PEM certificate found".into());
            }
            for c in certs {
                roots.add(c).map_err(|e| format!("--push-ca: {e}"))?;
            }
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Client { tls: TlsConnector::from(Arc::new(cfg)), h2: Mutex::new(HashMap::new()) })
    }

    /// POSTs `body` with the given headers; the answer's body is read whole.
    pub async fn post(&self, url: &Url, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Answer, String> {
        let mut req = hyper::Request::post(if url.tls { format!("{}{}", url.origin(), url.path) } else { url.path.clone() });
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.header("user-agent", "frontdesk-server").body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let res = if url.tls {
            let mut h2 = self.h2_for(url).await?;
            h2.send_request(req).await.map_err(|e| {
                self.h2.lock().expect("not poisoned").remove(&url.origin());
                e.to_string()
            })?
        } else {
            let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| e.to_string())?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut req = req;
            let host = format!("{}:{}", url.host, url.port);
            req.headers_mut().insert(hyper::header::HOST, host.parse().map_err(|_| "bad host".to_string())?);
            send.send_request(req).await.map_err(|e| e.to_string())?
        };
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer { status, body })
    }

    /// A ready HTTP/2 connection to the URL's origin: the kept one, or a new one.
    async fn h2_for(&self, url: &Url) -> Result<SendRequest<Full<Bytes>>, String> {
        if let Some(s) = self.h2.lock().expect("not poisoned").get(&url.origin()) {
            if s.is_ready() {
                return Ok(s.clone());
            }
        }
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(url.host.clone()).map_err(|e| format!("{}: {e}", url.host))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("TLS with {}: {e}", url.host))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(format!("{} does not speak HTTP/2", url.origin()));
        }
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        self.h2.lock().expect("not poisoned").insert(url.origin(), send.clone());
        Ok(send)
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn urls() {
        assert_eq!(Url::parse("http://127.0.0.1:8080/push").unwrap(), Url { tls: false, host: "127.0.0.1".into(), port: 8080, path: "/push".into() });
        assert_eq!(Url::parse("https://relay").unwrap(), Url { tls: true, host: "relay".into(), port: 443, path: "/".into() });
        assert_eq!(Url::parse("https://[::1]:9/x").unwrap(), Url { tls: true, host: "::1".into(), port: 9, path: "/x".into() });
        assert_eq!(Url::parse("https://fcm.example/").unwrap().with_path("/v1/x"), Url { tls: true, host: "fcm.example".into(), port: 443, path: "/v1/x".into() });
        assert_eq!(Url::parse("http://[::1]/").unwrap().port, 80);
        assert!(Url::parse("ftp://relay/x").is_err());
        assert!(Url::parse("http://:80/").is_err());
    }
}
