//! An XMPP endpoint (RFC 6120/6121 client-to-server) so standard presence clients can watch the
//! center: TCP with mandatory STARTTLS (or direct TLS, XEP-0368), SASL PLAIN with the same tokens as the WebSocket protocol
//! (username = client or agent id, password = token), resource binding, a roster of the center, its
//! queues and its agents, subscriptions decided by the presentities' access rules, and presence pushes
//! mapped from the status monitor (`show`/`status`).

pub mod element;

use crate::tokens::JwtVerifier;
use base64::Engine;
use crate::limits::{principal_key, RateLimits, SessionCap, UnauthConn};
use element::{esc, read_header, read_stanza, Budget, Element, Limited, XmlError};
use frontdesk_core::broker::auth::Verifier;
use frontdesk_core::monitor::presence::{Activity, PresenceDocument, Presentity};
use frontdesk_core::monitor::WatcherId;
use frontdesk_core::principal::Principal;
use frontdesk_core::protocol::{ErrorBody, ErrorCode};
use frontdesk_core::status::{AgentState, ClientActivity, ClientStatus};
use frontdesk_core::ClientId;
use frontdesk_net::wall_clock;
use quick_xml::Reader;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// What an XMPP session asks of the broker task.
pub enum XmppRequest {
    /// A session authenticated; answer with its watcher id and the roster.
    Open {
        /// Who.
        principal: Principal,
        /// Where presence pushes go.
        out: mpsc::UnboundedSender<XmppPush>,
        /// Watcher id and roster.
        reply: oneshot::Sender<(WatcherId, Vec<Presentity>)>,
    },
    /// Subscribe under the access rules.
    Subscribe {
        /// Watcher.
        watcher: WatcherId,
        /// Who.
        principal: Principal,
        /// What.
        presentity: Presentity,
        /// The current document, or why not.
        reply: oneshot::Sender<Result<PresenceDocument, ErrorBody>>,
    },
    /// Unsubscribe.
    Unsubscribe {
        /// Watcher.
        watcher: WatcherId,
        /// What.
        presentity: Presentity,
    },
    /// One-off read (probe).
    Fetch {
        /// Who.
        principal: Principal,
        /// What.
        presentity: Presentity,
        /// The document, or why not.
        reply: oneshot::Sender<Result<PresenceDocument, ErrorBody>>,
    },
    /// A client's own availability.
    Status {
        /// Client.
        client: ClientId,
        /// Status.
        status: ClientStatus,
    },
    /// The session ended.
    Close {
        /// Watcher.
        watcher: WatcherId,
        /// Its subscriptions.
        presentities: Vec<Presentity>,
    },
}

/// What the broker task pushes to an XMPP session.
pub enum XmppPush {
    /// A watched presentity's presence changed.
    Presence(Arc<PresenceDocument>),
    /// A subscription was ended by the owner's rules.
    Ended(Presentity),
}

/// Shared settings of the endpoint.
pub struct XmppContext {
    /// The service domain (JIDs are `<local>@domain`).
    pub domain: String,
    /// TLS for STARTTLS.
    pub tls: tokio_rustls::TlsAcceptor,
    /// Token checker.
    pub verifier: JwtVerifier,
    /// The broker task.
    pub to_broker: mpsc::UnboundedSender<XmppRequest>,
    /// From the first byte to the end of authentication (TLS, stream headers, SASL).
    pub auth_timeout: std::time::Duration,
    /// Connections per principal, shared with the WebSocket endpoints.
    pub sessions: Arc<SessionCap>,
    /// Rate limits per principal, shared with the WebSocket endpoints.
    pub rates: Arc<RateLimits>,
    /// How long a write may wait on a peer that does not read.
    pub stall_timeout: std::time::Duration,
}

/// Stanzas read ahead of the session (each at most [`element::MAX_STANZA_BYTES`]); then the reader
/// waits and TCP slows the peer down.
const READ_AHEAD: usize = 16;

/// Roughly the bytes a stanza took, for the byte rate limit.
fn weight(el: &Element) -> usize {
    el.name.len() + el.text.len() + el.attrs.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + el.children.iter().map(weight).sum::<usize>() + 5
}

