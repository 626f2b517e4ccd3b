//! The PostgreSQL store against a real PostgreSQL on loopback, started by each test in a temp dir:
//! a broker restart through it loses nothing, a unit commits whole or not at all (even when the
//! database dies under it), migrations are versioned, and a figure for commits per second.
//!
//! Skipped (with a message) only when no PostgreSQL binaries are installed and
//! `FRONTDESK_REQUIRE_PG` is unset; CI sets it so a missing PostgreSQL fails instead.

use frontdesk_core::broker::auth::StaticTokens;
use frontdesk_core::broker::center::BuiltinRouting;
use frontdesk_core::broker::mail::OutboundMail;
use frontdesk_core::broker::store::{DataStore, MemoryStore};
use frontdesk_core::broker::{Broker, BrokerConfig, Party};
use frontdesk_core::client::{ClientConfig, ClientEvent};
use frontdesk_core::embedded::{Embedded, Slot};
use frontdesk_core::interaction::{Author, ChatMessage, InteractionState};
use frontdesk_core::monitor::StatusMonitor;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::profile::{Capability, ClientProfile, Demographics, ProfilePatch};
use frontdesk_core::protocol::{Event, Response};
use frontdesk_core::records::{DeliveryDetails, HistoryFilter, Order, OrderStatus, Product};
use frontdesk_core::status::AgentState;
use frontdesk_core::{AgentId, InteractionId, Medium, Timestamp};
use frontdesk_server::pg_store::{PgStore, SCHEMA_VERSION};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A throwaway PostgreSQL cluster; stopped and removed on drop, whatever the test did.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("FRONTDESK_PG_BIN") {
        return Some(PathBuf::from(b));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, b): &(u32, PathBuf)| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    /// Starts a cluster with a `frontdesk` database, or `None` (after saying why) when PostgreSQL is
    /// not installed and not required.
    fn start() -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            if std::env::var_os("FRONTDESK_REQUIRE_PG").is_some() {
                panic!("FRONTDESK_REQUIRE_PG is set but no PostgreSQL binaries were found (apt-get install -y postgresql, or set FRONTDESK_PG_BIN)");
            }
            eprintln!("SKIPPED: no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql, or set FRONTDESK_PG_BIN)");
            return None;
        };
        // PostgreSQL refuses to run as root: the tests run as root in CI, so the cluster belongs to
        // the postgres user then.
        let as_postgres = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("frontdesk-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = Cluster { bin, dir, port: free_port(), as_postgres };
        if as_postgres {
            assert!(Command::new("chown").arg("postgres:").arg(&c.dir).status().unwrap().success(), "chown the cluster's dir to postgres");
        }
        let data = c.dir.join("data");
        let out = c.run("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        c.pg_ctl_start();
        c.psql("postgres", "CREATE DATABASE frontdesk");
        Some(c)
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // The postgres user cannot enter root's working directory.
        cmd.args(args).current_dir(&self.dir).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn pg_ctl_start(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let out = self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"]);
        assert!(out.status.success(), "pg_ctl start: {}\n{}", String::from_utf8_lossy(&out.stderr), std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// Kills the server as a crash would (no shutdown checkpoint, connections cut).
    fn crash(&self) {
        let data = self.dir.join("data");
        let out = self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/frontdesk", self.port)
    }

    /// Runs SQL as the superuser and returns psql's unaligned output.
    fn psql(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run("psql", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", db, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const T0: Timestamp = Timestamp(1_795_597_200_000);

fn order(id: &str) -> Order {
    Order {
        id: id.into(),
        client: "alice".into(),
        product: "router".into(),
        status: OrderStatus::Placed,
        history: vec![],
        delivery: DeliveryDetails { address: "1 Main St".into(), window: None, instructions: None },
        revision: 1,
    }
}

fn product(id: &str) -> Product {
    Product { id: id.into(), name: id.to_uppercase(), description: format!("The {id}") }
}

/// A broker as the server builds one: restore first, then the configuration that is not stored.
fn broker(store: impl DataStore + 'static, now: Timestamp) -> (Broker, usize) {
    let tokens = StaticTokens::new().with("tok-alice", Principal::Client("alice".into()));
    let mut b = Broker::with_parts(BrokerConfig::default(), Box::new(tokens), Box::new(store), Box::new(BuiltinRouting), StatusMonitor::default());
    let restored = b.restore_sessions(now).unwrap();
    b.configure_queue(now, "support".into(), "Support", vec!["router".into()], vec![Medium::Chat, Medium::Email]);
    // Agents on in-process seats are not stored: they log in again after a restart.
    b.agent_login(now, "ann".into(), "Ann", AgentRole::Agent, vec!["router".into()], vec![Medium::Chat]);
    b.agent_login(now, "eve".into(), "Eve", AgentRole::Agent, vec!["router".into()], vec![Medium::Email]);
    for a in ["ann", "eve"] {
        b.agent_set_state(now, &AgentId::from(a), AgentState::Available).unwrap();
    }
    (b, restored)
}

fn drain(hub: &mut Embedded, slot: Slot, now: Timestamp) -> Vec<ClientEvent> {
    hub.run(now);
    std::iter::from_fn(|| hub.poll_client_event(slot)).collect()
}

fn answer(hub: &mut Embedded, slot: Slot, now: Timestamp, id: frontdesk_core::client::RequestId) -> Response {
    let events = drain(hub, slot, now);
    events
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::Completed { id: i, result } if i == id => Some(result.unwrap_or_else(|e| panic!("request {id}: {e:?}"))),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no answer to request {id}"))
}

fn texts(chat: &[ChatMessage]) -> Vec<&str> {
    chat.iter().map(|m| m.text.as_str()).collect()
}

#[test]
fn a_broker_restarted_on_postgres_resumes_its_client_with_nothing_lost() {
    let Some(pg) = Cluster::start() else { return };
    let started = Instant::now();
    let now = T0;
    let store = PgStore::connect(&pg.url()).unwrap();
    assert!(store.is_empty().unwrap(), "a fresh database is empty");
    let (mut b, restored) = broker(store, now);
    assert_eq!(restored, 0);
    b.center_put_product(product("router")).unwrap();
    b.center_put_order(order("o1")).unwrap();
    let mut hub = Embedded::new(b);
    let alice = hub.add_client(now, ClientConfig::new("tok-alice", 1));
    assert!(drain(&mut hub, alice, now).iter().any(|e| matches!(e, ClientEvent::Synced)));

    // A profile edit, with the address mail is found by.
    let caps = vec![Capability { medium: Medium::Email, address: Some("Alice@Example.org".into()), devices: vec![] }];
    let demo = Demographics { name: Some("Alice Liddell".into()), ..Default::default() };
    let id = hub.client(alice).update_profile(ProfilePatch { demographics: Some(demo), capabilities: Some(caps), ..Default::default() });
    answer(&mut hub, alice, now, id);

    // A chat that ends (a history record) and one that stays connected.
    let ann = AgentId::from("ann");
    let id = hub.client(alice).start_interaction(Medium::Chat, Some("router".into()), None, Some("first".into()));
    let Response::Interaction(first) = answer(&mut hub, alice, now, id) else { panic!() };
    hub.broker.agent_accept(now, &ann, &first.id).unwrap();
    let id = hub.client(alice).send_chat(first.id.clone(), "is it plugged in?");
    answer(&mut hub, alice, now, id);
    hub.broker.agent_end(now, &ann, &first.id).unwrap();
    hub.broker.agent_set_state(now, &ann, AgentState::Available).unwrap();
    let id = hub.client(alice).start_interaction(Medium::Chat, Some("router".into()), None, Some("second".into()));
    let Response::Interaction(live) = answer(&mut hub, alice, now, id) else { panic!() };
    hub.broker.agent_accept(now, &ann, &live.id).unwrap();
    for t in ["hello", "my router blinks red"] {
        let id = hub.client(alice).send_chat(live.id.clone(), t);
        answer(&mut hub, alice, now, id);
    }
    hub.broker.agent_send_chat(now, &ann, &live.id, "which light?").unwrap();
    // An email whose answer is owed as mail.
    let eve = AgentId::from("eve");
    let id = hub.client(alice).send_email(Some("router".into()), "Router reboots", "It reboots every hour.");
    let Response::Interaction(mail_ix) = answer(&mut hub, alice, now, id) else { panic!() };
    hub.broker.agent_accept(now, &eve, &mail_ix.id).unwrap();
    hub.broker.agent_send_chat(now, &eve, &mail_ix.id, "Please update its firmware.").unwrap();
    drain(&mut hub, alice, now);
    // Away: what the agent writes now is an event the client has not acknowledged.
    hub.set_online(now, alice, false);
    hub.broker.agent_send_chat(now, &ann, &live.id, "while you were away").unwrap();
    assert!(hub.broker.take_store_error().is_none());

    // The process dies; a new one opens the same database.
    drop(std::mem::replace(&mut hub.broker, Broker::new(StaticTokens::new())));
    let now = Timestamp(T0.0 + 5_000);
    let store = PgStore::connect(&pg.url()).unwrap();
    assert!(!store.is_empty().unwrap());
    let (b, restored) = broker(store, now);
    assert_eq!(restored, 1, "alice's session");
    hub.broker = b;
    assert_eq!(hub.broker.take_mail_due(now).iter().map(|m| (m.to.as_str(), m.text.as_str())).collect::<Vec<_>>(), vec![("Alice@Example.org", "Please update its firmware.")]);
    let mine: Vec<InteractionId> = hub.broker.agent_interactions(&ann).into_iter().map(|l| l.id).collect();
    assert_eq!(mine, vec![live.id.clone()], "the connected chat is ann's again");
    assert_eq!(hub.broker.store().client_by_address(Medium::Email, "alice@example.org").unwrap(), Some("alice".into()));

    hub.set_online(now, alice, true);
    let events = drain(&mut hub, alice, now);
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Connected { resumed: true })), "{events:?}");
    let away: Vec<_> = events.iter().filter(|e| matches!(e, ClientEvent::Pushed(Event::Chat(m)) if m.text == "while you were away")).collect();
    assert_eq!(away.len(), 1, "the unacknowledged event arrives once: {events:?}");
    let v = hub.client_ref(alice).view();
    assert_eq!(v.profile.demographics.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(texts(&v.chats[&live.id]), vec!["hello", "my router blinks red", "which light?", "while you were away"]);
    assert!(v.history.iter().any(|r| r.id == first.id), "the ended chat is in the history");
    assert!(matches!(v.interactions[&live.id].state, InteractionState::Connected), "{:?}", v.interactions[&live.id].state);

    // What the store holds, asked afresh, and the conversation goes on without a gap or a clash.
    let id = hub.client(alice).get_profile();
    let Response::Profile(p) = answer(&mut hub, alice, now, id) else { panic!() };
    assert_eq!(p.demographics.name.as_deref(), Some("Alice Liddell"));
    let id = hub.client(alice).get_history(HistoryFilter::default());
    let Response::History(h) = answer(&mut hub, alice, now, id) else { panic!() };
    assert_eq!(h.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![first.id.clone()]);
    let id = hub.client(alice).get_orders();
    let Response::Orders(o) = answer(&mut hub, alice, now, id) else { panic!() };
    assert_eq!(o, vec![order("o1")]);
    let id = hub.client(alice).send_chat(live.id.clone(), "the power light");
    answer(&mut hub, alice, now, id);
    let id = hub.client(alice).get_transcript(live.id.clone());
    let Response::Transcript(t) = answer(&mut hub, alice, now, id) else { panic!() };
    assert_eq!(texts(&t), vec!["hello", "my router blinks red", "which light?", "while you were away", "the power light"]);
    assert_eq!(t.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(texts(&hub.broker.store().transcript(&first.id).unwrap()), vec!["is it plugged in?"]);
    assert!(hub.broker.take_store_error().is_none());
    eprintln!("round trip through a restart: {:?}", started.elapsed());
}

fn mail(id: &str) -> OutboundMail {
    OutboundMail {
        id: id.into(),
        interaction: "e1".into(),
        seq: 2,
        client: "alice".into(),
        to: "alice@example.org".into(),
        subject: "Router".into(),
        text: "Update it.".into(),
        from_name: "Eve".into(),
        written_at: T0,
        attempts: 0,
        due: T0,
    }
}

fn order_ids(s: &PgStore) -> Vec<String> {
    s.orders(&"alice".into()).unwrap().into_iter().map(|o| o.id.as_str().to_owned()).collect()
}

#[test]
fn writes_between_commits_are_one_unit_even_when_the_commit_fails() {
    let Some(pg) = Cluster::start() else { return };
    let started = Instant::now();
    let mut a = PgStore::connect(&pg.url()).unwrap();
    let b = PgStore::connect(&pg.url()).unwrap();

    // Seen by the writer before its commit, by nobody else until then, by everybody after.
    a.put_order(&order("o1")).unwrap();
    a.put_product(&product("router")).unwrap();
    assert_eq!(order_ids(&a), vec!["o1"], "the writer reads back what it wrote");
    assert_eq!(order_ids(&b), Vec::<String>::new(), "written, flushed, not committed");
    a.put_order(&order("o2")).unwrap();
    assert!(b.products().unwrap().is_empty());
    a.commit().unwrap();
    assert_eq!(order_ids(&b), vec!["o1", "o2"]);
    assert_eq!(b.products().unwrap(), vec![product("router")]);

    // A write the database refuses in the middle of a unit takes the whole unit with it.
    pg.psql(
        "frontdesk",
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON mail_owed FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    a.put_order(&order("o3")).unwrap();
    a.save_mail(&mail("m1")).unwrap();
    a.put_product(&product("phone")).unwrap();
    let e = a.commit().unwrap_err();
    assert!(e.0.contains("refused by the test"), "{e}");
    assert_eq!(order_ids(&b), vec!["o1", "o2"]);
    assert_eq!(b.products().unwrap(), vec![product("router")]);
    // Refused at a read in mid-unit: the rest of the unit is refused too, and its commit says so.
    a.put_order(&order("o4")).unwrap();
    a.save_mail(&mail("m2")).unwrap();
    assert!(a.order(&"o4".into()).is_err());
    a.put_order(&order("o5")).unwrap();
    assert!(a.commit().unwrap_err().0.contains("refused by the test"));
    assert_eq!(order_ids(&b), vec!["o1", "o2"]);
    // The next unit is a new one.
    a.put_order(&order("o6")).unwrap();
    a.commit().unwrap();
    assert_eq!(order_ids(&b), vec!["o1", "o2", "o6"]);
    pg.psql("frontdesk", "DROP TRIGGER refuse ON mail_owed");

    // The database dies with a unit open (flushed by a read) and more buffered: the commit fails,
    // and after the restart none of the unit is there; the store reconnects by itself.
    a.put_order(&order("o7")).unwrap();
    assert_eq!(order_ids(&a), vec!["o1", "o2", "o6", "o7"]);
    pg.crash();
    a.put_order(&order("o8")).unwrap();
    a.save_mail(&mail("m3")).unwrap();
    let e = a.commit().unwrap_err();
    eprintln!("commit with the database down: {e}");
    assert!(a.order(&"o1".into()).is_err(), "still down");
    pg.pg_ctl_start();
    assert_eq!(order_ids(&a), vec!["o1", "o2", "o6"], "reconnected, nothing of the failed unit");
    let c = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(order_ids(&c), vec!["o1", "o2", "o6"]);
    assert!(c.load_mail().unwrap().is_empty());
    a.put_order(&order("o9")).unwrap();
    a.commit().unwrap();
    assert_eq!(order_ids(&c), vec!["o1", "o2", "o6", "o9"]);

    // Dropped without a commit: forgotten, like a crash between commits.
    a.put_order(&order("o10")).unwrap();
    assert_eq!(order_ids(&a).len(), 5);
    drop(a);
    assert_eq!(order_ids(&c), vec!["o1", "o2", "o6", "o9"]);
    eprintln!("atomicity: {:?}", started.elapsed());
}

#[test]
fn migrations_are_versioned_and_a_newer_schema_is_refused() {
    let Some(pg) = Cluster::start() else { return };
    let started = Instant::now();
    let versions = || pg.psql("frontdesk", "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version");
    let expected: Vec<String> = (1..=SCHEMA_VERSION).map(|v| v.to_string()).collect();
    let mut s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(versions(), expected.join(","), "a fresh database gets every migration");
    s.put_product(&product("router")).unwrap();
    s.commit().unwrap();
    drop(s);
    // Reopening applies nothing and keeps the data.
    let s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(versions(), expected.join(","));
    assert_eq!(s.products().unwrap(), vec![product("router")]);
    drop(s);
    // Two brokers starting at once on a fresh database: one migrates, the other waits and finds it done.
    pg.psql("postgres", "CREATE DATABASE twin");
    let twin = pg.url().replace("/frontdesk", "/twin");
    let both: Vec<_> = (0..2).map(|_| std::thread::spawn({
        let u = twin.clone();
        move || PgStore::connect(&u).map(drop)
    })).collect();
    for t in both {
        t.join().unwrap().unwrap();
    }
    // A database a newer frontdesk migrated is refused, and left as it was.
    pg.psql("frontdesk", &format!("INSERT INTO schema_version (version) VALUES ({})", SCHEMA_VERSION + 1));
    let e = PgStore::connect(&pg.url()).unwrap_err();
    assert!(e.0.contains(&format!("schema is version {}, newer than this frontdesk knows (version {SCHEMA_VERSION})", SCHEMA_VERSION + 1)), "{e}");
    assert_eq!(pg.psql("frontdesk", "SELECT count(*) FROM products"), "1");
    // Not a PostgreSQL at all: a clear error, not a hang.
    let e = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{}/frontdesk?connect_timeout=2", free_port())).unwrap_err();
    assert!(e.0.contains("postgres"), "{e}");
    eprintln!("migrations: {:?}", started.elapsed());
}

#[test]
fn the_store_answers_as_the_memory_store_does() {
    let Some(pg) = Cluster::start() else { return };
    let mut s = PgStore::connect(&format!("host={} port={} user=postgres dbname=frontdesk", pg.dir.display(), pg.port)).unwrap();
    let mut mem = MemoryStore::new();
    // Pages of a transcript, by index; text that `jsonb` would refuse and frames stored byte for byte.
    for (ix, n) in [("i1", 30u64), ("i2", 5)] {
        for seq in 1..=n {
            let m = ChatMessage { interaction: ix.into(), seq, from: Author::Client("alice".into()), text: format!("{ix}-{seq} \u{0}é✓"), at: Timestamp(seq), attachment: None };
            s.append_chat(&m).unwrap();
            mem.append_chat(&m).unwrap();
        }
    }
    s.commit().unwrap();
    for (before, limit) in [(None, 10), (Some(11), 4), (Some(3), 10), (Some(1), 5), (None, 0), (Some(u64::MAX), 100)] {
        assert_eq!(s.transcript_page(&"i1".into(), before, limit).unwrap(), mem.transcript_page(&"i1".into(), before, limit).unwrap(), "{before:?} {limit}");
    }
    assert_eq!(s.transcript(&"i2".into()).unwrap(), mem.transcript(&"i2".into()).unwrap());
    assert!(s.transcript_page(&"none".into(), None, 5).unwrap().is_empty());
    // Addresses: without case, by medium, and following the profile's edits.
    let mut p = ClientProfile { capabilities: vec![Capability { medium: Medium::Email, address: Some("Alice@Example.org".into()), devices: vec![] }], ..Default::default() };
    s.put_profile(&"alice".into(), &p).unwrap();
    s.commit().unwrap();
    assert_eq!(s.client_by_address(Medium::Email, "alice@example.ORG").unwrap(), Some("alice".into()));
    assert_eq!(s.client_by_address(Medium::Voice, "alice@example.org").unwrap(), None);
    assert_eq!(s.profile(&"alice".into()).unwrap(), Some(p.clone()));
    p.capabilities.clear();
    s.put_profile(&"alice".into(), &p).unwrap();
    s.commit().unwrap();
    assert_eq!(s.client_by_address(Medium::Email, "alice@example.org").unwrap(), None);
    // Session logs: appended, replaced, trimmed, and merged into the records on load; a client and
    // an agent with the same id are different sessions.
    let client = Party::Client("sam".into());
    let agent = Party::Agent { agent: "sam".into() };
    let header = |party: &Party| frontdesk_core::broker::store::SessionRecord {
        party: party.clone(),
        role: None,
        seat: None,
        instance: u64::MAX,
        next_request: 9,
        answered: vec![],
        next_seq: 4,
        outbox: vec![],
        watches: vec![],
        alerts: vec![],
    };
    for party in [&client, &agent] {
        s.save_session(&header(party)).unwrap();
    }
    s.append_session_log(&client, u64::MAX, &[(1, "e1"), (2, "e2"), (3, "e3 \u{0}")], &[(7, Some("r7")), (8, None)]).unwrap();
    s.append_session_log(&client, u64::MAX, &[(2, "e2'")], &[]).unwrap();
    s.append_session_log(&agent, u64::MAX, &[(1, "agent")], &[]).unwrap();
    s.trim_session_log(&client, u64::MAX, 1, 8).unwrap();
    s.commit().unwrap();
    let mut loaded = s.load_sessions().unwrap();
    loaded.sort_by_key(|r| matches!(r.party, Party::Client(_)));
    assert_eq!(loaded[0].outbox, vec![(1, "agent".to_owned())]);
    assert_eq!(loaded[1].outbox, vec![(2, "e2'".to_owned()), (3, "e3 \u{0}".to_owned())]);
    assert_eq!(loaded[1].answered, vec![(8, None)]);
    assert_eq!(loaded[1].instance, u64::MAX);
    s.delete_session(&client, u64::MAX).unwrap();
    s.commit().unwrap();
    assert_eq!(s.load_sessions().unwrap().len(), 1);
    assert_eq!(pg.psql("frontdesk", "SELECT count(*) FROM session_events WHERE kind = 'client'"), "0");
}

/// The broker calls its store from inside its tokio task: the store must work there, on either
/// flavour of runtime, without `block_in_place` (which a current-thread runtime refuses).
#[test]
fn the_store_works_when_called_from_inside_a_tokio_runtime() {
    let Some(pg) = Cluster::start() else { return };
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (n, rt) in [current, multi].into_iter().enumerate() {
        let url = pg.url();
        rt.block_on(async move {
            let task = tokio::spawn(async move {
                let mut s = PgStore::connect(&url).unwrap();
                s.put_order(&order(&format!("o{n}"))).unwrap();
                assert_eq!(s.orders(&"alice".into()).unwrap().len(), n + 1);
                s.commit().unwrap();
                // Dropped here too, inside the runtime.
            });
            task.await.unwrap();
        });
    }
    let s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(order_ids(&s), vec!["o0", "o1"]);
}

/// Chat messages per second a client gets answered through a whole broker on `store`.
fn chats_per_second(store: impl DataStore + 'static, n: u64) -> f64 {
    let (mut b, _) = broker(store, T0);
    b.center_put_product(product("router")).unwrap();
    let mut hub = Embedded::new(b);
    let alice = hub.add_client(T0, ClientConfig::new("tok-alice", 1));
    drain(&mut hub, alice, T0);
    let id = hub.client(alice).start_interaction(Medium::Chat, Some("router".into()), None, None);
    let Response::Interaction(li) = answer(&mut hub, alice, T0, id) else { panic!() };
    hub.broker.agent_accept(T0, &"ann".into(), &li.id).unwrap();
    drain(&mut hub, alice, T0);
    let t = Instant::now();
    for i in 0..n {
        let id = hub.client(alice).send_chat(li.id.clone(), format!("message {i}"));
        answer(&mut hub, alice, T0, id);
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert!(hub.broker.take_store_error().is_none());
    rate
}

/// Prints commits per second on loopback: a chat message through the whole broker (request in,
/// answer out), and the same writes on the store alone; SQLite for scale. `BENCH_N` sets the count.
#[test]
fn commits_per_second() {
    let Some(pg) = Cluster::start() else { return };
    let n: u64 = std::env::var("BENCH_N").map_or(300, |v| v.parse().unwrap());
    let through_broker = chats_per_second(PgStore::connect(&pg.url()).unwrap(), n);
    let through_memory = chats_per_second(MemoryStore::new(), n);
    let party = Party::Client("bench".into());
    let write = |s: &mut dyn DataStore, i: u64| {
        let m = ChatMessage { interaction: "bench".into(), seq: i, from: Author::Client("bench".into()), text: format!("message {i}"), at: Timestamp(i), attachment: None };
        s.append_chat(&m).unwrap();
        let ev = format!("{{\"chat\":{}}}", serde_json::to_string(&m).unwrap());
        s.append_session_log(&party, 1, &[(i, &ev)], &[(i, Some("{\"ok\":true}"))]).unwrap();
        s.trim_session_log(&party, 1, i.saturating_sub(1), i).unwrap();
        s.commit().unwrap();
    };
    let mut pgs = PgStore::connect(&pg.url()).unwrap();
    let t = Instant::now();
    for i in 1..=n {
        write(&mut pgs, i);
    }
    let pg_store = n as f64 / t.elapsed().as_secs_f64();
    drop(pgs);
    // The same without waiting for the disk: what the round trip and the pipeline cost.
    pg.psql("frontdesk", "TRUNCATE chat, session_events, session_answers");
    let mut pgs = PgStore::connect(&format!("{}?options=-c%20synchronous_commit%3Doff", pg.url())).unwrap();
    let t = Instant::now();
    for i in 1..=n {
        write(&mut pgs, i);
    }
    let pg_async = n as f64 / t.elapsed().as_secs_f64();
    drop(pgs);
    // The same as a cluster leader: each commit also checks the fencing epoch in its transaction.
    pg.psql("frontdesk", "TRUNCATE chat, session_events, session_answers");
    let (mut pgs, _epoch) = PgStore::connect_leader(&format!("{}?options=-c%20synchronous_commit%3Doff", pg.url())).unwrap();
    let t = Instant::now();
    for i in 1..=n {
        write(&mut pgs, i);
    }
    let pg_fenced = n as f64 / t.elapsed().as_secs_f64();
    let path = pg.dir.join("bench.sqlite");
    let mut lite = frontdesk_server::sqlite_store::SqliteStore::open(Path::new(&path)).unwrap();
    let t = Instant::now();
    for i in 1..=n {
        write(&mut lite, i);
    }
    let sqlite = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("commits/s on loopback, {n} each: chat requests/s through the broker (two commits each: the request, then the client's ack) on PostgreSQL {through_broker:.0}, on the memory store {through_memory:.0}; store alone (chat + session log + trim): PostgreSQL {pg_store:.0} (without waiting for fsync {pg_async:.0}; fenced as a cluster leader {pg_fenced:.0}), SQLite (WAL, synchronous=NORMAL) {sqlite:.0}");
}
