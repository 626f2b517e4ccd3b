//! The discrete-event engine: clients, agents and queues, played into a real `StatusMonitor`.

use crate::dist::{Arrivals, Dist};
use crate::floor::{mmsm_floor, Floor};
use frontdesk_core::center_event::CenterEvent;
use frontdesk_core::ids::{AgentId, InteractionId, ProductId, QueueId};
use frontdesk_core::medium::Medium;
use frontdesk_core::monitor::holdtime::{
    all_estimators, ql_m_secs, Adaptive, AdaptiveSettings, HoldTimeEstimator, Observation, QueueKey, QueueLength, QueueSnapshot, RateBook, RateSettings,
};
use frontdesk_core::monitor::{MonitorConfig, StatusMonitor};
use frontdesk_core::status::AgentState;
use frontdesk_core::time::Timestamp;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Simulated time zero, as a wall-clock instant (any fixed day works; the core never reads a clock).
const EPOCH_MS: u64 = 1_767_225_600_000;

/// One line of the simulated center: a queue and the medium its clients chose.
///
/// Two specs with the same name and different media are one queue of the monitor taking both media
/// (e.g. voice and callback); the monitor keys its figures and learned rates by `QueueKey {queue, medium}`.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// Name, also the product its agents must have as a skill.
    pub name: String,
    /// Medium of its clients' interactions (`InteractionQueued`).
    pub medium: Medium,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Handle time of its clients.
    pub handle: Dist,
    /// Patience of its clients.
    pub patience: Dist,
}

/// Agents with the same skills.
///
/// They log in with the products of the specs they serve as skills and the specs' media as media; the
/// monitor counts an agent for every (queue, medium) pair of those, so a group should serve whole
/// combinations (a group serving queue A on voice and queue B on callback would count for A on callback too).
#[derive(Debug, Clone)]
pub struct AgentGroup {
    /// How many.
    pub count: u32,
    /// Indexes of the queue specs they serve.
    pub skills: Vec<usize>,
}

/// A center and how long to measure it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name in reports.
    pub name: String,
    /// Queues, one spec per (queue, medium) line.
    pub queues: Vec<QueueSpec>,
    /// Agents, staffed the whole run.
    pub agents: Vec<AgentGroup>,
    /// Simulated seconds before measuring, so queues and learned rates settle.
    pub warmup: f64,
    /// Arrivals measured after the warm-up.
    pub measured: usize,
    /// RNG seed.
    pub seed: u64,
}

impl Scenario {
    /// M/M/s+M with load ρ = λ/(sμ) (handle time mean 1/μ s, patience mean 1/θ s; θ = 0 for none).
    pub fn mmsm(name: impl Into<String>, servers: u32, rho: f64, mu: f64, theta: f64, measured: usize, seed: u64) -> Self {
        let lambda = rho * servers as f64 * mu;
        Scenario {
            name: name.into(),
            queues: vec![QueueSpec {
                name: "q".into(),
                medium: Medium::Voice,
                arrivals: Arrivals::Constant(lambda),
                handle: Dist::Exp { mean: 1.0 / mu },
                patience: if theta > 0.0 { Dist::Exp { mean: 1.0 / theta } } else { Dist::Never },
            }],
            agents: vec![AgentGroup { count: servers, skills: vec![0] }],
            // Four hours and ten thousand clients: several half-lives of the learned rates and error scores.
            warmup: (4.0 * 3600.0f64).max(10_000.0 / lambda),
            measured,
            seed,
        }
    }

    /// The analytic floor of line `i` when it is its own M/M/s+M: constant rate, exponential times, and
    /// exactly one agent group serving it, a group that serves nothing else.
    pub fn line_floor(&self, i: usize) -> Option<Floor> {
        let q = &self.queues[i];
        let mut serving = self.agents.iter().filter(|g| g.skills.contains(&i));
        let (Some(g), None) = (serving.next(), serving.next()) else { return None };
        if g.skills != [i] {
            return None;
        }
        let Arrivals::Constant(lambda) = q.arrivals else { return None };
        if !q.handle.is_exponential() {
            return None;
        }
        let theta = match q.patience {
            Dist::Exp { mean } => 1.0 / mean,
            Dist::Never => 0.0,
            Dist::LogNormal { .. } => return None,
        };
        mmsm_floor(g.count, lambda, 1.0 / q.handle.mean(), theta)
    }