/// A self-signed certificate for the domain (and localhost), for STARTTLS where no certificate is given.
pub fn self_signed_tls(domain: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    frontdesk_net::ws::ensure_crypto_provider();
    let ck = rcgen::generate_simple_self_signed(vec![domain.to_string(), "localhost".into(), "127.0.0.1".into()]).map_err(|e| e.to_string())?;
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cfg = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The JID of a presentity.
pub fn jid_of(p: &Presentity, domain: &str) -> String {
    format!("{}@{domain}", p.local_part())
}

/// The presentity a JID names (resource ignored).
pub fn presentity_of(jid: &str) -> Option<Presentity> {
    let bare = jid.split('/').next()?;
    Presentity::from_local_part(bare.split('@').next()?)
}

/// XMPP availability of a presence document: (available, show, status).
pub fn show_status(doc: &PresenceDocument) -> (bool, Option<&'static str>, Option<String>) {
    if let Some(a) = &doc.agent {
        return match a.state {
            AgentState::Available => (true, None, Some("available".into())),
            AgentState::Busy => {
                let on_phone = doc.activities.contains(&Activity::OnThePhone);
                (true, Some("dnd"), Some(if on_phone { "on-the-phone" } else { "busy" }.into()))
            }
            AgentState::AfterWork => (true, Some("away"), Some("wrapping up".into())),
            AgentState::Away => (true, Some("xa"), Some("away".into())),
            AgentState::LoggedOut => (false, None, None),
        };
    }
    if let Some(c) = &doc.client {
        return match c.activity {
            ClientActivity::Online => (true, None, c.note.clone()),
            ClientActivity::Idle => (true, Some("away"), c.note.clone()),
            ClientActivity::Offline => (false, None, None),
        };
    }
    if let Some(c) = &doc.center {
        let holding: u32 = c.queues.iter().map(|q| q.holding).sum();
        let free: u32 = c.queues.iter().map(|q| q.agents_available).max().unwrap_or(0);
        let hold = c.queues.iter().filter_map(|q| q.estimated_hold_secs).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        let status = format!("{holding} holding, {free} agents free{}", hold.map(|h| format!(", shortest hold {h:.0} s")).unwrap_or_default());
        return if doc.is_open() { (true, None, Some(status)) } else { (true, Some("xa"), Some(format!("closed; {status}"))) };
    }
    (doc.is_open(), None, doc.note.clone())
}

/// A `<presence/>` stanza for a document.
pub fn presence_stanza(doc: &PresenceDocument, domain: &str, to: &str) -> String {
    let from = jid_of(&doc.entity, domain);
    match show_status(doc) {
        (false, _, _) => format!("<presence from='{}' to='{}' type='unavailable'/>", esc(&from), esc(to)),
        (true, show, status) => {
            let mut s = format!("<presence from='{}' to='{}'>", esc(&from), esc(to));
            if let Some(sh) = show {
                s.push_str(&format!("<show>{sh}</show>"));
            }
            if let Some(st) = status {
                s.push_str(&format!("<status>{}</status>", esc(&st)));
            }
            s.push_str("</presence>");
            s
        }
    }
}

fn header(domain: &str, id: u64) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='fd{id}' from='{}' version='1.0' xml:lang='en'>",
        esc(domain)
    )
}

async fn write<W: AsyncWrite + Unpin>(w: &mut W, s: &str) -> Result<(), String> {
    w.write_all(s.as_bytes()).await.map_err(|e| e.to_string())?;
    w.flush().await.map_err(|e| e.to_string())
}

async fn stream_error<W: AsyncWrite + Unpin>(w: &mut W, cond: &str) {
    let _ = write(w, &format!("<stream:error><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")).await;
}

fn x(e: XmlError) -> String {
    e.to_string()
}

