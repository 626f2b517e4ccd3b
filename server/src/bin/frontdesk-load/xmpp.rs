//! XMPP presence subscribers, over WebSocket (RFC 7395, frontdesk only) or over TCP with STARTTLS
//! (frontdesk's listener and Prosody alike, the same stanzas to both).

use crate::measure::{self, within, Counters, Figures, Run, PHASE, STEP};
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

/// A server's XMPP side as the subscribers see it.
pub struct Peer {
    /// The c2s port (STARTTLS).
    pub addr: SocketAddr,
    /// The stream's `to` domain.
    pub domain: String,
    /// The bare JID whose presence every subscriber watches.
    pub agent: String,
    /// SASL PLAIN username and password of subscriber `i`'s account.
    pub creds: Box<dyn Fn(&str) -> (String, String) + Send + Sync>,
}

/// Logins this many at a time: a client waits for each answer, so one at a time would measure the
/// round trip and not the server.
const CONCURRENT_LOGINS: usize = 64;

/// What a subscriber's reader counts: presence from the watched agent (not subscription answers) and
/// answers to pings; the first presence marks it ready.
struct Tally {
    agent: String,
    c: Counters,
    ready: Arc<AtomicU64>,
    seen: bool,
}

impl Tally {
    /// Counts the complete start tags in `buf` and keeps only what may be the start of the next one.
    fn scan(&mut self, buf: &mut Vec<u8>) {
        let (mut i, mut keep) = (0, buf.len());
        while let Some(p) = buf[i..].iter().position(|&b| b == b'<') {
            let s = i + p;
            let Some(e) = buf[s..].iter().position(|&b| b == b'>') else {
                keep = s;
                break;
            };
            let tag = String::from_utf8_lossy(&buf[s..s + e]);
            if tag.starts_with("<presence") && tag.contains(&self.agent) && !["subscribe", "subscribed", "unsubscribe", "unsubscribed", "error"].iter().any(|t| tag.contains(&format!("type='{t}'")) || tag.contains(&format!("type=\"{t}\""))) {
                self.c.frames.fetch_add(1, Ordering::Relaxed);
                if !self.seen {
                    self.seen = true;
                    self.ready.fetch_add(1, Ordering::Relaxed);
                }
            } else if tag.starts_with("<iq") && (tag.contains("id='ping") || tag.contains("id=\"ping")) {
                self.c.answers.fetch_add(1, Ordering::Relaxed);
            }
            i = s + e + 1;
        }
        buf.drain(..keep);
    }
}

/// Writes stanzas on one XMPP stream, each write bounded by [`STEP`].
pub trait Say {
    /// Sends `text` as it is.
    fn say(&mut self, what: &str, text: String) -> impl std::future::Future<Output = Run<()>>;
}

impl Say for futures::stream::SplitSink<measure::Ws, Message> {
    async fn say(&mut self, what: &str, text: String) -> Run<()> {
        measure::send(what, self, text).await
    }
}

/// The write half of a TLS XMPP stream.
pub struct TcpOut(WriteHalf<TlsStream<TcpStream>>);

impl Say for TcpOut {
    async fn say(&mut self, what: &str, text: String) -> Run<()> {
        within(what, STEP, async { self.0.write_all(text.as_bytes()).await?; self.0.flush().await }).await?.map_err(|e| format!("{what}: {e}"))
    }
}

