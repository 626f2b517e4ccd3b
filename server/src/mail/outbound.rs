//! Mail to the client: an agent's reply goes to the centre's relay over SMTP, threaded with
//! `Message-ID` / `In-Reply-To` / `References`, and with a `Reply-To` that carries the
//! interaction's unguessable token so the client's answer finds its way back (see
//! [`super::inbound`]).
//!
//! Failures come back typed and classified: the caller (the broker's outbox) retries a
//! [`SendError::is_temporary`] one later and gives up on a [`SendError::is_permanent`] one, so
//! nothing here retries or queues by itself.

use lettre::message::header::{ContentType, HeaderName, HeaderValue, InReplyTo, MessageId, References};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or a trusted private network.
    None,
    /// Plain connection upgraded with `STARTTLS`, which is required: a relay that does not offer
    /// it fails the send rather than silently downgrading (the usual submission port, 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", the usual submission port 465).
    Tls,
}

impl TlsMode {
    /// The port a relay usually listens on for this mode (25, 587, 465).
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
        }
    }
}

/// A login on the relay (SMTP AUTH PLAIN/LOGIN, offered only over TLS by sane relays).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    // Keeps the password out of logs that print the configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"…").finish()
    }
}

/// Where and how the server sends mail.
#[derive(Clone, Debug)]
pub struct MailerConfig {
    /// The centre's relay (host name or IP address; also the name its TLS certificate must carry).
    pub relay_host: String,
    /// Its port.
    pub relay_port: u16,
    /// How the connection is protected.
    pub tls: TlsMode,
    /// A login on the relay, if it wants one.
    pub credentials: Option<Credentials>,
    /// The `From` of every message, e.g. `Support <support@centre.example>` (also the envelope
    /// sender, so bounces go there).
    pub from: String,
    /// The domain of the `reply+<token>@…` addresses: the one the centre's mail server relays to
    /// [`super::inbound`].
    pub reply_domain: String,
    /// Extra trusted roots in PEM (a centre's private CA); the system's roots are always trusted.
    pub tls_root_certs: Vec<Vec<u8>>,
    /// The name given in `EHLO`; the machine's host name when `None`.
    pub hello_name: Option<String>,
    /// How long one SMTP exchange with the relay may take before the send is a temporary failure.
    pub timeout: Duration,
}

impl MailerConfig {
    /// A configuration with the mode's usual port, no login, no extra roots and a 30 s timeout.
    pub fn new(relay_host: impl Into<String>, tls: TlsMode, from: impl Into<String>, reply_domain: impl Into<String>) -> Self {
        MailerConfig {
            relay_host: relay_host.into(),
            relay_port: tls.default_port(),
            tls,
            credentials: None,
            from: from.into(),
            reply_domain: reply_domain.into(),
            tls_root_certs: Vec::new(),
            hello_name: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// One message to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The client's address, `addr@domain` or `Name <addr@domain>`.
    pub to: String,
    /// The subject (line breaks are replaced by spaces).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// This message's id without angle brackets (see [`new_message_id`]); the caller keeps it to
    /// thread the client's reply, which names it in `In-Reply-To`.
    pub message_id: String,
    /// The id (without brackets) of the message this answers, if any.
    pub in_reply_to: Option<String>,
    /// The thread's earlier ids (without brackets), oldest first.
    pub references: Vec<String>,
    /// The interaction's token (see [`new_reply_token`]); the reply address is
    /// `reply+<token>@<reply domain>`.
    pub reply_token: String,
}

/// Why a [`Mailer`] could not be built: a configuration mistake to fix before start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The `from` address does not parse.
    #[error("mail from address {0:?}: {1}")]
    From(String, String),
    /// The reply domain is not a plain domain name.
    #[error("mail reply domain {0:?} is not a domain name")]
    ReplyDomain(String),
    /// The TLS parameters (an extra root, the relay's name) are unusable.
    #[error("mail relay TLS: {0}")]
    Tls(String),
    /// Called outside a Tokio runtime, which the connection pool lives on.
    #[error("a Mailer must be created inside a Tokio runtime")]
    NoRuntime,
}

/// Why a message did not go: permanent (do not retry the same message) or temporary (retry later).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The recipient address is unusable (permanent).
    #[error("bad recipient address {address:?}: {reason}")]
    BadAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something in the message is unusable: an id or a token with characters a header cannot
    /// carry (permanent: the same message will fail the same way).
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The relay answered 5xx (permanent): an address it refuses, a message it will not take, or
    /// a login it refuses — retrying the same thing will not help until someone changes something.
    #[error("relay refused permanently ({code}): {message}")]
    Rejected {
        /// The SMTP reply code (5xx).
        code: u16,
        /// The relay's text.
        message: String,
    },
    /// The relay answered 4xx (temporary): retry later.
    #[error("relay deferred ({code}): {message}")]
    Deferred {
        /// The SMTP reply code (4xx).
        code: u16,
        /// The relay's text.
        message: String,
    },
    /// The relay could not be reached or the conversation broke (refused, timed out, TLS failed,
    /// connection dropped): temporary, retry later.
    #[error("relay unreachable: {0}")]
    Connection(String),
}