    /// The analytic floor when every line is its own M/M/s+M (one queue, or dedicated pools per line).
    ///
    /// Over independent lines an arrival belongs to line i with probability λ_i/Λ, so E[W], P(W > 0) and the
    /// least ASE are the λ-weighted averages of the lines', and RASE = ASE / E[W]² as for every row of the report.
    pub fn floor(&self) -> Option<Floor> {
        let floors: Vec<Floor> = (0..self.queues.len()).map(|i| self.line_floor(i)).collect::<Option<_>>()?;
        if let [f] = floors[..] {
            return Some(f);
        }
        let lambdas: Vec<f64> = self.queues.iter().map(|q| q.arrivals.mean()).collect();
        let total: f64 = lambdas.iter().sum();
        let avg = |f: fn(&Floor) -> f64| floors.iter().zip(&lambdas).map(|(x, l)| f(x) * l).sum::<f64>() / total;
        let (mean_wait, p_wait, ase) = (avg(|f| f.mean_wait), avg(|f| f.p_wait), avg(|f| f.ase));
        Some(Floor { mean_wait, p_wait, ase, rase: ase / (mean_wait * mean_wait) })
    }

    /// Whether some queue takes more than one medium (then media-pooled predictors are added as references).
    pub fn mixes_media(&self) -> bool {
        self.queues.iter().enumerate().any(|(i, q)| self.queues[..i].iter().any(|p| p.name == q.name && p.medium != q.medium))
    }
}

/// Errors of one predictor over the measured clients.
#[derive(Debug, Clone, Default)]
pub struct PredictorStats {
    /// Name ("ql-m*" is QL_m with the true μ and θ, a reference no deployment has).
    pub name: String,
    /// Σ (prediction − delay)².
    pub sq: f64,
    /// Σ |prediction − delay|.
    pub abs: f64,
    /// Σ (prediction − delay).
    pub bias: f64,
    /// Σ squared error per batch, for confidence intervals.
    pub batch_sq: Vec<f64>,
}

/// What a scenario run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario name.
    pub name: String,
    /// Measured clients.
    pub n: usize,
    /// Σ delay.
    pub sum_w: f64,
    /// Clients who had to wait.
    pub delayed: usize,
    /// Clients who abandoned.
    pub abandoned: usize,
    /// Per batch: clients and Σ delay.
    pub batches: Vec<(usize, f64)>,
    /// Per predictor.
    pub predictors: Vec<PredictorStats>,
    /// Analytic floor, when the scenario is M/M/s+M.
    pub floor: Option<Floor>,
    /// Wall-clock seconds the run took.
    pub run_secs: f64,
    /// Simulated seconds.
    pub sim_secs: f64,
    /// The same figures per line (queue spec), in scenario order; empty inside a line.
    pub lines: Vec<Line>,
}

/// One line's (queue and medium) share of an outcome, with the rates the monitor's observations taught.
#[derive(Debug, Clone)]
pub struct Line {
    /// Figures over this line's measured clients (`n` of them; `floor` is the line's own M/M/s+M floor).
    pub outcome: Outcome,
    /// The line's key in the monitor.
    pub key: QueueKey,
    /// True service and abandonment rates (1/s).
    pub true_mu: f64,
    /// True abandonment rate (1/s; zero for clients who never abandon).
    pub true_theta: f64,
    /// μ learned from the monitor's observations of this key over the whole run (a `RateBook` with a
    /// half-life far longer than the run, fed the same observations as the predictors).
    pub learned_mu: f64,
    /// θ learned likewise.
    pub learned_theta: f64,
}

impl Outcome {
    /// Mean delay (s).
    pub fn mean_wait(&self) -> f64 {
        self.sum_w / self.n.max(1) as f64
    }

