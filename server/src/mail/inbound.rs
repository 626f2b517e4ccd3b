//! Mail from the client: an SMTP listener that the centre's mail server relays replies to.
//!
//! Each message is parsed into an [`InboundMail`] and handed to the caller's [`Deliver`] hook;
//! the relay hears `250` only after the hook returned `Ok` — the broker commits first — so a
//! crash between receipt and commit loses nothing: the relay never got its 250 and sends again.
//! A hook may therefore see the same message twice (a 250 lost on the wire, a hook that
//! committed after [`InboundConfig::deliver_timeout`]) and should treat `message_id` as the key.
//!
//! Why a listener and not IMAP polling: the relay already queues and retries, and with SMTP the
//! acknowledgement *is* the protocol's reply, so "acknowledged only after commit" needs no
//! mailbox bookkeeping (IMAP would need flags or deletes kept in step with our store).
//!
//! Why our own receiver rather than a crate: of the SMTP server crates, `mailin-embedded` runs
//! blocking threads with its own accept loop and a synchronous handler (no async hook, no
//! graceful stop), `samotop` is built on async-std and has not been released in years, and
//! `minismtp`, `rs-smtp`/`rust-smtp-server` are single-release or single-author ports whose
//! data hook either cannot choose the reply code or answers before the message is handled.
//! What a relay-facing endpoint needs is small — HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT
//! with SIZE, limits and timeouts — so it is written here, strictly, in `smtp.rs`.
//! TLS is not offered: the listener is meant for the centre's own relay on a trusted network
//! (bind it to loopback or a private address).

use super::outbound::is_token;
use super::smtp::{parse_command, read_line, Command, Data, Line, Reply};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, timeout_at, Instant};

/// Limits and names of the inbound listener.
#[derive(Clone, Debug)]
pub struct InboundConfig {
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// The domain of `reply+<token>@…` addresses (the outbound side's reply domain).
    pub reply_domain: String,
    /// Other domains whose recipients are accepted (e.g. `support@centre.example` for new mail);
    /// recipients elsewhere get 550, since this endpoint delivers and never relays.
    pub local_domains: Vec<String>,
    /// The largest message, advertised as `SIZE` and enforced during DATA (552 above it).
    pub max_message_bytes: usize,
    /// The longest command or text line, end of line included (RFC 5321: 1000).
    pub max_line_bytes: usize,
    /// Recipients per message (452 for more, so the relay sends the rest in another one).
    pub max_recipients: usize,
    /// Attachments per message (552 above it).
    pub max_attachments: usize,
    /// Decoded bytes of all attachments of a message together (552 above it).
    pub max_attachment_bytes: usize,
    /// Connections served at once; others get 421 and come back later.
    pub max_connections: usize,
    /// Protocol errors tolerated on one connection before it is closed with 421.
    pub max_errors: usize,
    /// Silence allowed while waiting for a command or for the next line of a message.
    pub command_timeout: Duration,
    /// The longest one DATA section may take in all, so a trickling sender cannot hold a slot.
    pub data_timeout: Duration,
    /// The longest one connection may last.
    pub session_timeout: Duration,
    /// How long the hook may take before the relay is told to retry (451).
    pub deliver_timeout: Duration,
}

impl InboundConfig {
    /// The defaults, for replies to `reply+<token>@<reply_domain>`.
    pub fn new(reply_domain: impl Into<String>) -> Self {
        InboundConfig { reply_domain: reply_domain.into(), ..InboundConfig::default() }
    }
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            hostname: "localhost".into(),
            reply_domain: "localhost".into(),
            local_domains: Vec::new(),
            max_message_bytes: 10 * 1024 * 1024,
            max_line_bytes: 1000,
            max_recipients: 20,
            max_attachments: 10,
            max_attachment_bytes: 5 * 1024 * 1024,
            max_connections: 64,
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(1800),
            deliver_timeout: Duration::from_secs(60),
        }
    }
}

/// What a message's attachments amount to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachments {
    /// How many (inline images and attached messages included).
    pub count: usize,
    /// Their decoded size together.
    pub bytes: usize,
}