impl SendError {
    /// Retrying the same message will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::BadAddress { .. } | SendError::Invalid(_) | SendError::Rejected { .. })
    }

    /// The message may go later: keep it and retry.
    pub fn is_temporary(&self) -> bool {
        !self.is_permanent()
    }

    fn from_smtp(e: lettre::transport::smtp::Error) -> SendError {
        use std::error::Error as _;
        let message = e.source().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
        match e.status().map(u16::from) {
            Some(code) if e.is_permanent() => SendError::Rejected { code, message },
            Some(code) if e.is_transient() => SendError::Deferred { code, message },
            _ => SendError::Connection(e.to_string()),
        }
    }
}

/// Sends [`OutgoingMail`] through the centre's relay; cheap to share (`Clone` shares the
/// connection pool).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_domain: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("reply_domain", &self.reply_domain).finish()
    }
}

impl Mailer {
    /// Checks the configuration and prepares the transport (inside a Tokio runtime); connects
    /// only when sending.
    pub fn new(cfg: MailerConfig) -> Result<Mailer, ConfigError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime);
        }
        let from: Mailbox =
            cfg.from.parse().map_err(|e: lettre::address::AddressError| ConfigError::From(cfg.from.clone(), e.to_string()))?;
        if !is_domain(&cfg.reply_domain) {
            return Err(ConfigError::ReplyDomain(cfg.reply_domain));
        }
        let tls = match cfg.tls {
            TlsMode::None => Tls::None,
            mode => {
                let mut params = TlsParameters::builder(cfg.relay_host.clone());
                for pem in &cfg.tls_root_certs {
                    // lettre takes a PEM without any certificate in it as an empty list.
                    use rustls_pki_types::pem::PemObject;
                    let found = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| ConfigError::Tls(format!("root certificate: {e}")))?;
                    if found.is_empty() {
                        return Err(ConfigError::Tls("root certificate: no PEM certificate found".into()));
                    }
                    params = params
                        .add_root_certificate(Certificate::from_pem(pem).map_err(|e| ConfigError::Tls(format!("root certificate: {e}")))?);
                }
                let params = params.build_rustls().map_err(|e| ConfigError::Tls(e.to_string()))?;
                if mode == TlsMode::StartTls {
                    Tls::Required(params)
                } else {
                    Tls::Wrapper(params)
                }
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.relay_host.clone())
            .port(cfg.relay_port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let Some(c) = cfg.credentials {
            b = b.credentials(SmtpCredentials::new(c.username, c.password));
        }
        if let Some(name) = cfg.hello_name {
            b = b.hello_name(ClientId::Domain(name));
        }
        Ok(Mailer { transport: b.build(), from, reply_domain: cfg.reply_domain.to_ascii_lowercase() })
    }

    /// The address a client's reply to this token goes to: `reply+<token>@<reply domain>`.
    pub fn reply_address(&self, token: &str) -> String {
        format!("reply+{token}@{}", self.reply_domain)
    }

    /// The message as it will be sent (headers and encoded body), without sending it.
    pub fn render(&self, mail: &OutgoingMail) -> Result<Vec<u8>, SendError> {
        Ok(self.build(mail)?.formatted())
    }

    /// Sends one message; `Ok` means the relay accepted it (250 after the data).
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let msg = self.build(mail)?;
        self.transport.send(msg).await.map(|_| ()).map_err(SendError::from_smtp)
    }

    /// Connects, greets and logs in without sending: a start-up check of the configuration.
    pub async fn check_relay(&self) -> Result<(), SendError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::Connection("the relay did not answer NOOP".into())),
            Err(e) => Err(SendError::from_smtp(e)),
        }
    }

    fn build(&self, mail: &OutgoingMail) -> Result<Message, SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| SendError::BadAddress { address: mail.to.clone(), reason: e.to_string() })?;
        if !is_token(&mail.reply_token) {
            return Err(SendError::Invalid(format!("reply token {:?}: 1–64 ASCII letters and digits", mail.reply_token)));
        }
        let reply_to: Mailbox = self
            .reply_address(&mail.reply_token)
            .parse()
            .map_err(|e: lettre::address::AddressError| SendError::Invalid(format!("reply address: {e}")))?;
        let id = |what: &str, v: &str| -> Result<String, SendError> {
            let bare = v.trim().trim_start_matches('<').trim_end_matches('>');
            if is_message_id(bare) {
                Ok(format!("<{bare}>"))
            } else {
                Err(SendError::Invalid(format!("{what} {v:?} is not a message id (left@right, no spaces or brackets)")))
            }
        };
        // One line: a subject with a line break would otherwise end the header early.
        let subject: String = mail.subject.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .reply_to(reply_to)
            .subject(subject)
            .header(MessageId::from(id("message_id", &mail.message_id)?))
            .header(ContentType::TEXT_PLAIN);
        if let Some(parent) = &mail.in_reply_to {
            b = b.header(InReplyTo::from(id("in_reply_to", parent)?));
        }
        if !mail.references.is_empty() {
            let refs = mail.references.iter().map(|r| id("references", r)).collect::<Result<Vec<_>, _>>()?;
            b = b.header(References::from(refs.join(" ")));
        }
        // Asks Exchange and Outlook not to answer with out-of-office notes: they would be dropped
        // on arrival anyway (see `InboundMail::auto_submitted`).
        b = b.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "OOF, AutoReply".into()));
        b.body(mail.text.clone()).map_err(|e| SendError::Invalid(e.to_string()))
    }
}