/// Runs one step before authentication against the deadline; on failure tells the peer why with a
/// stream error (`connection-timeout`, `policy-violation` for an oversized stanza or header).
async fn step<T, W: AsyncWrite + Unpin>(deadline: Instant, wh: &mut W, fut: impl std::future::Future<Output = Result<T, XmlError>>) -> Result<T, String> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(Ok(v)) => Ok(v),
        Err(_) => {
            stream_error(wh, "connection-timeout").await;
            Err("not authenticated in time".into())
        }
        Ok(Err(XmlError::Closed)) => Err(XmlError::Closed.to_string()),
        Ok(Err(e)) => {
            stream_error(wh, if matches!(e, XmlError::TooBig) { "policy-violation" } else { "not-well-formed" }).await;
            Err(e.to_string())
        }
    }
}

type TcpReader<R> = Reader<BufReader<Limited<R>>>;

fn reader<R: AsyncRead + Unpin>(r: R, budget: &Budget) -> TcpReader<R> {
    Reader::from_reader(BufReader::new(Limited::new(r, budget.clone())))
}

/// Serves one XMPP client connection on TCP: STARTTLS, then the rest over TLS. From the first byte
/// to the end of SASL everything must happen within the context's `auth_timeout`; every stanza and
/// stream header is read within a byte budget.
pub async fn serve_tcp(stream: TcpStream, ctx: Arc<XmppContext>, id: u64, unauth: UnauthConn) -> Result<(), String> {
    // A TLS ClientHello first (XEP-0368 direct TLS, which clients such as slixmpp try) skips STARTTLS.
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(ctx.auth_timeout, stream.peek(&mut first))
        .await
        .map_err(|_| "no stream header in time")?
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + ctx.auth_timeout;
    if n == 1 && first[0] == 0x16 {
        let tls = tokio::time::timeout_at(deadline, ctx.tls.accept(stream)).await.map_err(|_| "no TLS handshake in time")?.map_err(|e| format!("TLS: {e}"))?;
        return secured(tls, ctx, id, deadline, unauth).await;
    }
    let budget = Budget::new();
    let (rh, mut wh) = tokio::io::split(stream);
    let mut rd = reader(rh, &budget);
    let mut buf = vec![];
    step(deadline, &mut wh, read_header(&mut rd, &mut buf)).await?;
    write(&mut wh, &header(&ctx.domain, id)).await?;
    write(&mut wh, &format!("<stream:features><starttls xmlns='{NS_TLS}'><required/></starttls></stream:features>")).await?;
    budget.reset();
    let el = step(deadline, &mut wh, read_stanza(&mut rd, &mut buf)).await?;
    if el.local() != "starttls" {
        stream_error(&mut wh, "policy-violation").await;
        return Err("client did not start TLS".into());
    }
    write(&mut wh, &format!("<proceed xmlns='{NS_TLS}'/>")).await?;
    let stream = rd.into_inner().into_inner().into_inner().unsplit(wh);
    let tls = tokio::time::timeout_at(deadline, ctx.tls.accept(stream)).await.map_err(|_| "no TLS handshake in time")?.map_err(|e| format!("TLS: {e}"))?;
    secured(tls, ctx, id, deadline, unauth).await
}