    /// Index of a predictor by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.predictors.iter().position(|p| p.name == name)
    }

    /// Average squared error of predictor `i` (s²).
    pub fn ase(&self, i: usize) -> f64 {
        self.predictors[i].sq / self.n.max(1) as f64
    }

    /// RASE: ASE over the squared mean delay.
    pub fn rase(&self, i: usize) -> f64 {
        self.ase(i) / self.mean_wait().powi(2)
    }

    /// Mean absolute error (s).
    pub fn mae(&self, i: usize) -> f64 {
        self.predictors[i].abs / self.n.max(1) as f64
    }

    /// Mean error (s): positive overestimates.
    pub fn bias(&self, i: usize) -> f64 {
        self.predictors[i].bias / self.n.max(1) as f64
    }

    /// Half-width of a 95 % confidence interval of RASE of predictor `i`, by batch means.
    pub fn rase_ci(&self, i: usize) -> f64 {
        let b: Vec<f64> = self
            .batches
            .iter()
            .zip(&self.predictors[i].batch_sq)
            .filter(|((n, w), _)| *n > 0 && *w > 0.0)
            .map(|((n, w), sq)| (sq / *n as f64) / (w / *n as f64).powi(2))
            .collect();
        let k = b.len() as f64;
        if k < 2.0 {
            return f64::NAN;
        }
        let m = b.iter().sum::<f64>() / k;
        let var = b.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (k - 1.0);
        // t(0.975) for about 20 batches.
        2.09 * (var / k).sqrt()
    }
}

/// Forwards the monitor's observations to every predictor, so all learn from exactly the same events, and
/// to a rate book that keeps the whole run (the learned rates per line in the outcome).
struct Tap(Arc<Mutex<Vec<Box<dyn HoldTimeEstimator>>>>, Arc<Mutex<RateBook>>);

impl HoldTimeEstimator for Tap {
    fn name(&self) -> &'static str {
        "tap"
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        for e in self.0.lock().expect("not poisoned").iter_mut() {
            e.observe(key, now, obs);
        }
        self.1.lock().expect("not poisoned").observe(key, now, obs);
    }

    fn estimate(&self, key: &QueueKey, snapshot: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        let panel = self.0.lock().expect("not poisoned");
        let e = panel.iter().find(|e| e.name() == "adaptive").or(panel.last())?;
        e.estimate(key, snapshot, ahead)
    }
}

/// A predictor whose learning ignores the medium: every observation and question goes to the queue's
/// voice key, while the live snapshot (agents, clients waiting) stays the medium's own. It shows what
/// keying rates by queue alone would cost where media differ (callbacks are far more patient than callers).
pub struct MediaPooled<E> {
    name: &'static str,
    inner: E,
}

impl<E: HoldTimeEstimator> MediaPooled<E> {
    /// Wraps `inner`, reporting as `name`.
    pub fn new(name: &'static str, inner: E) -> Self {
        MediaPooled { name, inner }
    }
}

fn pooled_key(key: &QueueKey) -> QueueKey {
    QueueKey { queue: key.queue.clone(), medium: Medium::Voice }
}

impl<E: HoldTimeEstimator> HoldTimeEstimator for MediaPooled<E> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn observe(&mut self, key: &QueueKey, now: Timestamp, obs: Observation) {
        self.inner.observe(&pooled_key(key), now, obs);
    }

    fn estimate(&self, key: &QueueKey, snapshot: &QueueSnapshot, ahead: u32) -> Option<Duration> {
        self.inner.estimate(&pooled_key(key), snapshot, ahead)
    }
}

