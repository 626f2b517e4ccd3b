//! Repairing a gap in `fd.out` without dropping sockets. NATS delivers at most once, so a message
//! to a gateway can vanish (a slow consumer's are dropped without a word). The leader keeps the
//! last messages it published to each gateway incarnation (`Window`); a gateway that sees a number
//! skipped holds what comes after it, asks for the missing ones on `fd.in` and delivers in number
//! order once they are back (`Reorder`). A lost *last* message has nothing after it to show the
//! gap, so the writer also announces its last number (the tail) when it falls idle: a request's
//! answer that NATS dropped on a quiet cluster is asked for again within a fraction of a second
//! instead of waiting for the next message. Only when the leader no longer has them, or they do not
//! come in time, does the gateway fall back to dropping its sockets (which then resume).

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Messages the leader keeps per gateway incarnation for resending.
pub(crate) const WINDOW_MESSAGES: usize = 1024;
/// Payload bytes the leader keeps per gateway incarnation for resending.
pub(crate) const WINDOW_BYTES: usize = 16 << 20;
/// How long a gateway holds later messages waiting for missing ones.
pub(crate) const GAP_WAIT: Duration = Duration::from_secs(2);
/// How long a writer waits idle after its last message before announcing the tail.
pub(crate) const TAIL_AFTER: Duration = Duration::from_millis(150);
/// How often an idle writer announces the tail again (the announcement may be lost too).
pub(crate) const TAIL_AGAIN: Duration = Duration::from_secs(2);
/// How long a gateway waits for a resend before asking again (the request or the answer may be
/// lost too).
const ASK_AGAIN: Duration = Duration::from_millis(500);

/// The last messages published to one gateway incarnation, by number.
#[derive(Debug)]
pub(crate) struct Window {
    /// The incarnation they went to.
    pub(crate) inc: u64,
    msgs: VecDeque<(u64, Bytes)>,
    bytes: usize,
    max_msgs: usize,
    max_bytes: usize,
}

impl Window {
    /// An empty window for incarnation `inc` keeping at most `max_msgs` messages and `max_bytes`.
    pub(crate) fn new(inc: u64, max_msgs: usize, max_bytes: usize) -> Window {
        Window { inc, msgs: VecDeque::new(), bytes: 0, max_msgs, max_bytes }
    }

    /// Keeps message `seq` (numbers only grow), forgetting the oldest past the bounds.
    pub(crate) fn push(&mut self, seq: u64, payload: Bytes) {
        self.bytes += payload.len();
        self.msgs.push_back((seq, payload));
        while self.msgs.len() > self.max_msgs || (self.bytes > self.max_bytes && self.msgs.len() > 1) {
            if let Some((_, p)) = self.msgs.pop_front() {
                self.bytes -= p.len();
            }
        }
    }

    /// Messages `from..=to` that are still kept, in order, and the first number of the range that
    /// is not (forgotten, or never sent), if any.
    pub(crate) fn get(&self, from: u64, to: u64) -> (Vec<(u64, Bytes)>, Option<u64>) {
        let mut out = vec![];
        let mut want = from;
        for (seq, p) in &self.msgs {
            if *seq < want {
                continue;
            }
            if *seq > to || *seq != want {
                break;
            }
            out.push((*seq, p.clone()));
            want += 1;
        }
        (out, (want <= to).then_some(want))
    }
}

/// Every gateway's window on the leader, by node: the writers fill them, the `fd.in` reader
/// answers resend requests from them.
pub(crate) type Windows = Arc<Mutex<HashMap<String, Arc<Mutex<Window>>>>>;

/// What a gateway makes of the numbered messages on `fd.out.<node>`.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    /// The leader's epoch and the next number to deliver.
    expect: Option<(u64, u64)>,
    /// Messages after a gap, by number, waiting for the missing ones.
    held: BTreeMap<u64, Bytes>,
    held_bytes: usize,
    /// Since when something is missing, and when it was last asked for.
    gap: Option<(Instant, Instant)>,
    /// The highest number asked for so far.
    asked_to: u64,
    /// The highest number the leader announced it sent.
    tail: u64,
    /// A resend request to make: (from, to).
    ask: Option<(u64, u64)>,
    /// Why the gap cannot be repaired: the caller drops its sockets.
    lost: Option<String>,
}