async fn secured<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(s: S, ctx: Arc<XmppContext>, id: u64, deadline: Instant, unauth: UnauthConn) -> Result<(), String> {
    let budget = Budget::new();
    let (rh, mut wh) = tokio::io::split(s);
    let mut rd = reader(rh, &budget);
    let mut buf = vec![];
    step(deadline, &mut wh, read_header(&mut rd, &mut buf)).await?;
    write(&mut wh, &header(&ctx.domain, id)).await?;
    write(&mut wh, &format!("<stream:features><mechanisms xmlns='{NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")).await?;
    let principal = loop {
        budget.reset();
        let el = step(deadline, &mut wh, read_stanza(&mut rd, &mut buf)).await?;
        if el.local() != "auth" || el.attr("mechanism") != Some("PLAIN") {
            write(&mut wh, &format!("<failure xmlns='{NS_SASL}'><invalid-mechanism/></failure>")).await?;
            continue;
        }
        match sasl_plain(&el.text, &ctx.verifier) {
            Some(p) => break p,
            None => {
                write(&mut wh, &format!("<failure xmlns='{NS_SASL}'><not-authorized/></failure>")).await?;
                stream_error(&mut wh, "not-authorized").await;
                return Err("authentication failed".into());
            }
        }
    };
    write(&mut wh, &format!("<success xmlns='{NS_SASL}'/>")).await?;
    budget.reset();
    step(deadline, &mut wh, read_header(&mut rd, &mut buf)).await?;
    // Shed meanwhile, it must not become a session: the caller is about to drop it.
    unauth.authenticate().map_err(|e| e.to_string())?;
    write(&mut wh, &header(&ctx.domain, id)).await?;
    write(
        &mut wh,
        &format!("<stream:features><bind xmlns='{NS_BIND}'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"),
    )
    .await?;
    let (in_tx, in_rx) = mpsc::channel::<Result<Element, String>>(READ_AHEAD);
    // Stanzas are read by their own task so the session can wait on both the client and the broker.
    tokio::spawn(async move {
        let mut buf = vec![];
        loop {
            budget.reset();
            let r = read_stanza(&mut rd, &mut buf).await;
            let r = r.map_err(|e| if matches!(e, XmlError::TooBig) { TOO_BIG.to_string() } else { x(e) });
            let stop = r.is_err();
            if in_tx.send(r).await.is_err() {
                // The session ended, maybe with a stream error: read on for a moment, so the kernel
                // does not answer the peer's unread input with a reset that destroys the error.
                let _ = tokio::time::timeout(LINGER, async {
                    budget.reset();
                    while read_stanza(&mut rd, &mut buf).await.is_ok() {
                        budget.reset();
                    }
                })
                .await;
                break;
            }
            if stop {
                break;
            }
        }
    });
    let r = run_session(ctx, principal, in_rx, &mut TcpLink(&mut wh)).await;
    let _ = wh.shutdown().await;
    r
}

/// How long a session's reader keeps reading (and discarding) after the session ended.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// The reader's word for an oversized stanza after authentication (a `policy-violation`).
const TOO_BIG: &str = "stanza too big";

/// Where a session's stanzas go: a TCP stream, or WebSocket messages (RFC 7395).
#[async_trait::async_trait]
pub trait Link: Send {
    /// Sends stanzas in order.
    async fn send(&mut self, stanzas: &[String]) -> Result<(), String>;
    /// Ends the stream (closing tag, or `<close/>`), optionally after a stream error condition.
    async fn end(&mut self, error: Option<&str>);
}

struct TcpLink<'a, W>(&'a mut W);

#[async_trait::async_trait]
impl<W: AsyncWrite + Unpin + Send> Link for TcpLink<'_, W> {
    async fn send(&mut self, stanzas: &[String]) -> Result<(), String> {
        if stanzas.is_empty() {
            return Ok(());
        }
        write(self.0, &stanzas.concat()).await
    }

    async fn end(&mut self, error: Option<&str>) {
        match error {
            Some(cond) => stream_error(self.0, cond).await,
            None => {
                let _ = write(self.0, "</stream:stream>").await;
            }
        }
    }
}