/// A fresh reply token: 128 bits from the operating system's random source, as 32 lowercase hex
/// digits (lowercase because some mail servers fold the local part's case).
///
/// Panics only if the operating system has no random source, where no secret could be made.
pub fn new_reply_token() -> String {
    hex(&random_128())
}

/// A fresh, globally unique message id `<random>@<domain>`, returned without angle brackets.
pub fn new_message_id(domain: &str) -> String {
    format!("fd.{}@{}", hex(&random_128()), domain.to_ascii_lowercase())
}

fn random_128() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source is unavailable");
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Letters and digits only: the token travels in an address's local part and in URLs.
pub(crate) fn is_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

// RFC 5322 msg-id without the brackets, kept to printable ASCII so it survives every relay.
fn is_message_id(s: &str) -> bool {
    let Some((l, r)) = s.split_once('@') else { return false };
    !l.is_empty()
        && !r.is_empty()
        && s.len() <= 250
        && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b'(' | b')' | b',' | b';' | b'[' | b']'))
        && !r.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> Mailer {
        Mailer::new(MailerConfig::new("127.0.0.1", TlsMode::None, "Support <support@centre.example>", "Reply.Centre.Example")).unwrap()
    }

    fn mail() -> OutgoingMail {
        OutgoingMail {
            to: "Alice <alice@client.example>".into(),
            subject: "Your order\r\nBcc: evil@example.com".into(),
            text: "Hello Alice,\n.\nA line with a dot.".into(),
            message_id: new_message_id("centre.example"),
            in_reply_to: Some("<abc@client.example>".into()),
            references: vec!["root@centre.example".into(), "abc@client.example".into()],
            reply_token: new_reply_token(),
        }
    }

    #[test]
    fn tokens_and_ids_are_fresh_and_well_formed() {
        let (a, b) = (new_reply_token(), new_reply_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(is_token(&a) && a.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        let id = new_message_id("Centre.Example");
        assert!(is_message_id(&id) && id.ends_with("@centre.example"), "{id}");
    }

    #[tokio::test]
    async fn the_rendered_message_carries_the_threading_headers_and_the_reply_address() {
        let m = mail();
        let raw = String::from_utf8(mailer().render(&m).unwrap()).unwrap();
        assert!(raw.contains(&format!("Message-ID: <{}>\r\n", m.message_id)), "{raw}");
        assert!(raw.contains("In-Reply-To: <abc@client.example>\r\n"), "{raw}");
        assert!(raw.contains("References: <root@centre.example> <abc@client.example>\r\n"), "{raw}");
        assert!(raw.contains(&format!("Reply-To: reply+{}@reply.centre.example\r\n", m.reply_token)), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "a line break in the subject must not start a header: {raw}");
    }

    #[tokio::test]
    async fn bad_input_is_a_permanent_typed_error() {
        let mut m = mail();
        m.to = "not an address".into();
        assert!(matches!(mailer().render(&m), Err(SendError::BadAddress { .. })));
        let mut m = mail();
        m.reply_token = "a+b@evil".into();
        let e = mailer().render(&m).unwrap_err();
        assert!(matches!(e, SendError::Invalid(_)) && e.is_permanent(), "{e}");
        let mut m = mail();
        m.message_id = "no id\r\nX: y".into();
        assert!(matches!(mailer().render(&m), Err(SendError::Invalid(_))));
        assert!(SendError::Connection("refused".into()).is_temporary());
        assert!(SendError::Deferred { code: 451, message: String::new() }.is_temporary());
        assert!(SendError::Rejected { code: 550, message: String::new() }.is_permanent());
    }

    #[test]
    fn configuration_mistakes_are_reported_before_start_up() {
        let ok = || MailerConfig::new("relay", TlsMode::None, "a@b.example", "reply.example");
        assert_eq!(Mailer::new(ok()).unwrap_err(), ConfigError::NoRuntime);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _in_runtime = rt.enter();
        assert!(Mailer::new(ok()).is_ok());
        let e = Mailer::new(MailerConfig::new("relay", TlsMode::None, "nobody", "reply.example")).unwrap_err();
        assert!(matches!(e, ConfigError::From(..)), "{e}");
        let e = Mailer::new(MailerConfig::new("relay", TlsMode::None, "a@b.example", "bad domain")).unwrap_err();
        assert!(matches!(e, ConfigError::ReplyDomain(_)), "{e}");
        let mut cfg = MailerConfig::new("relay", TlsMode::StartTls, "a@b.example", "reply.example");
        cfg.tls_root_certs = vec![b"not a certificate".to_vec()];
        assert!(matches!(Mailer::new(cfg), Err(ConfigError::Tls(_))));
    }
}