/// `ql-m` and `adaptive` with default settings, learning with media pooled (see [`MediaPooled`]).
pub fn media_pooled_estimators() -> Vec<Box<dyn HoldTimeEstimator>> {
    vec![
        Box::new(MediaPooled::new("ql-m pooled", QueueLength::new(RateSettings::default()))),
        Box::new(MediaPooled::new("adaptive pooled", Adaptive::new(AdaptiveSettings::default()))),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Arrival(usize),
    End(usize),
    Abandon(usize),
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    t: f64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Waiting,
    /// Abandoned but still holding its place, so that its potential delay is seen when it would have been served.
    Ghost,
    InService,
    Done,
}

#[derive(Debug, Clone)]
struct Client {
    arrival: f64,
    queue: usize,
    state: State,
    /// Index among measured clients, if measured.
    measured: Option<usize>,
}

struct Agent {
    id: AgentId,
    skills: Vec<usize>,
    client: Option<usize>,
}

struct Sim<'a> {
    sc: &'a Scenario,
    rng: SmallRng,
    heap: BinaryHeap<Ev>,
    seq: u64,
    monitor: StatusMonitor,
    panel: Arc<Mutex<Vec<Box<dyn HoldTimeEstimator>>>>,
    keys: Vec<QueueKey>,
    qids: Vec<QueueId>,
    true_rates: Vec<(f64, f64)>,
    clients: Vec<Client>,
    agents: Vec<Agent>,
    idle: Vec<usize>,
    queues: Vec<VecDeque<usize>>,
    preds: Vec<f64>,
    npred: usize,
    out: Outcome,
    measured: usize,
    unresolved: usize,
}

fn ts(t: f64) -> Timestamp {
    Timestamp(EPOCH_MS + (t * 1000.0).round() as u64)
}

fn iid(c: usize) -> InteractionId {
    InteractionId(format!("i{c}"))
}

impl Sim<'_> {
    fn push(&mut self, t: f64, kind: Kind) {
        self.seq += 1;
        self.heap.push(Ev { t, seq: self.seq, kind });
    }

    fn feed(&mut self, t: f64, e: CenterEvent) {
        self.monitor.handle_center_event(ts(t), e).expect("the simulator only sends consistent events");
    }

    /// The client's delay is now known: score every prediction made for it, overall and on its line.
    fn resolve(&mut self, c: usize, w: f64) {
        let Some(m) = self.clients[c].measured else { return };
        self.unresolved -= 1;
        let b = m * self.out.batches.len() / self.sc.measured;
        let preds = &self.preds[m * self.npred..(m + 1) * self.npred];
        tally(&mut self.out, b, w, preds);
        let line = &mut self.out.lines[self.clients[c].queue].outcome;
        line.n += 1;
        tally(line, b, w, preds);
    }

    fn serve(&mut self, a: usize, c: usize, t: f64, was_idle: bool) {
        let w = t - self.clients[c].arrival;
        self.clients[c].state = State::InService;
        self.agents[a].client = Some(c);
        self.resolve(c, w);
        let agent = self.agents[a].id.clone();
        self.feed(t, CenterEvent::InteractionAnswered { interaction: iid(c), agent: agent.clone() });
        if was_idle {
            self.feed(t, CenterEvent::AgentStateChanged { agent, state: AgentState::Busy });
        }
        let h = self.sc.queues[self.clients[c].queue].handle.sample(&mut self.rng);
        self.push(t + h, Kind::End(a));
    }

    fn arrival(&mut self, q: usize, t: f64) {
        let next = self.sc.queues[q].arrivals.next(t, &mut self.rng);
        self.push(next, Kind::Arrival(q));
        let c = self.clients.len();
        let measured = (t >= self.sc.warmup && self.measured < self.sc.measured).then(|| {
            self.measured += 1;
            self.unresolved += 1;
            self.measured - 1
        });
        if let Some(m) = measured {
            let key = &self.keys[q];
            let snap = self.monitor.queue_snapshot(key).expect("configured");
            let panel = self.panel.lock().expect("not poisoned");
            let base = m * self.npred;
            for (i, e) in panel.iter().enumerate() {
                self.preds[base + i] = e.estimate(key, &snap, snap.holding).map_or(f64::NAN, |d| d.as_secs_f64());
            }
            let (mu, theta) = self.true_rates[q];
            self.preds[base + panel.len()] = ql_m_secs(snap.servers, snap.available, snap.holding, mu, theta);
        }
        self.clients.push(Client { arrival: t, queue: q, state: State::Waiting, measured });
        let medium = self.sc.queues[q].medium;
        self.feed(t, CenterEvent::InteractionQueued { interaction: iid(c), queue: self.qids[q].clone(), medium, client: None });
        let agents = &self.agents;
        if let Some(pos) = self.idle.iter().position(|&a| agents[a].skills.contains(&q)) {
            let a = self.idle.swap_remove(pos);
            self.serve(a, c, t, true);
        } else {
            self.queues[q].push_back(c);
            let p = self.sc.queues[q].patience.sample(&mut self.rng);
            if p.is_finite() {
                self.push(t + p, Kind::Abandon(c));
            }
        }
    }

    fn abandon(&mut self, c: usize, t: f64) {
        if self.clients[c].state == State::Waiting {
            self.clients[c].state = State::Ghost;
            let measured = usize::from(self.clients[c].measured.is_some());
            self.out.abandoned += measured;
            self.out.lines[self.clients[c].queue].outcome.abandoned += measured;
            self.feed(t, CenterEvent::InteractionAbandoned { interaction: iid(c) });
        }
    }

    fn end(&mut self, a: usize, t: f64) {
        let c = self.agents[a].client.take().expect("busy agent");
        self.clients[c].state = State::Done;
        self.feed(t, CenterEvent::InteractionEnded { interaction: iid(c) });
        // Serve the longest-waiting head among the agent's queues; ghosts at the head reach "service" now.
        loop {
            let queues = &self.queues;
            let clients = &self.clients;
            let best = self.agents[a]
                .skills
                .iter()
                .filter_map(|&q| queues[q].front().map(|&c| (clients[c].arrival, q)))
                .min_by(|x, y| x.0.total_cmp(&y.0));
            let Some((_, q)) = best else {
                self.idle.push(a);
                let agent = self.agents[a].id.clone();
                self.feed(t, CenterEvent::AgentStateChanged { agent, state: AgentState::Available });
                return;
            };
            let c = self.queues[q].pop_front().expect("non-empty");
            if self.clients[c].state == State::Ghost {
                self.clients[c].state = State::Done;
                let w = t - self.clients[c].arrival;
                self.resolve(c, w);
                continue;
            }
            self.serve(a, c, t, false);
            return;
        }
    }
}