/// The authenticated part of a session, whatever carries it.
pub async fn run_session<L: Link>(
    ctx: Arc<XmppContext>,
    principal: Principal,
    mut in_rx: mpsc::Receiver<Result<Element, String>>,
    link: &mut L,
) -> Result<(), String> {
    let local = match &principal {
        Principal::Client(c) => format!("client-{c}"),
        Principal::Agent(a, _) => format!("agent-{a}"),
        Principal::Service(s) => format!("service-{s}"),
    };
    // The same cap as `/client` and `/agent`, counted together with them.
    let key = principal_key(&principal);
    let Some(_slot) = ctx.sessions.acquire(key.clone()) else {
        link.end(Some("policy-violation")).await;
        return Err("too many connections for this principal".into());
    };
    let (push_tx, mut push_rx) = mpsc::unbounded_channel();
    let (rtx, rrx) = oneshot::channel();
    ctx.to_broker.send(XmppRequest::Open { principal: principal.clone(), out: push_tx, reply: rtx }).map_err(|_| "server stopping")?;
    let (watcher, roster) = rrx.await.map_err(|_| "server stopping")?;
    let mut s = Session { ctx: ctx.clone(), principal, watcher, roster, subscribed: BTreeSet::new(), jid: format!("{local}@{}/frontdesk", ctx.domain), local };
    let r = loop {
        tokio::select! {
            el = in_rx.recv() => match el {
                Some(Ok(el)) => {
                    if !ctx.rates.take(&key, weight(&el)) {
                        link.end(Some("policy-violation")).await;
                        break Err("rate limited".into());
                    }
                    let out = s.handle(el).await;
                    if !matches!(tokio::time::timeout(ctx.stall_timeout, link.send(&out)).await, Ok(Ok(()))) { break Ok(()) }
                }
                Some(Err(e)) if e == XmlError::Closed.to_string() => {
                    link.end(None).await;
                    break Ok(());
                }
                Some(Err(e)) => {
                    link.end(Some(if e == TOO_BIG { "policy-violation" } else { "not-well-formed" })).await;
                    break Err(e);
                }
                None => break Ok(()),
            },
            p = push_rx.recv() => match p {
                Some(p) => {
                    let out = s.push(p);
                    if !matches!(tokio::time::timeout(ctx.stall_timeout, link.send(&out)).await, Ok(Ok(()))) { break Ok(()) }
                }
                None => break Ok(()),
            }
        }
    };
    let _ = ctx.to_broker.send(XmppRequest::Close { watcher: s.watcher, presentities: s.subscribed.iter().cloned().collect() });
    if let Principal::Client(c) = &s.principal {
        let _ = ctx.to_broker.send(XmppRequest::Status { client: c.clone(), status: ClientStatus::default() });
    }
    r
}

/// Checks a SASL PLAIN response: authzid NUL authcid NUL password, where the password is a token
/// whose principal is the authcid.
pub fn sasl_plain(b64: &str, verifier: &JwtVerifier) -> Option<Principal> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let mut parts = raw.split(|b| *b == 0);
    let _authz = parts.next()?;
    let user = std::str::from_utf8(parts.next()?).ok()?;
    let pass = std::str::from_utf8(parts.next()?).ok()?;
    let p = verifier.verify(pass, wall_clock()).ok()?;
    let id = match &p {
        Principal::Client(c) => c.as_str().to_owned(),
        Principal::Agent(a, _) => a.as_str().to_owned(),
        Principal::Service(_) => return None,
    };
    // Accept the bare id or the JID local part (`alice` or `client-alice`).
    let user = user.split('@').next().unwrap_or(user);
    (user == id || user.split_once('-').map(|x| x.1) == Some(id.as_str())).then_some(p)
}

struct Session {
    ctx: Arc<XmppContext>,
    principal: Principal,
    watcher: WatcherId,
    roster: Vec<Presentity>,
    subscribed: BTreeSet<Presentity>,
    jid: String,
    local: String,
}

