//! `frontdesk-server`: runs the broker and status monitor over WebSocket, or issues tokens.

use clap::{Parser, Subcommand};
use frontdesk_core::monitor::hours::BusinessHours;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::QueueId;
use frontdesk_server::mail::{Credentials, InboundConfig, MailerConfig, TlsMode};
use frontdesk_server::mailroom::{InboundSettings, MailSettings};
use frontdesk_net::wall_clock;
use frontdesk_server::{start, tokens, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

/// mimalloc, counting live heap bytes when `--count-heap` is given (served at `/metrics`).
#[global_allocator]
static HEAP: frontdesk_server::heap::Counting = frontdesk_server::heap::Counting;

#[derive(Parser)]
#[command(name = "frontdesk-server", about = "The frontdesk broker server (WebSocket: /client and /agent)")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Address to listen on.
    #[arg(long, env = "FRONTDESK_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// SQLite database file.
    #[arg(long, env = "FRONTDESK_DB", default_value = "frontdesk.db")]
    db: PathBuf,
    /// Keep everything in memory (lost on restart).
    #[arg(long)]
    memory: bool,
    /// Count live heap bytes and serve them at `GET /metrics` (for benchmarks: one shared atomic
    /// add per allocation).
    #[arg(long)]
    count_heap: bool,
    /// Secret that signs tokens.
    #[arg(long, env = "FRONTDESK_SECRET", default_value = "frontdesk-dev-secret-change-me")]
    secret: String,
    /// No bot agents.
    #[arg(long)]
    no_sim: bool,
    /// No sample data in a fresh database.
    #[arg(long)]
    no_sample_data: bool,
    /// Messages per second one principal may send (over all its connections).
    #[arg(long, default_value_t = 50)]
    max_msgs_per_sec: u32,
    /// Messages one principal may send at once (an offline queue's flush).
    #[arg(long, default_value_t = 400)]
    rate_burst: u32,
    /// Connections one principal may hold (WebSocket and XMPP together).
    #[arg(long, default_value_t = 8)]
    max_sessions_per_token: usize,
    /// Connections one address may hold before they authenticate.
    #[arg(long, default_value_t = 64)]
    max_unauth_per_addr: usize,
    /// Seconds a WebSocket may take to send `hello`.
    #[arg(long, default_value_t = 10)]
    hello_timeout_secs: u64,
    /// Seconds of silence after `hello` before a connection is closed (clients ping every 20 s).
    #[arg(long, default_value_t = 90)]
    idle_timeout_secs: u64,
    /// Seconds a peer that reads nothing is kept before it is dropped.
    #[arg(long, default_value_t = 30)]
    stall_timeout_secs: u64,
    /// Bytes queued for one socket above which its session's events are held (on a cluster
    /// gateway: the leader is told to hold them).
    #[arg(long, default_value_t = 1 << 20)]
    out_high_water: usize,
    /// Bytes queued below which a held socket's events flow again.
    #[arg(long, default_value_t = 256 << 10)]
    out_low_water: usize,
    /// An origin allowed to open /client, /agent and /xmpp (repeatable; none given allows all).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// XMPP endpoint address (TCP with STARTTLS); `off` disables it.
    #[arg(long, env = "FRONTDESK_XMPP_ADDR", default_value = "127.0.0.1:5222")]
    xmpp_addr: String,
    /// XMPP service domain.
    #[arg(long, default_value = "frontdesk.local")]
    xmpp_domain: String,
    /// PEM certificate chain: serve `wss://` and `https://` on the main port (with --tls-key).
    #[arg(long, env = "FRONTDESK_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "FRONTDESK_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds an agent's seat outlives its last console connection before its interactions go back
    /// to their queues.
    #[arg(long, env = "FRONTDESK_AGENT_GRACE_SECS", default_value_t = 60)]
    agent_grace_secs: u64,
    /// The centre's mail relay for agents' email replies, HOST[:PORT] (the port defaults by --smtp-tls);
    /// without it owed mail stays owed.
    #[arg(long, env = "FRONTDESK_SMTP_RELAY", requires_all = ["mail_from", "mail_domain"])]
    smtp_relay: Option<String>,
    /// How the connection to the relay is protected (starttls is required once chosen, never skipped).
    #[arg(long, env = "FRONTDESK_SMTP_TLS", value_enum, default_value = "starttls")]
    smtp_tls: SmtpTls,
    /// Login on the relay.
    #[arg(long, env = "FRONTDESK_SMTP_USER", requires = "smtp_password")]
    smtp_user: Option<String>,
    /// Password of --smtp-user (better given in the environment than on the command line).
    #[arg(long, env = "FRONTDESK_SMTP_PASSWORD", hide_env_values = true, requires = "smtp_user")]
    smtp_password: Option<String>,
    /// The From of mail to clients, e.g. 'Support <support@centre.example>'.
    #[arg(long, env = "FRONTDESK_MAIL_FROM")]
    mail_from: Option<String>,
    /// The reply domain: clients answer reply+<token>@ this domain, which the centre's mail server relays to --smtp-listen.
    #[arg(long, env = "FRONTDESK_MAIL_DOMAIN")]
    mail_domain: Option<String>,
    /// Where to take clients' replies by SMTP from the centre's mail server (no TLS: loopback or a private network); off by default.
    #[arg(long, env = "FRONTDESK_SMTP_LISTEN", requires = "mail_domain")]
    smtp_listen: Option<SocketAddr>,
    /// Seconds before the first retry of a mail the relay did not take (doubling per attempt).
    #[arg(long, default_value_t = 30)]
    mail_retry_secs: u64,
    /// Business hours of a queue, 'support=Mon-Fri 09:00-17:00, Sat 10:00-12:00 +01:00' (repeatable);
    /// outside them live media are not offered and email is.
    #[arg(long = "queue-hours", value_parser = parse_queue_hours)]
    queue_hours: Vec<(QueueId, BusinessHours)>,
    /// A STUN server for calls, `stun:host:port` (repeatable).
    #[arg(long = "stun")]
    stun: Vec<String>,
    /// A TURN server for calls, `turn:host:port?transport=udp` (repeatable); needs --turn-secret.
    #[arg(long = "turn", requires = "turn_secret")]
    turn: Vec<String>,
    /// The TURN server's shared secret (coturn `static-auth-secret`); credentials are minted per call.
    #[arg(long, env = "FRONTDESK_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// How long a minted TURN credential lasts.
    #[arg(long, default_value_t = 3600)]
    turn_ttl_secs: u64,
    /// A website's public key: its pages get visitor tokens from POST /visitor (repeatable).
    #[arg(long = "site-key", env = "FRONTDESK_SITE_KEYS", value_delimiter = ',')]
    site_keys: Vec<String>,
    /// The secret sites' backends sign user ids with (HMAC-SHA256), for verified visitors.
    #[arg(long, env = "FRONTDESK_IDENTITY_SECRET", hide_env_values = true)]
    identity_secret: Option<String>,
    /// How long a visitor token lasts.
    #[arg(long, default_value_t = 86_400)]
    visitor_ttl_secs: u64,
    /// Visitor tokens one address may get per minute.
    #[arg(long, default_value_t = 20)]
    visitors_per_min: u32,
    /// The SIP trunk for callbacks, e.g. `sip:trunk.example.net:5060` (the client's number becomes
    /// its user part); turns the SIP dialer on. Agents set their phones (SIP URIs) in the console.
    #[arg(long, env = "FRONTDESK_SIP_TRUNK")]
    sip_trunk: Option<String>,
    /// The UDP address the dialer listens on and advertises (a reachable one, not 0.0.0.0).
    #[arg(long, env = "FRONTDESK_SIP_LISTEN", default_value = "127.0.0.1:5060")]
    sip_listen: SocketAddr,
    /// Digest user on the trunk.
    #[arg(long, env = "FRONTDESK_SIP_USER", requires = "sip_password")]
    sip_user: Option<String>,
    /// Digest password on the trunk (better given in the environment).
    #[arg(long, env = "FRONTDESK_SIP_PASSWORD", hide_env_values = true, requires = "sip_user")]
    sip_password: Option<String>,
    /// The calling number clients see.
    #[arg(long, env = "FRONTDESK_SIP_CALLER_ID")]
    sip_caller_id: Option<String>,
    /// Seconds a phone may ring before the leg counts as not answered.
    #[arg(long, default_value_t = 30)]
    sip_ring_secs: u64,
    /// Attempts on a client's line (busy, no answer) before a callback is given up.
    #[arg(long, default_value_t = 3)]
    callback_attempts: u32,
    /// Seconds between callback attempts; the client keeps its place in the queue meanwhile.
    #[arg(long, default_value_t = 120)]
    callback_retry_secs: u64,
    /// Largest file a party may send in a conversation, in bytes (0 turns attachments off).
    #[arg(long, default_value_t = 10 << 20)]
    attachment_max_bytes: usize,
    /// Media types parties may send (HTML, SVG and scripts are refused whatever this says).
    #[arg(long = "attachment-type", value_delimiter = ',', default_values_t = frontdesk_core::attachment::AttachmentPolicy::default().types)]
    attachment_types: Vec<String>,
    /// A command run (`sh -c`) for each uploaded file, the file on stdin, its name and type in
    /// FRONTDESK_ATTACHMENT_NAME and _TYPE; exit status 0 lets it through (e.g. `clamdscan --no-summary -`).
    #[arg(long, env = "FRONTDESK_ATTACHMENT_SCAN")]
    attachment_scan: Option<String>,
    /// The agent desktop's canned answers: a JSON file holding an array of strings.
    #[arg(long, value_name = "FILE")]
    canned: Option<PathBuf>,
    /// Run as one node of a cluster on this PostgreSQL (libpq URL) instead of the SQLite --db; needs --nats.
    #[arg(long, env = "FRONTDESK_POSTGRES", requires = "nats", hide_env_values = true)]
    postgres: Option<String>,
    /// Where pushes for backgrounded apps go when no direct sender serves their platform: the app
    /// vendor's relay (http:// or https://), which forwards them; each push is POSTed as JSON, with retries.
    #[arg(long, env = "FRONTDESK_PUSH_WEBHOOK", value_name = "URL")]
    push_webhook: Option<String>,
    /// The app's Firebase service account key (JSON): FCM tokens are pushed through FCM HTTP v1 directly.
    #[arg(long, value_name = "FILE")]
    push_fcm_service_account: Option<PathBuf>,
    /// FCM's base URL instead of https://fcm.googleapis.com (a test or a proxy).
    #[arg(long, value_name = "URL")]
    push_fcm_endpoint: Option<String>,
    /// The app's APNs auth key (.p8): APNs tokens are pushed through APNs directly; needs the key id, team id and topic.
    #[arg(long, value_name = "FILE", requires_all = ["push_apns_key_id", "push_apns_team_id", "push_apns_topic"])]
    push_apns_key: Option<PathBuf>,
    /// The APNs key's id (10 characters, from the developer account).
    #[arg(long)]
    push_apns_key_id: Option<String>,
    /// The Apple developer team id.
    #[arg(long)]
    push_apns_team_id: Option<String>,
    /// The app's bundle id (apns-topic).
    #[arg(long)]
    push_apns_topic: Option<String>,
    /// APNs' base URL instead of https://api.push.apple.com (https://api.sandbox.push.apple.com for development builds).
    #[arg(long, value_name = "URL")]
    push_apns_endpoint: Option<String>,
    /// A PEM CA certificate to trust for push services and the relay, besides the system's.
    #[arg(long, value_name = "FILE")]
    push_ca: Option<PathBuf>,
    /// Let pushes carry titles and message text (off: a generic text and ids only, so the text
    /// never passes through Google's or Apple's servers).
    #[arg(long)]
    push_include_text: bool,
    /// The NATS server the cluster's nodes talk through, e.g. nats://127.0.0.1:4222; needs --postgres.
    #[arg(long, env = "FRONTDESK_NATS", requires = "postgres")]
    nats: Option<String>,
    /// A TOML file of these flags (`postgres = "…"`, `no-sim = true`, `stun = ["…"]`), read before the
    /// command line, which wins.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// This node's name in the cluster (unique; the host name if not given).
    #[arg(long, env = "FRONTDESK_NODE")]
    node: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SmtpTls {
    /// Plain text (a relay on this host or a trusted network); port 25.
    None,
    /// STARTTLS, required; port 587.
    Starttls,
    /// TLS from the first byte; port 465.
    Tls,
}

/// Reads canned answers and checks them now: a typo should stop the server, not empty the desk's list.
fn read_canned(p: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let list: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| format!("{}: a JSON array of strings: {e}", p.display()))?;
    Ok(serde_json::to_vec(&list).expect("strings serialize"))
}

