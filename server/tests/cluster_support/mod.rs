//! The services and nodes the cluster tests share: a throwaway PostgreSQL and nats-server on
//! loopback, and frontdesk-server processes as cluster nodes.

#![allow(dead_code)]

use crate::common::{free_port, TempDir, SECRET};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's PostgreSQL 15 binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Whether PostgreSQL and nats-server are installed; panics without them under `FRONTDESK_REQUIRE_CLUSTER`.
pub fn have_services() -> bool {
    let nats = Command::new("which").arg("nats-server").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let pg = Path::new(PG_BIN).join("initdb").exists();
    if nats && pg {
        return true;
    }
    if std::env::var_os("FRONTDESK_REQUIRE_CLUSTER").is_some() {
        panic!("PostgreSQL 15 or nats-server missing and FRONTDESK_REQUIRE_CLUSTER is set: apt-get install -y postgresql nats-server");
    }
    eprintln!("SKIPPED: PostgreSQL 15 or nats-server not installed (apt-get install -y postgresql nats-server)");
    false
}

/// A throwaway PostgreSQL cluster in a temp dir, on a loopback port, stopped on drop.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// Stops and starts the server on the same data and port, as an operator's restart would.
    pub fn restart(&self) {
        let d = self.dir.to_str().unwrap();
        let opts = format!("-p {} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off", self.port);
        let st = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{PG_BIN}/pg_ctl"), "-D", d, "-o", &opts, "-l", &format!("{d}/log"), "-m", "fast", "-w", "restart"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl restart");
    }

    /// Creates and starts a cluster under `tmp`.
    pub fn start(tmp: &TempDir) -> Postgres {
        let dir = tmp.0.join("pg");
        std::fs::create_dir_all(&dir).unwrap();
        // initdb refuses to run as root; the cluster belongs to the postgres user.
        let as_pg = |args: &[&str]| {
            let st = Command::new("runuser").arg("-u").arg("postgres").arg("--").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
            assert!(st.success(), "{args:?} failed");
        };
        Command::new("chown").args(["-R", "postgres:postgres", tmp.0.to_str().unwrap()]).status().unwrap();
        let d = dir.to_str().unwrap();
        as_pg(&[&format!("{PG_BIN}/initdb"), "-D", d, "-A", "trust", "-U", "postgres", "--no-sync"]);
        let port = free_port();
        let opts = format!("-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off");
        as_pg(&[&format!("{PG_BIN}/pg_ctl"), "-D", d, "-o", &opts, "-l", &format!("{d}/log"), "-w", "start"]);
        Postgres { dir, port }
    }

    /// Runs SQL as the superuser on the nodes' database; psql's unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{PG_BIN}/psql"), "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Its libpq connection string.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{PG_BIN}/pg_ctl"), "-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nats-server on loopback `port`.
pub fn nats(port: u16) -> Proc {
    Proc(Command::new("nats-server").args(["-a", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("nats-server"))
}

/// One node: its port and its log (to see who leads).
pub struct Node {
    /// Its name in the cluster.
    pub name: String,
    /// Its WebSocket port.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
    proc: Option<Proc>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Node {
    /// Starts node `name` on a free port.
    pub fn start(name: &str, pg: &Postgres, nats_port: u16, tmp: &TempDir) -> Node {
        Node::start_with(name, pg, nats_port, tmp, &[], &[])
    }

    /// Starts node `name` on a free port with extra environment (test hooks) and arguments for
    /// every run.
    pub fn start_with(name: &str, pg: &Postgres, nats_port: u16, tmp: &TempDir, env: &[(&str, &str)], args: &[&str]) -> Node {
        let port = free_port();
        let log = tmp.0.join(format!("{name}.log"));
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut n = Node { name: name.into(), port, log, proc: None, env, args };
        n.spawn(pg, nats_port);
        n
    }

    /// (Re)starts the process on the node's port, its log started afresh.
    pub fn spawn(&mut self, pg: &Postgres, nats_port: u16) {
        // Appended, so a failure shows every run of the node; the marker bounds `leads_now`.
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        std::io::Write::write_all(&mut log, RESTART_MARK.as_bytes()).unwrap();
        // No XMPP port unless the test asks for one.
        let xmpp: &[&str] = if self.args.iter().any(|a| a == "--xmpp-addr") { &[] } else { &["--xmpp-addr", "off"] };
        let child = Command::new(env!("CARGO_BIN_EXE_frontdesk-server"))
            .args(["--addr", &format!("127.0.0.1:{}", self.port), "--secret", std::str::from_utf8(SECRET).unwrap(), "--no-sim"])
            .args(xmpp)
            .args(["--postgres", &pg.url(), "--nats", &format!("nats://127.0.0.1:{nats_port}"), "--node", &self.name])
            .env("RUST_LOG", "info,rsipstack=warn")
            .env("NO_COLOR", "1")
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("server binary starts");
        self.proc = Some(Proc(child));
    }

    /// Its WebSocket base URL.
    pub fn base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Whether its current process leads now (it said so and has not stopped since).
    pub fn leads_now(&self) -> bool {
        let Ok(l) = std::fs::read_to_string(&self.log) else { return false };
        let run = l.rsplit(RESTART_MARK).next().unwrap_or("");
        self.running() && run.rfind("this node leads").is_some_and(|at| run.rfind("stopped leading").is_none_or(|s| s < at))
    }

    /// Whether its log says it leads (or led).
    pub fn leads(&self) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("this node leads"))
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.0.id())
    }

    /// Whether its process runs.
    pub fn running(&self) -> bool {
        self.proc.is_some()
    }

    /// SIGKILLs it.
    pub fn kill(&mut self) {
        self.proc = None;
    }
}

/// Written to a node's log at every start.
const RESTART_MARK: &str = "=== node process started ===\n";

/// Polls `f` every 50 ms for up to `secs`, failing with `what`.
pub async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}


/// A test's services: a throwaway PostgreSQL and nats-server on loopback, and the temp dir that
/// holds PostgreSQL's data and the nodes' logs. Fields drop in order: the services stop before
/// their directory goes.
pub struct Services {
    /// PostgreSQL.
    pub pg: Postgres,
    /// nats-server (`None` while a test has it stopped).
    pub nats: Option<Proc>,
    /// nats-server's loopback port.
    pub nats_port: u16,
    /// The directory.
    pub tmp: TempDir,
}

impl Services {
    /// Starts both for the test `name`; `None` (the test passes) when they are not installed.
    pub fn start(name: &str) -> Option<Services> {
        if !have_services() {
            return None;
        }
        let tmp = TempDir::new(name);
        let pg = Postgres::start(&tmp);
        let nats_port = free_port();
        Some(Services { pg, nats: Some(nats(nats_port)), nats_port, tmp })
    }

    /// Node `name` with extra environment (test hooks) and arguments.
    pub fn node(&self, name: &str, env: &[(&str, &str)], args: &[&str]) -> Node {
        Node::start_with(name, &self.pg, self.nats_port, &self.tmp, env, args)
    }

    /// Node `name`, started before any other, once it leads.
    pub async fn leader(&self, name: &str, env: &[(&str, &str)], args: &[&str]) -> Node {
        let n = self.node(name, env, args);
        until(20, &format!("{name} leads"), || n.leads()).await;
        n
    }
}