impl Session {
    fn d(&self) -> &str {
        &self.ctx.domain
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> XmppRequest) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.ctx.to_broker.send(make(tx)).ok()?;
        rx.await.ok()
    }

    fn item(&self, p: &Presentity) -> String {
        let sub = if self.subscribed.contains(p) { "to" } else { "none" };
        let name = match p {
            Presentity::Center => "Contact center".to_string(),
            Presentity::Queue(q) => format!("Queue {q}"),
            Presentity::Agent(a) => format!("Agent {a}"),
            Presentity::Client(c) => format!("Client {c}"),
        };
        let group = match p {
            Presentity::Agent(_) => "Agents",
            Presentity::Client(_) => "Clients",
            _ => "Center",
        };
        format!("<item jid='{}' name='{}' subscription='{sub}'><group>{group}</group></item>", esc(&jid_of(p, self.d())), esc(&name))
    }

    fn roster_push(&self, p: &Presentity) -> String {
        format!("<iq type='set' id='push{}' to='{}'><query xmlns='jabber:iq:roster'>{}</query></iq>", self.watcher, esc(&self.jid), self.item(p))
    }

    fn push(&mut self, p: XmppPush) -> Vec<String> {
        match p {
            XmppPush::Presence(doc) if self.subscribed.contains(&doc.entity) => vec![presence_stanza(&doc, self.d(), &self.jid)],
            XmppPush::Presence(_) => vec![],
            XmppPush::Ended(p) => {
                self.subscribed.remove(&p);
                vec![format!("<presence from='{}' to='{}' type='unsubscribed'/>", esc(&jid_of(&p, self.d())), esc(&self.jid)), self.roster_push(&p)]
            }
        }
    }

    fn iq_result(&self, el: &Element, body: &str) -> String {
        let id = esc(el.attr("id").unwrap_or(""));
        if body.is_empty() {
            format!("<iq type='result' id='{id}' to='{}'/>", esc(&self.jid))
        } else {
            format!("<iq type='result' id='{id}' to='{}'>{body}</iq>", esc(&self.jid))
        }
    }

    fn stanza_error(&self, el: &Element, kind: &str, cond: &str) -> String {
        let id = esc(el.attr("id").unwrap_or(""));
        let name = el.local();
        let from = el.attr("to").map(|t| format!(" from='{}'", esc(t))).unwrap_or_default();
        format!("<{name} type='error' id='{id}'{from} to='{}'><error type='{kind}'><{cond} xmlns='{NS_STANZAS}'/></error></{name}>", esc(&self.jid))
    }

    async fn handle(&mut self, el: Element) -> Vec<String> {
        match el.local() {
            "iq" => vec![self.iq(el).await].into_iter().filter(|s| !s.is_empty()).collect(),
            "presence" => self.presence(el).await,
            "message" => vec![self.stanza_error(&el, "cancel", "feature-not-implemented")],
            _ => vec![],
        }
    }

    async fn iq(&mut self, el: Element) -> String {
        let ty = el.attr("type").unwrap_or("");
        if ty == "result" || ty == "error" {
            return String::new();
        }
        let Some(q) = el.children.first() else { return self.stanza_error(&el, "modify", "bad-request") };
        match (ty, q.local(), q.ns().unwrap_or("")) {
            ("set", "bind", NS_BIND) => {
                let res = q.child("resource").map(|r| r.text.trim().to_string()).filter(|r| !r.is_empty() && r.len() < 256).unwrap_or_else(|| "frontdesk".into());
                self.jid = format!("{}@{}/{}", self.local, self.ctx.domain, res);
                self.iq_result(&el, &format!("<bind xmlns='{NS_BIND}'><jid>{}</jid></bind>", esc(&self.jid)))
            }
            ("set", "session", _) => self.iq_result(&el, ""),
            ("get", "ping", "urn:xmpp:ping") => self.iq_result(&el, ""),
            ("get", "query", "jabber:iq:roster") => {
                let mut items: Vec<Presentity> = self.roster.clone();
                for p in &self.subscribed {
                    if !items.contains(p) {
                        items.push(p.clone());
                    }
                }
                let body: String = items.iter().map(|p| self.item(p)).collect();
                self.iq_result(&el, &format!("<query xmlns='jabber:iq:roster'>{body}</query>"))
            }
            // Adding or removing roster items is accepted; presence subscriptions are what count.
            ("set", "query", "jabber:iq:roster") => self.iq_result(&el, ""),
            ("get", "query", "http://jabber.org/protocol/disco#info") => self.iq_result(
                &el,
                "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im' name='frontdesk'/><feature var='urn:xmpp:ping'/></query>",
            ),
            _ => self.stanza_error(&el, "cancel", "service-unavailable"),
        }
    }

    async fn presence(&mut self, el: Element) -> Vec<String> {
        let ty = el.attr("type").unwrap_or("available");
        let target = el.attr("to").and_then(presentity_of);
        match (ty, target) {
            ("available", None) => {
                if let Principal::Client(c) = &self.principal {
                    let show = el.child("show").map(|s| s.text.trim().to_string());
                    let activity = if matches!(show.as_deref(), Some("away" | "xa" | "dnd")) { ClientActivity::Idle } else { ClientActivity::Online };
                    let note = el.child("status").map(|s| s.text.chars().take(500).collect());
                    let _ = self.ctx.to_broker.send(XmppRequest::Status { client: c.clone(), status: ClientStatus { activity, medium: None, note } });
                }
                let mut out = vec![];
                for p in self.subscribed.clone() {
                    if let Some(Ok(doc)) = self.ask(|reply| XmppRequest::Fetch { principal: self.principal.clone(), presentity: p, reply }).await {
                        out.push(presence_stanza(&doc, self.d(), &self.jid));
                    }
                }
                out
            }
            ("unavailable", None) => {
                if let Principal::Client(c) = &self.principal {
                    let _ = self.ctx.to_broker.send(XmppRequest::Status { client: c.clone(), status: ClientStatus::default() });
                }
                vec![]
            }
            ("subscribe", Some(p)) => {
                let from = esc(&jid_of(&p, self.d())).into_owned();
                let r = self.ask(|reply| XmppRequest::Subscribe { watcher: self.watcher, principal: self.principal.clone(), presentity: p.clone(), reply }).await;
                match r {
                    Some(Ok(doc)) => {
                        self.subscribed.insert(p.clone());
                        vec![
                            self.roster_push(&p),
                            format!("<presence from='{from}' to='{}' type='subscribed'/>", esc(&self.jid)),
                            presence_stanza(&doc, self.d(), &self.jid),
                        ]
                    }
                    _ => vec![format!("<presence from='{from}' to='{}' type='unsubscribed'/>", esc(&self.jid))],
                }
            }
            ("unsubscribe", Some(p)) => {
                let _ = self.ctx.to_broker.send(XmppRequest::Unsubscribe { watcher: self.watcher, presentity: p.clone() });
                self.subscribed.remove(&p);
                vec![self.roster_push(&p), format!("<presence from='{}' to='{}' type='unsubscribed'/>", esc(&jid_of(&p, self.d())), esc(&self.jid))]
            }
            ("probe", Some(p)) => match self.ask(|reply| XmppRequest::Fetch { principal: self.principal.clone(), presentity: p.clone(), reply }).await {
                Some(Ok(doc)) => vec![presence_stanza(&doc, self.d(), &self.jid)],
                _ => vec![],
            },
            // Subscription answers from the client (it lets a contact watch it) need nothing here.
            ("subscribed" | "unsubscribed", _) => vec![],
            (_, None) if el.attr("to").is_some() => vec![self.stanza_error(&el, "cancel", "item-not-found")],
            _ => vec![],
        }
    }
}