fn parse_queue_hours(s: &str) -> Result<(QueueId, BusinessHours), String> {
    let (q, h) = s.split_once('=').ok_or("QUEUE=HOURS, e.g. support=Mon-Fri 09:00-17:00 +01:00")?;
    let q = q.trim();
    if q.is_empty() {
        return Err("the queue before '=' is empty".into());
    }
    Ok((q.into(), BusinessHours::parse(h)?))
}

/// HOST[:PORT]; a bare IPv6 address needs brackets to carry a port.
fn relay_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok((a.ip().to_string(), a.port()));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
            let port = p.parse().map_err(|_| format!("--smtp-relay {s:?}: {p:?} is not a port"))?;
            Ok((h.trim_start_matches('[').trim_end_matches(']').to_string(), port))
        }
        _ if s.is_empty() => Err("--smtp-relay is empty".into()),
        _ => Ok((s.trim_start_matches('[').trim_end_matches(']').to_string(), default_port)),
    }
}

/// The push senders the flags configure, if any.
fn push_senders(cli: &Cli) -> Result<Option<frontdesk_server::push::Senders>, String> {
    use frontdesk_server::push::{apns::Apns, fcm::Fcm, http, Senders};
    if cli.push_webhook.is_none() && cli.push_fcm_service_account.is_none() && cli.push_apns_key.is_none() {
        return Ok(None);
    }
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let ca = cli.push_ca.as_ref().map(read).transpose()?;
    let webhook = cli.push_webhook.as_deref().map(http::Url::parse).transpose().map_err(|e| format!("--push-webhook {e}"))?;
    let fcm = match &cli.push_fcm_service_account {
        Some(p) => Some(Fcm::new(&String::from_utf8_lossy(&read(p)?), cli.push_fcm_endpoint.as_deref())?),
        None => None,
    };
    let apns = match &cli.push_apns_key {
        Some(p) => Some(Apns::new(
            &read(p)?,
            cli.push_apns_key_id.as_deref().unwrap_or(""),
            cli.push_apns_team_id.as_deref().unwrap_or(""),
            cli.push_apns_topic.as_deref().unwrap_or(""),
            cli.push_apns_endpoint.as_deref(),
        )?),
        None => None,
    };
    let http = Some(http::Client::new(ca.as_deref())?);
    Ok(Some(Senders { webhook, fcm, apns, include_text: cli.push_include_text, http }))
}