/// Adds one scored client to `out` (whose `n` the caller keeps).
fn tally(out: &mut Outcome, b: usize, w: f64, preds: &[f64]) {
    out.sum_w += w;
    out.batches[b].0 += 1;
    out.batches[b].1 += w;
    if w > 0.0 {
        out.delayed += 1;
    }
    for (p, &pred) in out.predictors.iter_mut().zip(preds) {
        let e = pred - w;
        p.sq += e * e;
        p.abs += e.abs();
        p.bias += e;
        p.batch_sq[b] += e * e;
    }
}

/// Number of batches for confidence intervals.
const BATCHES: usize = 20;

/// Runs a scenario with every predictor of `frontdesk_core` (plus QL_m with the true rates as a reference,
/// and, where a queue takes several media, `ql-m` and `adaptive` learning with media pooled).
pub fn run(sc: &Scenario) -> Outcome {
    let mut e = all_estimators();
    if sc.mixes_media() {
        e.extend(media_pooled_estimators());
    }
    run_with(sc, e)
}

/// Runs a scenario with the given predictors.
pub fn run_with(sc: &Scenario, estimators: Vec<Box<dyn HoldTimeEstimator>>) -> Outcome {
    let started = Instant::now();
    let mut names: Vec<String> = estimators.iter().map(|e| e.name().to_string()).collect();
    names.push("ql-m*".into());
    let npred = names.len();
    let panel = Arc::new(Mutex::new(estimators));
    // Rates over the whole run: a half-life of about 300 years.
    let probe = Arc::new(Mutex::new(RateBook::new(RateSettings { half_life: Duration::from_secs(10_000_000_000), ..RateSettings::default() })));
    let monitor =
        StatusMonitor::new(MonitorConfig { refresh_interval: Duration::from_secs(5), estimator: Box::new(Tap(panel.clone(), probe.clone())) });
    let empty = |name: String, n: usize, floor: Option<Floor>| Outcome {
        name,
        n,
        sum_w: 0.0,
        delayed: 0,
        abandoned: 0,
        batches: vec![(0, 0.0); BATCHES],
        predictors: names.iter().map(|name| PredictorStats { name: name.clone(), batch_sq: vec![0.0; BATCHES], ..Default::default() }).collect(),
        floor,
        run_secs: 0.0,
        sim_secs: 0.0,
        lines: vec![],
    };
    let keys: Vec<QueueKey> = sc.queues.iter().map(|q| QueueKey { queue: QueueId(q.name.clone()), medium: q.medium }).collect();
    let true_rates: Vec<(f64, f64)> = sc.queues.iter().map(|q| (1.0 / q.handle.mean(), 1.0 / q.patience.mean())).collect();
    let mut out = empty(sc.name.clone(), sc.measured, sc.floor());
    out.lines = (0..sc.queues.len())
        .map(|i| Line {
            outcome: empty(format!("{}/{}", sc.queues[i].name, sc.queues[i].medium), 0, sc.line_floor(i)),
            key: keys[i].clone(),
            true_mu: true_rates[i].0,
            true_theta: true_rates[i].1,
            learned_mu: f64::NAN,
            learned_theta: f64::NAN,
        })
        .collect();
    let mut sim = Sim {
        sc,
        rng: SmallRng::seed_from_u64(sc.seed),
        heap: BinaryHeap::new(),
        seq: 0,
        monitor,
        panel,
        keys,
        qids: sc.queues.iter().map(|q| QueueId(q.name.clone())).collect(),
        true_rates,
        clients: Vec::new(),
        agents: Vec::new(),
        idle: Vec::new(),
        queues: vec![VecDeque::new(); sc.queues.len()],
        preds: vec![0.0; sc.measured * npred],
        npred,
        out,
        measured: 0,
        unresolved: 0,
    };
    // One monitor queue per name, taking the media of all its specs.
    for (i, q) in sc.queues.iter().enumerate() {
        if sc.queues[..i].iter().any(|p| p.name == q.name) {
            continue;
        }
        let mut media: Vec<Medium> = sc.queues.iter().filter(|p| p.name == q.name).map(|p| p.medium).collect();
        media.sort();
        media.dedup();
        sim.feed(0.0, CenterEvent::QueueConfigured { queue: sim.qids[i].clone(), name: q.name.clone(), products: vec![ProductId(q.name.clone())], media });
    }
    for g in &sc.agents {
        let mut skills: Vec<ProductId> = g.skills.iter().map(|&q| ProductId(sc.queues[q].name.clone())).collect();
        skills.sort();
        skills.dedup();
        let mut media: Vec<Medium> = g.skills.iter().map(|&q| sc.queues[q].medium).collect();
        media.sort();
        media.dedup();
        for _ in 0..g.count {
            let a = sim.agents.len();
            let id = AgentId(format!("a{a}"));
            sim.feed(0.0, CenterEvent::AgentLoggedIn { agent: id.clone(), name: id.0.clone(), skills: skills.clone(), media: media.clone() });
            sim.feed(0.0, CenterEvent::AgentStateChanged { agent: id.clone(), state: AgentState::Available });
            sim.agents.push(Agent { id, skills: g.skills.clone(), client: None });
            sim.idle.push(a);
        }
    }
    for q in 0..sc.queues.len() {
        let t = sc.queues[q].arrivals.next(0.0, &mut sim.rng);
        sim.push(t, Kind::Arrival(q));
    }
    let mut t = 0.0;
    while sim.measured < sc.measured || sim.unresolved > 0 {
        let ev = sim.heap.pop().expect("arrivals never stop");
        t = ev.t;
        match ev.kind {
            Kind::Arrival(q) => sim.arrival(q, t),
            Kind::End(a) => sim.end(a, t),
            Kind::Abandon(c) => sim.abandon(c, t),
        }
        // The monitor coalesces notifications until polled; nobody watches here, so just drain them.
        while sim.monitor.poll_event().is_some() {}
    }
    let mut out = sim.out;
    out.sim_secs = t;
    out.run_secs = started.elapsed().as_secs_f64();
    let book = probe.lock().expect("not poisoned");
    let now = ts(t);
    for l in &mut out.lines {
        let (mu, theta, _) = book.rates(&l.key, now);
        (l.learned_mu, l.learned_theta) = (mu, theta);
        (l.outcome.sim_secs, l.outcome.run_secs) = (out.sim_secs, out.run_secs);
    }
    drop(book);
    out
}