/// Maps a broker error for logs.
pub fn describe(e: &ErrorBody) -> &'static str {
    match e.code {
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NotFound => "not found",
        _ => "refused",
    }
}

const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

type WsSink<S> = futures::stream::SplitSink<tokio_tungstenite::WebSocketStream<S>, tokio_tungstenite::tungstenite::Message>;

struct WsLink<S>(WsSink<S>);

/// Each stanza of RFC 7395 is a document of its own: it must carry the content namespace itself.
fn standalone(stanza: &str) -> String {
    let name_end = stanza.find([' ', '>', '/']).unwrap_or(stanza.len());
    let head = &stanza[..name_end];
    if stanza.contains("xmlns=") && stanza[..stanza.find('>').unwrap_or(0)].contains("xmlns=") {
        return stanza.to_string();
    }
    if matches!(head, "<iq" | "<presence" | "<message") {
        format!("{head} xmlns='jabber:client'{}", &stanza[name_end..])
    } else {
        stanza.to_string()
    }
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Link for WsLink<S> {
    async fn send(&mut self, stanzas: &[String]) -> Result<(), String> {
        use futures::SinkExt;
        for st in stanzas {
            self.0.send(tokio_tungstenite::tungstenite::Message::text(standalone(st))).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn end(&mut self, error: Option<&str>) {
        use futures::SinkExt;
        if let Some(cond) = error {
            let e = format!("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
            let _ = self.0.send(tokio_tungstenite::tungstenite::Message::text(e)).await;
        }
        let _ = self.0.send(tokio_tungstenite::tungstenite::Message::text(format!("<close xmlns='{NS_FRAMING}'/>"))).await;
        let _ = self.0.close().await;
    }
}

fn ws_open(domain: &str, id: u64) -> String {
    format!("<open xmlns='{NS_FRAMING}' from='{}' id='fd{id}' version='1.0' xml:lang='en'/>", esc(domain))
}

/// Serves XMPP over an accepted WebSocket (RFC 7395, subprotocol `xmpp`): one stanza per message,
/// `<open/>`/`<close/>` instead of the stream tags; TLS is the WebSocket's (wss) concern.
pub async fn serve_ws<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    ctx: Arc<XmppContext>,
    id: u64,
    unauth: UnauthConn,
) -> Result<(), String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut sink, mut stream) = ws.split();
    async fn next<T: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin>(st: &mut T) -> Result<Element, String> {
        loop {
            match st.next().await {
                None | Some(Err(_)) => return Err(XmlError::Closed.to_string()),
                Some(Ok(Message::Text(t))) => return element::parse_one(t.as_bytes()).await.map_err(x),
                Some(Ok(Message::Close(_))) => return Err(XmlError::Closed.to_string()),
                Some(Ok(_)) => continue,
            }
        }
    }
    let text = |s: String| Message::text(s);
    let deadline = Instant::now() + ctx.auth_timeout;
    async fn by<T: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin>(deadline: Instant, st: &mut T) -> Result<Element, String> {
        tokio::time::timeout_at(deadline, next(st)).await.map_err(|_| "not authenticated in time".to_string())?
    }
    let el = by(deadline, &mut stream).await?;
    if el.local() != "open" || el.ns() != Some(NS_FRAMING) {
        let _ = sink.send(text(format!("<close xmlns='{NS_FRAMING}'/>"))).await;
        return Err("expected <open/>".into());
    }
    sink.send(text(ws_open(&ctx.domain, id))).await.map_err(|e| e.to_string())?;
    sink.send(text(format!(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='{NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    )))
    .await
    .map_err(|e| e.to_string())?;
    let el = by(deadline, &mut stream).await?;
    let principal = match (el.local(), el.attr("mechanism")) {
        ("auth", Some("PLAIN")) => sasl_plain(&el.text, &ctx.verifier),
        _ => None,
    };
    let Some(principal) = principal else {
        let _ = sink.send(text(format!("<failure xmlns='{NS_SASL}'><not-authorized/></failure>"))).await;
        let _ = sink.send(text(format!("<close xmlns='{NS_FRAMING}'/>"))).await;
        return Err("authentication failed".into());
    };
    sink.send(text(format!("<success xmlns='{NS_SASL}'/>"))).await.map_err(|e| e.to_string())?;
    // Shed meanwhile, it must not become a session: the caller is about to drop it.
    unauth.authenticate().map_err(|e| e.to_string())?;
    let el = by(deadline, &mut stream).await?;
    if el.local() != "open" {
        return Err("expected <open/> after authentication".into());
    }
    sink.send(text(ws_open(&ctx.domain, id))).await.map_err(|e| e.to_string())?;
    sink.send(text(format!(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='{NS_BIND}'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
    )))
    .await
    .map_err(|e| e.to_string())?;
    let (in_tx, in_rx) = mpsc::channel::<Result<Element, String>>(READ_AHEAD);
    tokio::spawn(async move {
        loop {
            let r = next(&mut stream).await;
            // `<close/>` ends the stream like `</stream:stream>` does on TCP.
            let r = match r {
                Ok(el) if el.local() == "close" => Err(XmlError::Closed.to_string()),
                r => r,
            };
            let stop = r.is_err();
            if in_tx.send(r).await.is_err() {
                let _ = tokio::time::timeout(LINGER, async { while next(&mut stream).await.is_ok() {} }).await;
                break;
            }
            if stop {
                break;
            }
        }
    });
    run_session(ctx, principal, in_rx, &mut WsLink(sink)).await
}