impl Reorder {
    /// Takes message `seq` of the leader of `epoch`; returns the payloads now deliverable, in order.
    pub(crate) fn receive(&mut self, epoch: u64, seq: u64, payload: Bytes, now: Instant) -> Vec<Bytes> {
        let Some(next) = self.next_of(epoch) else { return vec![] };
        if seq < next || self.held.contains_key(&seq) {
            return vec![];
        }
        if seq > next {
            self.held_bytes += payload.len();
            self.held.insert(seq, payload);
            if self.held.len() > WINDOW_MESSAGES || self.held_bytes > WINDOW_BYTES {
                self.lost = Some(format!("messages {next} to {} lost (too much held waiting for them)", seq - 1));
                return vec![];
            }
            self.missing(next, seq - 1, now);
            self.asked_to = self.asked_to.max(seq);
            return vec![];
        }
        let mut out = vec![payload];
        let mut next = next + 1;
        while let Some(p) = self.held.remove(&next) {
            self.held_bytes -= p.len();
            out.push(p);
            next += 1;
        }
        self.expect = Some((epoch, next));
        if self.held.is_empty() && next > self.tail {
            self.gap = None;
        }
        out
    }

    /// The leader of `epoch` says its last message here was `last`: any not received are missing.
    pub(crate) fn tail(&mut self, epoch: u64, last: u64, now: Instant) {
        let Some(next) = self.next_of(epoch) else { return };
        if last >= next && last > self.tail {
            self.tail = last;
            self.missing(next, last, now);
        }
    }

    /// The next number to deliver from the leader of `epoch`, or None for an older leader's.
    fn next_of(&mut self, epoch: u64) -> Option<u64> {
        match self.expect {
            Some((e, _)) if epoch < e => None,
            Some((e, next)) if epoch == e => Some(next),
            _ => {
                // A new leader numbers from 1; whatever the old one still owed is moot (the
                // gateway drops its sockets when it hears the new leader).
                *self = Reorder { expect: Some((epoch, 1)), ..Reorder::default() };
                Some(1)
            }
        }
    }

    /// Numbers up to `to` (from `next` on) are known to be missing: opens the gap and asks for
    /// those not asked for yet.
    fn missing(&mut self, next: u64, to: u64, now: Instant) {
        // Every number up to `asked_to` is asked for or held.
        let from = next.max(self.asked_to + 1);
        if to >= from {
            self.ask = Some((from, to));
        }
        self.asked_to = self.asked_to.max(to);
        let since = self.gap.map_or(now, |(s, _)| s);
        self.gap = Some((since, now));
    }

    /// The last number missing while a gap is open: just before the highest held, or the tail.
    fn missing_to(&self) -> u64 {
        self.held.keys().next_back().map_or(0, |h| h - 1).max(self.tail)
    }

    /// The leader of `epoch` no longer has message `first` (or never sent it).
    pub(crate) fn gone(&mut self, epoch: u64, first: u64) {
        if let Some((e, next)) = self.expect {
            if e == epoch && first >= next && self.gap.is_some() {
                self.lost = Some(format!("messages {next} to {} lost (the leader no longer has {first})", self.missing_to()));
            }
        }
    }

    /// Whether messages are held waiting for missing ones.
    pub(crate) fn waiting(&self) -> bool {
        self.gap.is_some()
    }

    /// A resend to ask the leader for, once.
    pub(crate) fn poll_ask(&mut self, now: Instant) -> Option<(u64, u64)> {
        if let Some(a) = self.ask.take() {
            return Some(a);
        }
        let (since, asked) = self.gap?;
        let next = self.expect?.1;
        if now.duration_since(asked) >= ASK_AGAIN {
            self.gap = Some((since, now));
            return Some((next, self.missing_to()));
        }
        None
    }

    /// Why the gap cannot be repaired (the leader lacks the messages, or the wait is over); then
    /// the caller drops its sockets and starts over with [`reset`](Self::reset).
    pub(crate) fn poll_lost(&mut self, now: Instant) -> Option<String> {
        if let Some(l) = self.lost.take() {
            return Some(l);
        }
        let (since, _) = self.gap?;
        let next = self.expect?.1;
        (now.duration_since(since) >= GAP_WAIT).then(|| format!("messages {next} to {} lost (no resend in {GAP_WAIT:?})", self.missing_to()))
    }