fn mail_settings(cli: &Cli) -> Result<Option<MailSettings>, String> {
    let outbound = match &cli.smtp_relay {
        None => None,
        Some(relay) => {
            let tls = match cli.smtp_tls {
                SmtpTls::None => TlsMode::None,
                SmtpTls::Starttls => TlsMode::StartTls,
                SmtpTls::Tls => TlsMode::Tls,
            };
            let (host, port) = relay_host_port(relay, tls.default_port())?;
            let (from, domain) = (cli.mail_from.clone().unwrap_or_default(), cli.mail_domain.clone().unwrap_or_default());
            let mut m = MailerConfig::new(host, tls, from, domain);
            m.relay_port = port;
            if let (Some(username), Some(password)) = (&cli.smtp_user, &cli.smtp_password) {
                m.credentials = Some(Credentials { username: username.clone(), password: password.clone() });
            }
            Some(m)
        }
    };
    let inbound = cli.smtp_listen.map(|addr| {
        let domain = cli.mail_domain.clone().unwrap_or_default();
        InboundSettings { addr, config: InboundConfig { hostname: domain.clone(), ..InboundConfig::new(domain) } }
    });
    if outbound.is_none() && inbound.is_none() {
        return Ok(None);
    }
    Ok(Some(MailSettings { outbound, inbound, retry: std::time::Duration::from_secs(cli.mail_retry_secs.max(1)) }))
}