/// An XMPP stream read into a buffer, up to markers.
struct Xml<S> {
    s: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Xml<S> {
    async fn say(&mut self, what: &str, text: &str) -> Run<()> {
        within(what, STEP, async { self.s.write_all(text.as_bytes()).await?; self.s.flush().await }).await?.map_err(|e| format!("{what}: {e}"))
    }

    /// Reads until `marker` and the end of its tag arrived, and drops what came up to there; fails on
    /// `failure` (a SASL failure, a stream or stanza error) instead.
    async fn until(&mut self, what: &str, marker: &str, failure: &[&str]) -> Run<()> {
        within(what, STEP, async {
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(f) = failure.iter().find(|f| find(&self.buf, f.as_bytes()).is_some()) {
                    return Err(format!("{what}: the server answered {f}: {}", String::from_utf8_lossy(&self.buf)));
                }
                if let Some(end) = find(&self.buf, marker.as_bytes()).and_then(|p| Some(p + self.buf[p..].iter().position(|&b| b == b'>')? + 1)) {
                    self.buf.drain(..end);
                    return Ok(());
                }
                let n = self.s.read(&mut chunk).await.map_err(|e| format!("{what}: {e}"))?;
                if n == 0 {
                    return Err(format!("{what}: the server closed the stream: {}", String::from_utf8_lossy(&self.buf)));
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await?
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn stream_header(domain: &str) -> String {
    format!("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>")
}

const ERRORS: &[&str] = &["<stream:error", "<failure", "type='error'", "type=\"error\""];

/// A TLS client that takes any certificate: both servers present self-signed ones on loopback.
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &[rustls_pki_types::CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(&self, m: &[u8], c: &rustls_pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(&self, m: &[u8], c: &rustls_pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// Logs `user` in as a client does, waiting for each answer: stream, STARTTLS, TLS, SASL PLAIN,
/// stream restart, resource binding.
async fn login(peer: &Peer, tls: &tokio_rustls::TlsConnector, user: &str) -> Run<Xml<TlsStream<TcpStream>>> {
    use base64::Engine;
    let (name, password) = (peer.creds)(user);
    let what = |step: &str| format!("xmpp login of {name} at {}: {step}", peer.addr);
    let tcp = within(what("connect"), STEP, TcpStream::connect(peer.addr)).await?.map_err(|e| what(&e.to_string()))?;
    // The client's own Nagle would hide whether the server sets TCP_NODELAY.
    tcp.set_nodelay(true).map_err(|e| what(&e.to_string()))?;
    let mut x = Xml { s: tcp, buf: vec![] };
    let header = stream_header(&peer.domain);
    x.say(&what("stream"), &header).await?;
    x.until(&what("stream features"), "</stream:features>", ERRORS).await?;
    x.say(&what("starttls"), "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
    x.until(&what("proceed"), "<proceed", ERRORS).await?;
    let sni = rustls_pki_types::ServerName::try_from(peer.domain.clone()).map_err(|e| what(&e.to_string()))?;
    let s = within(what("TLS handshake"), STEP, tls.connect(sni, x.s)).await?.map_err(|e| what(&format!("TLS: {e}")))?;
    let mut x = Xml { s, buf: vec![] };
    x.say(&what("stream over TLS"), &header).await?;
    x.until(&what("SASL mechanisms"), "</stream:features>", ERRORS).await?;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0{name}\0{password}"));
    x.say(&what("auth"), &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>")).await?;
    x.until(&what("SASL success"), "<success", ERRORS).await?;
    x.say(&what("stream restart"), &header).await?;
    x.until(&what("bind feature"), "</stream:features>", ERRORS).await?;
    x.say(&what("bind"), "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await?;
    x.until(&what("bound"), "</iq>", ERRORS).await?;
    Ok(x)
}

/// One login on the idle server, `n` times in turn; the median, ms.
pub async fn login_latency(peer: &Peer, n: usize) -> Run<f64> {
    let tls = tls_connector();
    // The previous server's sockets are still being torn down by the kernel.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ms = vec![];
    for i in 0..n {
        let t = Instant::now();
        let x = login(peer, &tls, &format!("probe{i}")).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(x);
    }
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!("xmpp: one STARTTLS login (connect to bound) on the idle server: median {median:.1} ms of {n} ({})", ms.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(", "));
    Ok(median)
}

/// Counts what arrives on one subscriber's stream, for as long as it is open.
fn spawn_tally<R: AsyncRead + Unpin + Send + 'static>(mut rd: R, mut buf: Vec<u8>, mut t: Tally) {
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        t.scan(&mut buf);
        while let Ok(n) = rd.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            t.scan(&mut buf);
        }
    });
}

/// `clients` subscribers over TCP: each logs in, sends initial presence and a subscription request to
/// the agent, and is ready at the agent's first presence. Returns the figures so far and the
/// subscribers' write halves (for pings), which keep them connected.
pub async fn subscribe_tcp(peer: Arc<Peer>, clients: usize, server: Option<(u32, u64)>, c: &Counters) -> Run<(Figures, Vec<TcpOut>)> {
    let tls = tls_connector();
    let ready = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LOGINS));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let permit = sem.clone().acquire_owned().await.expect("never closed");
        let (peer, tls, c, ready) = (peer.clone(), tls.clone(), c.clone(), ready.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let mut x = login(&peer, &tls, &format!("x{i}")).await?;
            x.say("initial presence", &format!("<presence/><presence type='subscribe' to='{}'/>", peer.agent)).await?;
            let (rd, wr): (ReadHalf<_>, WriteHalf<_>) = tokio::io::split(x.s);
            spawn_tally(rd, x.buf, Tally { agent: peer.agent.clone(), c, ready, seen: false });
            Ok::<_, String>(TcpOut(wr))
        }));
    }
    let mut outs = Vec::with_capacity(clients);
    for t in tasks {
        outs.push(t.await.map_err(|e| e.to_string())??);
    }
    let f = measure::report_connect(&ready, clients, t0, server, "xmpp", "subscribers logged in (STARTTLS, SASL PLAIN), bound, available and subscribed").await?;
    Ok((f, outs))
}

/// XEP-0199 pings from every subscriber, in rounds: the request round trip both servers answer.
pub async fn pings<S: Say>(outs: &mut [S], c: &Counters, seconds: u64, domain: &str) -> Run<f64> {
    let start = Counters::get(&c.answers);
    let t = Instant::now();
    let deadline = t + Duration::from_secs(seconds);
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        for o in outs.iter_mut() {
            o.say("xmpp ping", format!("<iq type='get' id='ping{round}' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>")).await?;
        }
        measure::wait_for(&format!("xmpp pings, round {round}"), &c.answers, start + round * outs.len() as u64, PHASE).await?;
    }
    let n = Counters::get(&c.answers) - start;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("xmpp pings: {n} answered in {:.2} s → {rate:.0} round trips/s", t.elapsed().as_secs_f64());
    Ok(rate)
}

/// Subscribers over WebSocket (RFC 7395) to frontdesk's `/xmpp`: the endpoint answers in order, so
/// each whole login is sent at once.
pub async fn subscribe_ws(base: &str, secret: &str, clients: usize, server: Option<(u32, u64)>, c: &Counters) -> Run<(Figures, Vec<futures::stream::SplitSink<measure::Ws, Message>>)> {
    use base64::Engine;
    use frontdesk_core::principal::Principal;
    let ready = Arc::new(AtomicU64::new(0));
    let now = frontdesk_net::wall_clock();
    let t0 = Instant::now();
    let mut keep = vec![];
    let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='frontdesk.local' version='1.0'/>";
    for i in 0..clients {
        let tok = frontdesk_server::tokens::issue(secret.as_bytes(), &Principal::Client(format!("x{i}").as_str().into()), now, 3600);
        let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("{base}/xmpp")).map_err(|e| e.to_string())?;
        req.headers_mut().insert("sec-websocket-protocol", "xmpp".parse().expect("a valid header"));
        let ws = measure::connect_ws("xmpp websocket", req).await?;
        let (mut tx, mut rx) = ws.split();
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0x{i}\0{tok}"));
        for m in [
            open.to_string(),
            format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"),
            open.to_string(),
            "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>".into(),
            format!("<presence xmlns='jabber:client' type='subscribe' to='{}'/>", crate::FRONTDESK_AGENT),
        ] {
            tx.say("xmpp login", m).await?;
        }
        let mut t = Tally { agent: crate::FRONTDESK_AGENT.into(), c: c.clone(), ready: ready.clone(), seen: false };
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(s) = m {
                    t.scan(&mut s.as_bytes().to_vec());
                }
            }
        });
        keep.push(tx);
    }
    let f = measure::report_connect(&ready, clients, t0, server, "xmpp", "subscribers logged in (SASL PLAIN, WebSocket), bound and subscribed").await?;
    Ok((f, keep))
}

/// An XMPP client that logs in as the watched agent and changes its presence on demand (Prosody's
/// presence source); what it receives is read and dropped.
pub async fn agent_client(peer: &Peer, user: &str) -> Run<TcpOut> {
    let mut x = login(peer, &tls_connector(), user).await?;
    x.say("agent presence", "<presence/>").await?;
    let (mut rd, wr) = tokio::io::split(x.s);
    tokio::spawn(async move {
        let mut b = vec![0u8; 16 * 1024];
        while matches!(rd.read(&mut b).await, Ok(n) if n > 0) {}
    });
    Ok(TcpOut(wr))
}