    /// Starts over (a new incarnation: the leader numbers it from 1).
    pub(crate) fn reset(&mut self) {
        *self = Reorder::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    #[test]
    fn the_window_keeps_the_last_messages_by_count_and_bytes() {
        let mut w = Window::new(1, 3, 100);
        for i in 1..=5 {
            w.push(i, b(&format!("m{i}")));
        }
        assert_eq!(w.get(3, 5), (vec![(3, b("m3")), (4, b("m4")), (5, b("m5"))], None));
        assert_eq!(w.get(2, 4).1, Some(2), "forgotten");
        assert_eq!(w.get(5, 7), (vec![(5, b("m5"))], Some(6)), "never sent");
        w.push(6, Bytes::from(vec![0u8; 97]));
        assert_eq!(w.get(4, 6).1, Some(4), "the bytes bound forgets older ones");
        assert_eq!(w.get(5, 6).0.len(), 2);
        // One message larger than the bound is still kept, alone.
        w.push(7, Bytes::from(vec![0u8; 500]));
        assert_eq!(w.get(7, 7).0.len(), 1);
        assert_eq!(w.get(6, 6).1, Some(6));
    }

    #[test]
    fn a_gap_is_held_asked_for_and_delivered_in_order_once() {
        let t = Instant::now();
        let mut r = Reorder::default();
        assert_eq!(r.receive(5, 1, b("1"), t), vec![b("1")]);
        assert_eq!(r.receive(5, 2, b("2"), t), vec![b("2")]);
        // 3 and 4 lost: 5 and 6 wait.
        assert!(r.receive(5, 5, b("5"), t).is_empty());
        assert_eq!(r.poll_ask(t), Some((3, 4)));
        assert!(r.receive(5, 6, b("6"), t).is_empty());
        assert_eq!(r.poll_ask(t), None, "5 and 6 asked nothing new");
        assert!(r.receive(5, 8, b("8"), t).is_empty());
        assert_eq!(r.poll_ask(t), Some((7, 7)), "only what was not asked yet");
        assert!(r.waiting());
        // Resends, out of order and doubled; the held 5 again from a resend too.
        assert!(r.receive(5, 4, b("4"), t).is_empty());
        assert!(r.receive(5, 5, b("5"), t).is_empty());
        assert_eq!(r.receive(5, 3, b("3"), t), vec![b("3"), b("4"), b("5"), b("6")]);
        assert!(r.receive(5, 3, b("3"), t).is_empty(), "a duplicate is dropped");
        assert_eq!(r.receive(5, 7, b("7"), t), vec![b("7"), b("8")]);
        assert!(!r.waiting());
        assert_eq!(r.poll_lost(t + GAP_WAIT * 2), None);
        assert_eq!(r.receive(5, 9, b("9"), t), vec![b("9")]);
        // An older leader's message is ignored; a new leader numbers from 1.
        assert!(r.receive(4, 10, b("x"), t).is_empty());
        assert_eq!(r.receive(6, 1, b("new"), t), vec![b("new")]);
    }

    #[test]
    fn a_gap_the_leader_cannot_fill_or_that_lasts_is_lost() {
        let t = Instant::now();
        let mut r = Reorder::default();
        r.receive(5, 1, b("1"), t);
        r.receive(5, 3, b("3"), t);
        assert_eq!(r.poll_ask(t), Some((2, 2)));
        assert_eq!(r.poll_lost(t + Duration::from_millis(100)), None);
        assert_eq!(r.poll_ask(t + ASK_AGAIN), Some((2, 2)), "asked again when no answer came");
        r.gone(5, 2);
        assert!(r.poll_lost(t).is_some_and(|w| w.contains("no longer has 2")));
        r.reset();
        r.receive(5, 1, b("1"), t);
        r.receive(5, 4, b("4"), t);
        assert_eq!(r.poll_lost(t + GAP_WAIT - Duration::from_millis(1)), None);
        assert!(r.poll_lost(t + GAP_WAIT).is_some_and(|w| w.starts_with("messages 2 to 3 lost")));
        // "Gone" for a number already delivered changes nothing.
        let mut r = Reorder::default();
        r.receive(5, 1, b("1"), t);
        r.gone(5, 1);
        assert_eq!(r.poll_lost(t), None);
    }

    #[test]
    fn a_lost_last_message_is_seen_from_the_tail_and_asked_for() {
        let t = Instant::now();
        let mut r = Reorder::default();
        r.receive(5, 1, b("1"), t);
        r.tail(5, 1, t);
        assert!(!r.waiting(), "nothing missing");
        // 2 and 3 were the last ones sent, and both lost: only the tail shows it.
        r.tail(5, 3, t);
        assert!(r.waiting());
        assert_eq!(r.poll_ask(t), Some((2, 3)));
        assert_eq!(r.poll_ask(t + ASK_AGAIN), Some((2, 3)), "asked again when no answer came");
        r.tail(5, 3, t);
        assert_eq!(r.poll_ask(t), None, "the same tail again asks nothing new");
        assert_eq!(r.receive(5, 2, b("2"), t), vec![b("2")]);
        assert!(r.waiting(), "3 still missing");
        assert_eq!(r.receive(5, 3, b("3"), t), vec![b("3")]);
        assert!(!r.waiting());
        // Not repaired in time: lost, with its range.
        r.tail(5, 4, t);
        assert!(r.poll_lost(t + GAP_WAIT).is_some_and(|w| w.starts_with("messages 4 to 4 lost")));
        // A tail from before this incarnation's first message: everything up to it is missing.
        let mut r = Reorder::default();
        r.tail(7, 2, t);
        assert_eq!(r.poll_ask(t), Some((1, 2)));
        // An older leader's tail is ignored.
        let mut r = Reorder::default();
        r.receive(5, 1, b("1"), t);
        r.tail(4, 9, t);
        assert!(!r.waiting());
    }
}