#[derive(Subcommand)]
enum Cmd {
    /// Prints a signed token.
    Token {
        /// For this client id.
        #[arg(long, conflicts_with = "agent")]
        client: Option<String>,
        /// For this agent id.
        #[arg(long)]
        agent: Option<String>,
        /// Agent token with the supervisor role.
        #[arg(long)]
        supervisor: bool,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
}

/// `--config FILE`: a TOML file whose keys are the long flags (`postgres = "…"`, `node = "a"`,
/// `no-sim = true`, `stun = ["stun:…", "stun:…"]`), read as if given first on the command line; a
/// flag given on the command line wins over the file.
fn with_config_file(args: Vec<std::ffi::OsString>) -> Result<Vec<std::ffi::OsString>, String> {
    let pos = args.iter().position(|a| a == "--config" || a.to_string_lossy().starts_with("--config="));
    let Some(pos) = pos else { return Ok(args) };
    let mut args = args;
    let path = match args[pos].to_string_lossy().strip_prefix("--config=") {
        Some(p) => {
            let p = p.to_owned();
            args.remove(pos);
            p
        }
        None => {
            args.remove(pos);
            if pos >= args.len() {
                return Err("--config needs a file".into());
            }
            args.remove(pos).to_string_lossy().into_owned()
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--config {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("--config {path}: {e}"))?;
    let given: std::collections::HashSet<String> =
        args.iter().filter_map(|a| a.to_str()?.strip_prefix("--").map(|f| f.split('=').next().unwrap_or(f).to_owned())).collect();
    let mut from_file: Vec<std::ffi::OsString> = vec![];
    for (key, value) in table {
        if given.contains(&key) {
            continue;
        }
        let flag = format!("--{key}");
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(format!("--config {path}: {key} = {} is not a string or a number", other.type_str())),
        };
        match &value {
            toml::Value::Boolean(true) => from_file.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for v in items {
                    from_file.push(flag.clone().into());
                    from_file.push(scalar(v)?.into());
                }
            }
            v => {
                from_file.push(flag.into());
                from_file.push(scalar(v)?.into());
            }
        }
    }
    // After the program name, before what the command line says (a subcommand stays last).
    let tail = args.split_off(1);
    args.extend(from_file);
    args.extend(tail);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(|s| s.into()).collect()
    }

