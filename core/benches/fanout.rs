//! Fan-out in the core alone (no sockets): N client sessions watch the center, one agent changes
//! state, and every resulting frame is polled. Prints time per change and per delivery, and the heap
//! each idle session costs, counted by a counting allocator. Run: `cargo bench -p frontdesk-core --bench fanout -- 10000 100000 1000000`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use frontdesk_core::broker::auth::{AuthError, Verifier};
use frontdesk_core::broker::Broker;
use frontdesk_core::monitor::presence::Presentity;
use frontdesk_core::principal::{AgentRole, Principal};
use frontdesk_core::protocol::{ClientFrame, Request, PROTOCOL_VERSION};
use frontdesk_core::status::AgentState;
use frontdesk_core::{Medium, Timestamp};

/// Counts live heap bytes and allocations, so per-session memory is measured exactly.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A token is the client id itself: the bench measures fan-out, not a token table.
struct Ids;
impl Verifier for Ids {
    fn verify(&self, token: &str, _now: Timestamp) -> Result<Principal, AuthError> {
        Ok(Principal::Client(token.into()))
    }
}

fn run(n: usize) {
    let t0 = Timestamp(1_000_000);
    let mut b = Broker::new(Ids);
    b.configure_queue(t0, "sales".into(), "Sales", vec![], vec![Medium::Chat, Medium::Voice]);
    for i in 0..20 {
        b.agent_login(t0, format!("a{i}").as_str().into(), &format!("Agent {i}"), AgentRole::Agent, vec![], vec![Medium::Chat]);
    }
    while b.poll_transmit().is_some() {}
    let heap0 = LIVE.load(Relaxed);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let c = b.open_connection(t0);
        let hello = ClientFrame::Hello { v: PROTOCOL_VERSION, token: format!("c{i}"), instance: 1, last_seq: 0, next_request: 1 };
        b.handle_input(t0, c, &hello.encode());
        b.handle_input(t0, c, &ClientFrame::Request { id: 1, req: Request::Watch { presentity: Presentity::Center } }.encode());
        while b.poll_transmit().is_some() {}
        // A host takes the broker's events as they come; left queued they would count as sessions' heap.
        while b.poll_event().is_some() {}
        conns.push(c);
    }
    let per_session = (LIVE.load(Relaxed) - heap0 - (n * std::mem::size_of::<u64>()) as isize) as f64 / n as f64;
    let mut times = vec![];
    let mut bytes = 0usize;
    let rounds: usize = std::env::var("FANOUT_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    for round in 0..rounds {
        let state = if round % 2 == 0 { AgentState::Busy } else { AgentState::Available };
        let allocs0 = ALLOCS.load(Relaxed);
        let start = Instant::now();
        b.agent_set_state(t0, &"a0".into(), state).expect("agent is logged in");
        let mut delivered = 0usize;
        bytes = 0;
        while let Some(t) = b.poll_transmit() {
            delivered += 1;
            bytes += t.data.len();
        }
        let el = start.elapsed();
        let allocs = ALLOCS.load(Relaxed) - allocs0;
        assert_eq!(delivered, n, "every watcher gets the change");
        times.push((el, allocs));
    }
    let mut sorted: Vec<_> = times.iter().map(|t| t.0).collect();
    sorted.sort();
    let (best, median) = (sorted[0], sorted[sorted.len() / 2]);
    let allocs = times.last().unwrap().1;
    println!(
        "{n:>9} sessions: one change to all {:>8.1} ms (best of {rounds}, median {:.1} ms; {:.0} ns and {:.2} allocations per delivery, {} B per frame); idle session heap {:.0} B",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        best.as_nanos() as f64 / n as f64,
        allocs as f64 / n as f64,
        bytes / n,
        per_session
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    for n in if sizes.is_empty() { vec![10_000, 100_000] } else { sizes } {
        run(n);
    }
}
