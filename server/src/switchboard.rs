//! The server's side of callbacks: dials the broker owes go to the SIP dialer, and what the dialer
//! sees goes back to the broker, which owns retries, states and records.
//!
//! One task per call forwards its progress into the broker's input channel, so the broker task
//! never waits on the network.

use crate::server::Input;
use crate::sip::{self, Dialer, FailReason, Progress, Side};
use frontdesk_core::broker::Broker;
use frontdesk_core::callback::{CallSide, DialFailure, DialProgress};
use frontdesk_core::{InteractionId, Timestamp};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// What a call's task reports to the broker task.
#[derive(Debug)]
pub(crate) struct DialReport {
    interaction: InteractionId,
    dial: u32,
    progress: Option<DialProgress>,
}

/// The dials under way and the dialer that places them.
pub(crate) struct Switchboard {
    dialer: Option<Dialer>,
    /// Calls under way: their dial number and the way to hang them up.
    calls: HashMap<InteractionId, (u32, oneshot::Sender<()>)>,
    woken: bool,
    tx: mpsc::UnboundedSender<Input>,
}

impl Switchboard {
    /// Binds the dialer when SIP is configured; without it the broker leaves callbacks to agents.
    pub(crate) async fn start(cfg: Option<&sip::SipConfig>, tx: mpsc::UnboundedSender<Input>) -> Result<Self, String> {
        let dialer = match cfg {
            Some(c) => {
                let d = Dialer::bind(c.clone()).await.map_err(|e| e.to_string())?;
                info!(addr = %d.local_addr(), trunk = %c.trunk.uri, "SIP dialer for callbacks");
                Some(d)
            }
            None => None,
        };
        // Dials owed from before a restart are picked up on the first pump.
        Ok(Switchboard { dialer, calls: HashMap::new(), woken: true, tx })
    }

    /// The dialer's bound address, if SIP is on.
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.dialer.as_ref().map(Dialer::local_addr)
    }

    /// The broker owes a dial.
    pub(crate) fn wake(&mut self) {
        self.woken = true;
    }

    /// A callback ended in the app: hang up its legs.
    pub(crate) fn cancel(&mut self, interaction: &InteractionId) {
        if let Some((_, h)) = self.calls.remove(interaction) {
            let _ = h.send(());
        }
    }

    /// Places the dials owed; true if it did anything.
    pub(crate) fn pump(&mut self, broker: &mut Broker, now: Timestamp) -> bool {
        if !std::mem::take(&mut self.woken) {
            return false;
        }
        let Some(dialer) = &self.dialer else { return false };
        let dials = broker.take_dials(now);
        for d in &dials {
            let mut handle = dialer.place(sip::Callback { id: d.interaction.to_string(), agent_uri: d.agent_phone.clone(), customer_number: d.number.clone() });
            let (tx, interaction, dial) = (self.tx.clone(), d.interaction.clone(), d.dial);
            let (cancel_tx, mut cancel_rx) = oneshot::channel::<()>();
            tokio::spawn(async move {
                let mut cancelled = false;
                loop {
                    tokio::select! {
                        p = handle.next() => match p {
                            Some(p) => {
                                let _ = tx.send(Input::Dial(DialReport { interaction: interaction.clone(), dial, progress: progress(p) }));
                            }
                            None => break,
                        },
                        // Cancelled (or the switchboard gone): the dialer hangs up and still
                        // reports the end, which the loop forwards.
                        _ = &mut cancel_rx, if !cancelled => {
                            cancelled = true;
                            handle.cancel();
                        }
                    }
                }
            });
            if let Some((_, old)) = self.calls.insert(d.interaction.clone(), (d.dial, cancel_tx)) {
                let _ = old.send(());
            }
        }
        !dials.is_empty()
    }

    /// A call's task reported.
    pub(crate) fn handle(&mut self, broker: &mut Broker, now: Timestamp, r: DialReport) {
        let Some(p) = r.progress else { return };
        let last = matches!(p, DialProgress::Ended { .. } | DialProgress::Failed { .. });
        if last && self.calls.get(&r.interaction).is_some_and(|(d, _)| *d == r.dial) {
            self.calls.remove(&r.interaction);
        }
        if let Err(e) = broker.center_dial_progress(now, &r.interaction, r.dial, p) {
            // A cancelled call's own end, or a report of a dial that was given up.
            if !last {
                warn!(interaction = %r.interaction, dial = r.dial, "dial report refused: {}", e.message);
            }
        }
    }
}

/// The broker's words for what the dialer saw; `AgentAnswered` is the moment the customer is
/// dialled, which the broker learns from `CustomerRinging`.
fn progress(p: Progress) -> Option<DialProgress> {
    let side = |s: Side| if s == Side::Agent { CallSide::Agent } else { CallSide::Customer };
    Some(match p {
        Progress::AgentRinging => DialProgress::AgentRinging,
        Progress::AgentAnswered => return None,
        Progress::CustomerRinging => DialProgress::CustomerRinging,
        Progress::Connected => DialProgress::Connected,
        Progress::Ended { by, .. } => DialProgress::Ended { by: side(by) },
        Progress::Failed { leg, reason } => DialProgress::Failed {
            side: side(leg),
            reason: match reason {
                FailReason::Busy => DialFailure::Busy,
                FailReason::NoAnswer => DialFailure::NoAnswer,
                FailReason::Rejected(_) => DialFailure::Rejected,
                FailReason::Unreachable => DialFailure::Unreachable,
                FailReason::Cancelled => DialFailure::Cancelled,
            },
        },
    })
}