    #[test]
    fn a_config_file_reads_as_flags_and_the_command_line_wins() {
        let dir = std::env::temp_dir().join(format!("fd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("node.toml");
        std::fs::write(&f, "postgres = \"host=db\"\nnats = \"nats://bus:4222\"\nnode = \"a\"\nno-sim = true\nmemory = false\nstun = [\"stun:a:3478\", \"stun:b:3478\"]\nagent-grace-secs = 30\n").unwrap();
        let args = with_config_file(os(&["fd", "--config", f.to_str().unwrap(), "--node", "b"])).unwrap();
        let cli = Cli::try_parse_from(args).unwrap();
        assert_eq!((cli.postgres.as_deref(), cli.nats.as_deref(), cli.node.as_deref()), (Some("host=db"), Some("nats://bus:4222"), Some("b")));
        assert!(cli.no_sim && !cli.memory);
        assert_eq!(cli.stun, ["stun:a:3478", "stun:b:3478"]);
        assert_eq!(cli.agent_grace_secs, 30);
        std::fs::write(&f, "node = [1, {x = 2}]").unwrap();
        assert!(with_config_file(os(&["fd", &format!("--config={}", f.display())])).unwrap_err().contains("not a string"));
        assert!(with_config_file(os(&["fd", "--config", "/nonexistent.toml"])).unwrap_err().contains("/nonexistent.toml"));
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::main]
async fn main() {
    frontdesk_server::heap::return_freed_pages_at_once();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rsipstack=warn".into())).init();
    let cli = match with_config_file(std::env::args_os().collect()) {
        Ok(args) => Cli::parse_from(args),
        Err(e) => {
            eprintln!("frontdesk-server: {e}");
            std::process::exit(2);
        }
    };
    if cli.count_heap {
        frontdesk_server::heap::enable();
    }
    let secret = cli.secret.as_bytes().to_vec();
    if let Some(Cmd::Token { client, agent, supervisor, ttl }) = cli.cmd {
        let who = match (client, agent) {
            (Some(c), None) => Principal::Client(c.as_str().into()),
            (None, Some(a)) => Principal::Agent(a.as_str().into(), if supervisor { AgentRole::Supervisor } else { AgentRole::Agent }),
            _ => {
                eprintln!("give --client ID or --agent ID");
                std::process::exit(2);
            }
        };
        println!("{}", tokens::issue(&secret, &who, wall_clock(), ttl));
        return;
    }
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(c), Some(k)) => match frontdesk_server::tls::from_pem_files(c, k) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("frontdesk-server: TLS: {e}");
                std::process::exit(2);
            }
        },
        _ => None,
    };
    let canned = match cli.canned.as_deref().map(read_canned).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("frontdesk-server: --canned: {e}");
            std::process::exit(2);
        }
    };
    match push_senders(&cli) {
        Ok(Some(s)) => {
            if let Err(e) = frontdesk_server::push::start(s) {
                eprintln!("frontdesk-server: push: {e}");
                std::process::exit(2);
            }
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("frontdesk-server: {e}");
            std::process::exit(2);
        }
    }
    let (ws, http) = if tls.is_some() { ("wss", "https") } else { ("ws", "http") };
    let mail = match mail_settings(&cli) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("frontdesk-server: {e}");
            std::process::exit(2);
        }
    };
    let relay = mail.as_ref().and_then(|m| m.outbound.as_ref()).map(|o| format!("{}:{}", o.relay_host, o.relay_port));
    let reply_domain = cli.mail_domain.clone().unwrap_or_default();
    let cfg = ServerConfig {
        addr: cli.addr,
        db: (!cli.memory).then_some(cli.db),
        secret: secret.clone(),
        simulate: !cli.no_sim,
        sample_data: !cli.no_sample_data,
        max_msgs_per_sec: cli.max_msgs_per_sec,
        rate_burst: cli.rate_burst,
        max_sessions_per_token: cli.max_sessions_per_token,
        max_unauth_per_addr: cli.max_unauth_per_addr,
        hello_timeout: std::time::Duration::from_secs(cli.hello_timeout_secs),
        idle_timeout: std::time::Duration::from_secs(cli.idle_timeout_secs),
        stall_timeout: std::time::Duration::from_secs(cli.stall_timeout_secs),
        out_high_water: cli.out_high_water,
        out_low_water: cli.out_low_water.min(cli.out_high_water),
        allowed_origins: cli.allowed_origins,
        xmpp_addr: if cli.xmpp_addr == "off" {
            None
        } else {
            match cli.xmpp_addr.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    eprintln!("frontdesk-server: --xmpp-addr must be host:port or off");
                    std::process::exit(2);
                }
            }
        },
        xmpp_domain: cli.xmpp_domain,
        tls,
        agent_grace: std::time::Duration::from_secs(cli.agent_grace_secs),
        mail,
        queue_hours: cli.queue_hours,
        stun: cli.stun,
        visitors: frontdesk_server::visitors::VisitorConfig {
            site_keys: cli.site_keys,
            identity_secret: cli.identity_secret.map(String::into_bytes),
            ttl: std::time::Duration::from_secs(cli.visitor_ttl_secs),
            per_addr_per_min: cli.visitors_per_min,
        },
        sip: cli.sip_trunk.map(|uri| {
            let trunk = frontdesk_server::sip::Trunk { uri, user: cli.sip_user, password: cli.sip_password, caller_id: cli.sip_caller_id };
            let mut c = frontdesk_server::sip::SipConfig::new(cli.sip_listen, trunk);
            c.ring_timeout = std::time::Duration::from_secs(cli.sip_ring_secs.max(5));
            c
        }),
        cluster: match (cli.postgres, cli.nats) {
            (Some(postgres), Some(nats)) => Some(frontdesk_server::cluster::ClusterConfig {
                postgres,
                nats,
                node: cli.node.unwrap_or_else(|| std::env::var("HOSTNAME").unwrap_or_else(|_| format!("node-{}", std::process::id()))),
            }),
            _ => None,
        },
        callback_attempts: cli.callback_attempts,
        callback_retry: std::time::Duration::from_secs(cli.callback_retry_secs.max(1)),
        attachments: frontdesk_core::attachment::AttachmentPolicy { max_bytes: cli.attachment_max_bytes, types: cli.attachment_types },
        attachment_scan: cli.attachment_scan,
        canned,
        turn: match (cli.turn.is_empty(), cli.turn_secret) {
            (false, Some(secret)) => Some(frontdesk_core::call::TurnConfig {
                urls: cli.turn,
                secret: secret.into_bytes(),
                ttl: std::time::Duration::from_secs(cli.turn_ttl_secs.max(60)),
            }),
            _ => None,
        },
        ..ServerConfig::default()
    };
    let running = match start(cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("frontdesk-server: {e}");
            std::process::exit(1);
        }
    };
    let now = wall_clock();
    println!("frontdesk server on {ws}://{}  (clients: /client, agents: /agent)", running.addr);
    if let Some(x) = running.xmpp_addr {
        println!("XMPP on {x} (STARTTLS, self-signed; log in as alice@frontdesk.local, password = alice's token)");
    }
    match &relay {
        Some(r) => println!("email replies go out through the relay at {r}"),
        None => println!("email: no relay (--smtp-relay), agents' email replies stay owed"),
    }
    match running.sip_addr {
        Some(s) => println!("callbacks: SIP dialer on udp {s}"),
        None => println!("callbacks: no SIP trunk (--sip-trunk), agents call clients back by hand"),
    }
    if let Some(s) = running.smtp_addr {
        println!("SMTP listener on {s} (the mail server relays reply+<token>@{reply_domain} here)");
    }
    let alice = tokens::issue(&secret, &Principal::Client("alice".into()), now, 86_400);
    let ann = tokens::issue(&secret, &Principal::Agent("ann".into(), AgentRole::Agent), now, 86_400);
    // Tokens ride in the URL fragment, which browsers never send to a server.
    println!("demo page (client alice): {http}://{}/#token={alice}", running.addr);
    println!("agent console (ann):      {http}://{}/agent.html#token={ann}", running.addr);
    println!("  client token alice: {alice}");
    println!("  client token bob:   {}", tokens::issue(&secret, &Principal::Client("bob".into()), now, 86_400));
    println!("  agent token ann:    {ann}");
    wait_for_signal().await;
    tracing::info!("signal received; shutting down gracefully");
    running.shutdown().await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