/// One received message, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMail {
    /// The `From` header's address, or the envelope sender when there is none.
    pub from: String,
    /// The `From` header's display name.
    pub from_name: Option<String>,
    /// The envelope sender (`MAIL FROM`); `None` for the null sender `<>` of bounces.
    pub envelope_from: Option<String>,
    /// The accepted envelope recipients.
    pub rcpt: Vec<String>,
    /// The token of the first `reply+<token>@<reply domain>` recipient, lowercased; only a
    /// lookup key — it proves nothing until the broker finds an interaction with it.
    pub token: Option<String>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The first id in `In-Reply-To`, without angle brackets.
    pub in_reply_to: Option<String>,
    /// The ids in `References`, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// The subject (empty when missing).
    pub subject: String,
    /// The reply as a person reads it: quoted lines (`>`) and the "On … wrote:" attribution with
    /// everything below it removed (the whole text when that would leave nothing).
    pub text: String,
    /// The first text body as sent (HTML converted to text when there is no plain part).
    pub full_text: String,
    /// Written by a machine (RFC 3834 `Auto-Submitted` other than `no`, `Precedence:
    /// bulk/auto_reply/list/junk`, `X-Autoreply`/`X-Autorespond`, a null sender, or a delivery
    /// report): never threaded as the client's words and never answered.
    pub auto_submitted: bool,
    /// The attachments' count and size.
    pub attachments: Attachments,
}

/// How a hook refuses: the relay is told to retry or to bounce.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DeliveryError {
    /// Cannot take it now (store unavailable…): 451, the relay retries later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Will never take it: 550 5.7.1 with this reason, the relay bounces it to the sender.
    #[error("refused: {0}")]
    Permanent(String),
    /// No such recipient: 550 5.1.1 with this reason.
    #[error("unknown recipient: {0}")]
    UnknownRecipient(String),
}

impl DeliveryError {
    fn reply(&self) -> Reply {
        match self {
            DeliveryError::Temporary(r) => Reply::new(451, format!("4.3.0 {r}")),
            DeliveryError::Permanent(r) => Reply::new(550, format!("5.7.1 {r}")),
            DeliveryError::UnknownRecipient(r) => Reply::new(550, format!("5.1.1 {r}")),
        }
    }
}

/// Where received mail goes: the broker (or a test) implements it.
#[async_trait::async_trait]
pub trait Deliver: Send + Sync + 'static {
    /// Decides at `RCPT` whether an address at an accepted domain exists; the default takes all.
    async fn check_recipient(&self, _address: &str) -> Result<(), DeliveryError> {
        Ok(())
    }

    /// Commits one message; `Ok` only once it is durable, because the relay then forgets it.
    async fn deliver(&self, mail: InboundMail) -> Result<(), DeliveryError>;
}

struct FnDeliver<F>(F);

#[async_trait::async_trait]
impl<F, Fut> Deliver for FnDeliver<F>
where
    F: Fn(InboundMail) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DeliveryError>> + Send + 'static,
{
    async fn deliver(&self, mail: InboundMail) -> Result<(), DeliveryError> {
        (self.0)(mail).await
    }
}

/// A [`Deliver`] from an async closure that takes every recipient.
pub fn deliver_fn<F, Fut>(f: F) -> Arc<dyn Deliver>
where
    F: Fn(InboundMail) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DeliveryError>> + Send + 'static,
{
    Arc::new(FnDeliver(f))
}

/// The token of a `reply+<token>@<reply_domain>` address (case-insensitive), lowercased.
pub fn reply_token(address: &str, reply_domain: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (tag, token) = local.split_once('+')?;
    (domain.eq_ignore_ascii_case(reply_domain) && tag.eq_ignore_ascii_case("reply") && is_token(token)).then(|| token.to_ascii_lowercase())
}

/// Parses a received message (as stored after DATA) with its envelope; `None` if it is not mail.
pub fn parse_message(raw: &[u8], envelope_from: Option<&str>, rcpt: &[String], reply_domain: &str) -> Option<InboundMail> {
    if raw.is_empty() {
        return None;
    }
    let msg = MessageParser::default().parse(raw)?;
    let first_from = msg.from().and_then(|a| a.first());
    let from = first_from.and_then(|a| a.address()).map(str::to_string).or_else(|| envelope_from.map(str::to_string)).unwrap_or_default();
    let full_text = msg.body_text(0).map(|t| t.replace("\r\n", "\n")).unwrap_or_default();
    let attachments = msg.attachments().fold(Attachments::default(), |a, p| Attachments { count: a.count + 1, bytes: a.bytes + p.len() });
    Some(InboundMail {
        from,
        from_name: first_from.and_then(|a| a.name()).map(str::to_string),
        envelope_from: envelope_from.map(str::to_string),
        rcpt: rcpt.to_vec(),
        token: rcpt.iter().find_map(|r| reply_token(r, reply_domain)),
        message_id: msg.message_id().map(str::to_string),
        in_reply_to: ids(msg.in_reply_to()).into_iter().next(),
        references: ids(msg.references()),
        subject: msg.subject().unwrap_or_default().to_string(),
        text: trim_quoted(&full_text),
        full_text,
        auto_submitted: envelope_from.is_none() || is_automatic(&msg),
        attachments,
    })
}

