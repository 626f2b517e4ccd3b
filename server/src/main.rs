//! `frontdesk-server`: runs the broker and status monitor over WebSocket, or issues tokens.

use clap::{Parser, Subcommand};
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_net::wall_clock;
use frontdesk_server::{start, tokens, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

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

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).init();
    let cli = Cli::parse();
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
    let (ws, http) = if tls.is_some() { ("wss", "https") } else { ("ws", "http") };
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