fn ids(v: &HeaderValue) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn is_automatic(msg: &Message) -> bool {
    let value = |name: &'static str| msg.header_raw(name).map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let auto = value("Auto-Submitted").is_some_and(|v| v != "no");
    let precedence = value("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "auto_reply" | "list" | "junk"));
    let vendor = ["X-Autoreply", "X-Autorespond"].into_iter().any(|h| value(h).is_some_and(|v| v != "no"));
    let report = msg
        .root_part()
        .content_type()
        .is_some_and(|c| c.ctype().eq_ignore_ascii_case("multipart") && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report")));
    auto || precedence || vendor || report
}

/// The client's own words of a reply: drops quoted lines and cuts at the attribution line
/// ("On … wrote:", also wrapped over two lines and in a few languages) or an Outlook
/// "Original Message" separator; a reply written below the quote keeps what is below; the whole
/// text trimmed if all that would leave nothing.
pub fn trim_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts = |l: &str| ["On ", "Am ", "Le ", "El ", "Il ", "Op "].iter().any(|p| l.starts_with(p));
    let ends =
        |l: &str| ["wrote:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "ha scritto:", "schreef:"].iter().any(|s| l.ends_with(s));
    let separator = |l: &str| {
        let lower = l.to_ascii_lowercase();
        (l.starts_with("-----") && (lower.contains("original message") || lower.contains("ursprüngliche nachricht")))
            || (l.len() >= 30 && l.bytes().all(|b| b == b'_'))
    };
    let own =
        |part: &[&str]| part.iter().copied().filter(|l| !l.trim_start().starts_with('>')).collect::<Vec<_>>().join("\n").trim().to_string();
    // (where the quote starts, how many attribution lines; 0 for a separator, below which is the original)
    let found = (0..lines.len()).find_map(|i| {
        let l = lines[i].trim();
        let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
        if separator(l) {
            Some((i, 0))
        } else if starts(l) && ends(l) {
            Some((i, 1))
        } else if starts(l) && !next.starts_with('>') && ends(next) {
            Some((i, 2))
        } else {
            None
        }
    });
    let or_whole = |s: String| if s.is_empty() { text.trim().to_string() } else { s };
    let Some((cut, attribution)) = found else { return or_whole(own(&lines)) };
    let above = own(&lines[..cut]);
    if !above.is_empty() {
        return above;
    }
    if attribution > 0 {
        return or_whole(own(&lines[cut + attribution..]));
    }
    text.trim().to_string()
}

/// A running SMTP listener; dropping it stops it at once, [`SmtpListener::shutdown`] gently.
pub struct SmtpListener {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SmtpListener {
    /// Binds `addr` and serves it.
    pub async fn bind(addr: SocketAddr, cfg: InboundConfig, deliver: Arc<dyn Deliver>) -> io::Result<SmtpListener> {
        SmtpListener::serve(TcpListener::bind(addr).await?, cfg, deliver)
    }

    /// Serves a socket the caller bound (e.g. one inherited or shared with a test).
    pub fn serve(listener: TcpListener, cfg: InboundConfig, deliver: Arc<dyn Deliver>) -> io::Result<SmtpListener> {
        let local_addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::new(cfg), deliver, stop_rx));
        Ok(SmtpListener { local_addr, stop, task: Some(task) })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, tells idle connections 421 and waits for messages in progress, whose
    /// hooks finish (each bounded by the configured timeouts).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SmtpListener {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, cfg: Arc<InboundConfig>, deliver: Arc<dyn Deliver>, stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut sessions = JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stopping) => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let (cfg, deliver, stop) = (cfg.clone(), deliver.clone(), stop.clone());
                            sessions.spawn(async move {
                                if let Err(e) = session(sock, &cfg, deliver, stop).await {
                                    tracing::debug!(%peer, "smtp connection ended: {e}");
                                }
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            sessions.spawn(async move {
                                let mut sock = sock;
                                let busy = Reply::new(421, "4.3.2 Too many connections, try again later").to_bytes();
                                let _ = timeout(Duration::from_secs(5), sock.write_all(&busy)).await;
                            });
                        }
                    }
                }
                // Out of file descriptors and the like: pause instead of spinning.
                Err(e) => {
                    tracing::warn!("smtp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}

/// Resolves once a stop was asked for (or the listener is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here, before any await.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, r: &Reply, limit: Duration) -> io::Result<()> {
    match timeout(limit, async {
        w.write_all(&r.to_bytes()).await?;
        w.flush().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "the peer does not read")),
    }
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Envelope {
    /// `Some(None)` after `MAIL FROM:<>`.
    from: Option<Option<String>>,
    rcpt: Vec<String>,
}

async fn session<S: AsyncRead + AsyncWrite + Send>(
    stream: S,
    cfg: &InboundConfig,
    deliver: Arc<dyn Deliver>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut rd = BufReader::new(rd);
    let wt = cfg.command_timeout;
    let ends = Instant::now() + cfg.session_timeout;
    let mut greeted = false;
    let mut env = Envelope::default();
    let mut errors = 0usize;
    send(&mut wr, &Reply::new(220, format!("{} ESMTP frontdesk", cfg.hostname)), wt).await?;
    loop {
        let deadline = ends.min(Instant::now() + cfg.command_timeout);
        let line = tokio::select! {
            biased;
            _ = stopped(&mut stop) => {
                return send(&mut wr, &Reply::new(421, "4.3.2 Service shutting down, try again later"), wt).await;
            }
            r = timeout_at(deadline, read_line(&mut rd, cfg.max_line_bytes)) => match r {
                Ok(line) => line?,
                Err(_) => return send(&mut wr, &Reply::new(421, "4.4.2 Timeout, closing"), wt).await,
            },
        };
        let cmd = match line {
            Line::Eof => return Ok(()),
            Line::TooLong => Err(Reply::new(500, format!("5.5.2 Line too long (limit {} bytes)", cfg.max_line_bytes))),
            Line::Text { bare_lf: true, .. } => Err(Reply::new(500, "5.5.2 Lines must end with CRLF")),
            Line::Text { bytes, .. } => match std::str::from_utf8(&bytes) {
                Ok(s) => parse_command(s),
                Err(_) => Err(Reply::new(500, "5.5.2 Command is not UTF-8")),
            },
        };
        let reply = match cmd {
            Err(r) => r,
            Ok(Command::Quit) => return send(&mut wr, &Reply::new(221, "2.0.0 Bye"), wt).await,
            Ok(Command::Http) => return send(&mut wr, &Reply::new(421, "4.7.0 This is an SMTP port, closing"), wt).await,
            Ok(Command::Helo(_)) => {
                greeted = true;
                env = Envelope::default();
                Reply::new(250, cfg.hostname.clone())
            }
            Ok(Command::Ehlo(_)) => {
                greeted = true;
                env = Envelope::default();
                let caps = ["8BITMIME", "SMTPUTF8", "PIPELINING", "ENHANCEDSTATUSCODES"].map(String::from);
                Reply::multi(250, [cfg.hostname.clone(), format!("SIZE {}", cfg.max_message_bytes)].into_iter().chain(caps).collect())
            }
            Ok(Command::Mail { from, size }) => {
                if !greeted {
                    Reply::new(503, "5.5.1 Send HELO or EHLO first")
                } else if env.from.is_some() {
                    Reply::new(503, "5.5.1 Sender already given (RSET to start over)")
                } else if size.is_some_and(|s| s > cfg.max_message_bytes as u64) {
                    Reply::new(552, format!("5.3.4 Message too large (limit {} bytes)", cfg.max_message_bytes))
                } else {
                    env.from = Some(from);
                    Reply::new(250, "2.1.0 Sender OK")
                }
            }
            Ok(Command::Rcpt(to)) => recipient(cfg, &*deliver, &mut env, to).await,
            Ok(Command::Rset) => {
                env = Envelope::default();
                Reply::new(250, "2.0.0 Reset")
            }
            Ok(Command::Noop) => Reply::new(250, "2.0.0 OK"),
            Ok(Command::Vrfy) => Reply::new(252, "2.5.0 Cannot verify; send the message"),
            Ok(Command::Help) => Reply::new(214, "2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT"),
            Ok(Command::NotImplemented(v)) => Reply::new(502, format!("5.5.1 {v} not implemented")),
            Ok(Command::Data) => {
                if env.from.is_none() {
                    Reply::new(503, "5.5.1 Need MAIL first")
                } else if env.rcpt.is_empty() {
                    Reply::new(554, "5.5.1 No valid recipients")
                } else {
                    send(&mut wr, &Reply::new(354, "End data with <CR><LF>.<CR><LF>"), wt).await?;
                    let Some(data) = receive(&mut rd, cfg).await? else {
                        return send(&mut wr, &Reply::new(421, "4.4.2 Timeout while receiving the message, closing"), wt).await;
                    };
                    let env = std::mem::take(&mut env);
                    message(cfg, &deliver, env, data).await
                }
            }
        };
        // Protocol errors, not refusals of an address or a message: those are normal traffic.
        if matches!(reply.code, 500..=504 | 553 | 555) {
            errors += 1;
        }
        send(&mut wr, &reply, wt).await?;
        if errors >= cfg.max_errors {
            return send(&mut wr, &Reply::new(421, "4.7.0 Too many errors, closing"), wt).await;
        }
    }
}

async fn recipient(cfg: &InboundConfig, deliver: &dyn Deliver, env: &mut Envelope, to: String) -> Reply {
    if env.from.is_none() {
        return Reply::new(503, "5.5.1 Need MAIL first");
    }
    if env.rcpt.len() >= cfg.max_recipients {
        return Reply::new(452, "4.5.3 Too many recipients");
    }
    let to = if to == "postmaster" { format!("postmaster@{}", cfg.reply_domain) } else { to };
    let domain = to.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let local = domain.eq_ignore_ascii_case(&cfg.reply_domain) || cfg.local_domains.iter().any(|d| d.eq_ignore_ascii_case(domain));
    if !local {
        return Reply::new(550, format!("5.1.1 <{to}>: no such mailbox here (this host does not relay)"));
    }
    match timeout(cfg.deliver_timeout, deliver.check_recipient(&to)).await {
        Ok(Ok(())) => {
            if !env.rcpt.iter().any(|r| r.eq_ignore_ascii_case(&to)) {
                env.rcpt.push(to);
            }
            Reply::new(250, "2.1.5 Recipient OK")
        }
        Ok(Err(e)) => e.reply(),
        Err(_) => Reply::new(451, "4.3.0 Recipient check timed out, try again later"),
    }
}

/// Reads a DATA section; `None` if it took longer than the limits allow.
async fn receive<R: AsyncRead + Unpin>(rd: &mut BufReader<R>, cfg: &InboundConfig) -> io::Result<Option<Data>> {
    let ends = Instant::now() + cfg.data_timeout;
    let mut data = Data::new(cfg.max_message_bytes);
    loop {
        match timeout_at(ends.min(Instant::now() + cfg.command_timeout), read_line(rd, cfg.max_line_bytes)).await {
            Err(_) => return Ok(None),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::Eof)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(line)) => {
                if data.push(line) {
                    return Ok(Some(data));
                }
            }
        }
    }
}

async fn message(cfg: &InboundConfig, deliver: &Arc<dyn Deliver>, env: Envelope, data: Data) -> Reply {
    if data.too_large {
        return Reply::new(552, format!("5.3.4 Message too large ({} bytes, limit {})", data.size, cfg.max_message_bytes));
    }
    if data.bare_lf {
        return Reply::new(554, "5.6.0 Message refused: a line ends in a bare LF (CRLF required)");
    }
    if data.line_too_long {
        return Reply::new(554, format!("5.6.0 Message refused: a line is longer than {} bytes", cfg.max_line_bytes));
    }
    let from = env.from.flatten();
    let Some(mail) = parse_message(&data.bytes, from.as_deref(), &env.rcpt, &cfg.reply_domain) else {
        return Reply::new(554, "5.6.0 Message refused: not a parsable message");
    };
    if mail.attachments.count > cfg.max_attachments {
        return Reply::new(552, format!("5.3.4 Too many attachments ({}, limit {})", mail.attachments.count, cfg.max_attachments));
    }
    if mail.attachments.bytes > cfg.max_attachment_bytes {
        return Reply::new(
            552,
            format!("5.3.4 Attachments too large ({} bytes, limit {})", mail.attachments.bytes, cfg.max_attachment_bytes),
        );
    }
    // A task of its own, so a panicking hook becomes a 451 (the relay retries) rather than a
    // dropped connection, and a slow one is bounded.
    let d = deliver.clone();
    let hook = tokio::spawn(async move { d.deliver(mail).await });
    match timeout(cfg.deliver_timeout, hook).await {
        Ok(Ok(Ok(()))) => Reply::new(250, "2.0.0 Delivered"),
        Ok(Ok(Err(e))) => e.reply(),
        Ok(Err(_)) => Reply::new(451, "4.3.0 Internal error, try again later"),
        Err(_) => Reply::new(451, "4.3.0 Delivery timed out, try again later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_and_the_attribution_are_trimmed() {
        let t = "Thanks, that works.\n\nAlice\n\nOn Tue, 3 Dec 2024 at 10:00, Support <support@centre.example> wrote:\n> Try turning it off.\n> And on again.\n";
        assert_eq!(trim_quoted(t), "Thanks, that works.\n\nAlice");
        let wrapped = "Yes please.\nOn Tue, 3 Dec 2024 at 10:00, A Very Long Name Indeed <\nsupport@centre.example> wrote:\n> quoted";
        assert_eq!(trim_quoted(wrapped), "Yes please.");
        let inline = "> Which model?\nThe X200.\n> And the colour?\nRed.";
        assert_eq!(trim_quoted(inline), "The X200.\nRed.");
        let outlook = "Fine by me.\n\n-----Original Message-----\nFrom: Support\nSent: Monday";
        assert_eq!(trim_quoted(outlook), "Fine by me.");
        assert_eq!(trim_quoted("> only quoted\n"), "> only quoted");
        let below = "On Mon, 2 Dec 2024, Support wrote:\n> Shall we ship it?\n\nYes, ship it.\n";
        assert_eq!(trim_quoted(below), "Yes, ship it.");
    }

    #[test]
    fn tokens_come_only_from_reply_addresses_at_the_reply_domain() {
        assert_eq!(reply_token("Reply+ABC123@Reply.Example", "reply.example"), Some("abc123".into()));
        assert_eq!(reply_token("reply+abc@other.example", "reply.example"), None);
        assert_eq!(reply_token("support@reply.example", "reply.example"), None);
        assert_eq!(reply_token("reply+a.b@reply.example", "reply.example"), None);
        assert_eq!(reply_token("reply+@reply.example", "reply.example"), None);
    }

    #[test]
    fn a_message_is_parsed_with_its_thread_and_automatic_mail_is_flagged() {
        let raw = b"From: Alice <alice@client.example>\r\nTo: reply+tok1@r.example\r\nSubject: Re: Order\r\nMessage-ID: <m2@client.example>\r\nIn-Reply-To: <m1@centre.example>\r\nReferences: <m0@centre.example>\r\n <m1@centre.example>\r\n\r\nYes.\r\n\r\nOn Mon, Support wrote:\r\n> Shall we?\r\n";
        let rcpt = vec!["reply+TOK1@r.example".to_string()];
        let m = parse_message(raw, Some("alice@client.example"), &rcpt, "r.example").unwrap();
        assert_eq!((m.from.as_str(), m.from_name.as_deref()), ("alice@client.example", Some("Alice")));
        assert_eq!(m.token.as_deref(), Some("tok1"));
        assert_eq!(m.message_id.as_deref(), Some("m2@client.example"));
        assert_eq!(m.in_reply_to.as_deref(), Some("m1@centre.example"));
        assert_eq!(m.references, vec!["m0@centre.example", "m1@centre.example"]);
        assert_eq!((m.subject.as_str(), m.text.as_str()), ("Re: Order", "Yes."));
        assert!(m.full_text.contains("> Shall we?") && !m.auto_submitted);
        for header in ["Auto-Submitted: auto-replied", "Precedence: bulk", "Precedence: auto_reply", "X-Autoreply: yes"] {
            let raw = format!("From: a@b.example\r\n{header}\r\nSubject: Out of office\r\n\r\nAway.\r\n");
            assert!(parse_message(raw.as_bytes(), Some("a@b.example"), &rcpt, "r.example").unwrap().auto_submitted, "{header}");
        }
        let human = b"From: a@b.example\r\nAuto-Submitted: no\r\n\r\nHi\r\n";
        assert!(!parse_message(human, Some("a@b.example"), &rcpt, "r.example").unwrap().auto_submitted);
        assert!(parse_message(human, None, &rcpt, "r.example").unwrap().auto_submitted, "a bounce (null sender) is automatic");
    }
}
