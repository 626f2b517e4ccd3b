//! One callback's ladder: agent first, then the customer, then the agent's media re-pointed at
//! the customer. Each leg is a client INVITE dialog of the SIP stack; this file decides what
//! their responses mean for the callback.

use super::sdp;
use super::{Callback, FailReason, Progress, Side, SipConfig, SipError};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::uri::Auth;
use rsipstack::sip::{Header, StatusCode, StatusCodeKind, Uri};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What every call of one dialer uses.
pub(super) struct Shared {
    pub cfg: SipConfig,
    pub layer: Arc<DialogLayer>,
    pub local: SocketAddr,
    pub trunk: Uri,
}

/// Parses the trunk URI once, at bind, so a typo fails the configuration and not every call.
pub(super) fn trunk_uri(uri: &str) -> Result<Uri, SipError> {
    Uri::try_from(uri).map_err(|e| SipError::BadUri { uri: uri.to_string(), reason: e.to_string() })
}

/// Runs one callback to its end and reports the last step.
pub(super) async fn run(sh: Arc<Shared>, cb: Callback, out: UnboundedSender<Progress>, cancel: CancellationToken) {
    let started = Instant::now();
    let last = ladder(&sh, &cb, &out, &cancel).await;
    info!(callback = %cb.id, outcome = ?last, elapsed_ms = started.elapsed().as_millis() as u64, "callback finished");
    out.send(last).ok();
}

async fn ladder(sh: &Shared, cb: &Callback, out: &UnboundedSender<Progress>, cancel: &CancellationToken) -> Progress {
    let emit = |p: Progress| {
        debug!(callback = %cb.id, progress = ?p);
        out.send(p).ok();
    };
    let session = session_id();
    let fail = |leg, reason| Progress::Failed { leg, reason };

    // 1. The agent, with an offer that sends nowhere: the phone answers with its own SDP.
    let agent_uri = match Uri::try_from(cb.agent_uri.as_str()) {
        Ok(u) => u,
        Err(e) => {
            warn!(callback = %cb.id, uri = %cb.agent_uri, error = %e, "agent URI does not parse");
            return fail(Side::Agent, FailReason::Rejected(400));
        }
    };
    let opt = InviteOption {
        caller_display_name: Some(cb.customer_number.clone()),
        caller: sh.own_uri(&sh.cfg.agent_caller_user),
        callee: agent_uri,
        contact: sh.own_uri("frontdesk"),
        content_type: Some("application/sdp".into()),
        offer: Some(sdp::black_hole_offer(session)),
        ..Default::default()
    };
    let mut agent = match Leg::dial(sh, Side::Agent, opt) {
        Ok(l) => l,
        Err(reason) => return fail(Side::Agent, reason),
    };
    let agent_sdp = loop {
        tokio::select! {
            ev = agent.next() => match ev {
                LegEvent::Ringing => emit(Progress::AgentRinging),
                LegEvent::Answered(sdp) => break sdp,
                LegEvent::Failed(reason) => return fail(Side::Agent, reason),
                LegEvent::Ended => return fail(Side::Agent, FailReason::Unreachable),
            },
            _ = cancel.cancelled() => {
                agent.teardown(sh).await;
                return fail(Side::Center, FailReason::Cancelled);
            }
        }
    };
    if !agent.rang {
        emit(Progress::AgentRinging);
    }
    debug!(callback = %cb.id, media = ?sdp::connection_addresses(&agent_sdp), "agent answered");
    emit(Progress::AgentAnswered);

    // 2. The customer, offered the agent's real SDP.
    let offer = match sdp::relay(&agent_sdp, session, 1, true) {
        Ok(o) => o,
        Err(e) => {
            warn!(callback = %cb.id, error = %e, "agent's SDP");
            agent.teardown(sh).await;
            return fail(Side::Agent, FailReason::Rejected(488));
        }
    };
    let opt = InviteOption {
        caller: sh.caller_id_uri(),
        callee: sh.customer_uri(&cb.customer_number),
        contact: sh.own_uri("frontdesk"),
        content_type: Some("application/sdp".into()),
        offer: Some(offer),
        credential: sh.credential(),
        ..Default::default()
    };
    let mut customer = match Leg::dial(sh, Side::Customer, opt) {
        Ok(l) => l,
        Err(reason) => {
            agent.teardown(sh).await;
            return fail(Side::Customer, reason);
        }
    };
    let customer_sdp = loop {
        tokio::select! {
            ev = customer.next() => match ev {
                LegEvent::Ringing => emit(Progress::CustomerRinging),
                LegEvent::Answered(sdp) => break sdp,
                LegEvent::Failed(reason) => {
                    agent.teardown(sh).await;
                    return fail(Side::Customer, reason);
                }
                LegEvent::Ended => {
                    agent.teardown(sh).await;
                    return fail(Side::Customer, FailReason::Unreachable);
                }
            },
            ev = agent.next() => if let LegEvent::Ended = ev {
                // The agent hung up while the customer rang: nobody to connect the customer to.
                customer.teardown(sh).await;
                return fail(Side::Agent, FailReason::Cancelled);
            },
            _ = cancel.cancelled() => {
                tokio::join!(customer.teardown(sh), agent.teardown(sh));
                return fail(Side::Center, FailReason::Cancelled);
            }
        }
    };
    if !customer.rang {
        emit(Progress::CustomerRinging);
    }
    debug!(callback = %cb.id, media = ?sdp::connection_addresses(&customer_sdp), "customer answered");

    // 3. The agent's media re-pointed at the customer: a re-INVITE offering the customer's answer.
    let reoffer = sdp::relay(&customer_sdp, session, 2, false);
    let reinvited = match reoffer {
        Ok(body) => {
            let ct = vec![Header::ContentType("application/sdp".into())];
            match tokio::time::timeout(sh.cfg.reach_timeout * 2, agent.dialog.reinvite(Some(ct), Some(body))).await {
                Ok(Ok(Some(resp))) if resp.status_code.kind() == StatusCodeKind::Successful => Ok(()),
                Ok(Ok(Some(resp))) => Err(FailReason::Rejected(resp.status_code.code())),
                Ok(Ok(None)) => Err(FailReason::Cancelled),
                Ok(Err(e)) => {
                    warn!(callback = %cb.id, error = %e, "re-INVITE to the agent");
                    Err(FailReason::Unreachable)
                }
                Err(_) => Err(FailReason::Unreachable),
            }
        }
        Err(e) => {
            warn!(callback = %cb.id, error = %e, "customer's SDP");
            Err(FailReason::Rejected(488))
        }
    };
    if let Err(reason) = reinvited {
        tokio::join!(customer.teardown(sh), agent.teardown(sh));
        return fail(Side::Agent, reason);
    }
    emit(Progress::Connected);
    let connected = Instant::now();

    // 4. Connected until either phone hangs up or we are told to end it.
    let by = loop {
        tokio::select! {
            ev = agent.next() => if let LegEvent::Ended = ev {
                customer.teardown(sh).await;
                break Side::Agent;
            },
            ev = customer.next() => if let LegEvent::Ended = ev {
                agent.teardown(sh).await;
                break Side::Customer;
            },
            _ = cancel.cancelled() => {
                tokio::join!(customer.teardown(sh), agent.teardown(sh));
                break Side::Center;
            }
        }
    };
    Progress::Ended { by, duration: connected.elapsed() }
}

impl Shared {
    /// A URI of ours: `sip:user@<listen address>`.
    fn own_uri(&self, user: &str) -> Uri {
        Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(Auth { user: user.to_string(), password: None }),
            host_with_port: self.local.into(),
            params: vec![],
            headers: vec![],
        }
    }

    /// The trunk's URI with the customer's number as its user part.
    fn customer_uri(&self, number: &str) -> Uri {
        let mut uri = self.trunk.clone();
        uri.auth = Some(Auth { user: number.to_string(), password: None });
        uri
    }

    /// The From of the customer's leg: the caller id at the trunk's host, as trunks expect.
    fn caller_id_uri(&self) -> Uri {
        let trunk = &self.cfg.trunk;
        let user = trunk.caller_id.clone().or_else(|| trunk.user.clone()).unwrap_or_else(|| "frontdesk".into());
        let mut uri = self.trunk.clone();
        uri.auth = Some(Auth { user, password: None });
        uri.params.clear();
        uri
    }

    fn credential(&self) -> Option<Credential> {
        let t = &self.cfg.trunk;
        Some(Credential { username: t.user.clone()?, password: t.password.clone()?, realm: None, auth_username: None })
    }
}

/// A new SDP session id per callback; uniqueness only matters per phone.
fn session_id() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) & 0x7fff_ffff_ffff
}

/// What one leg did, as far as the callback cares.
enum LegEvent {
    /// 180 or 183.
    Ringing,
    /// 2xx, with the phone's SDP.
    Answered(Vec<u8>),
    /// A final failure, or no answer in time.
    Failed(FailReason),
    /// The answered leg is over (the phone sent BYE, or its dialog timed out).
    Ended,
}

/// One outgoing INVITE dialog and the timers the callback puts on it.
struct Leg {
    side: Side,
    dialog: InviteDialog,
    states: DialogStateReceiver,
    states_open: bool,
    invite: Option<JoinHandle<InviteAsyncResult>>,
    heard: bool,
    rang: bool,
    answered: bool,
    reach_by: tokio::time::Instant,
    ring_by: tokio::time::Instant,
    /// Set once we sent CANCEL: the reason to report, and how long to wait for the 487.
    cancelling: Option<(FailReason, tokio::time::Instant)>,
}

impl Leg {
    fn dial(sh: &Shared, side: Side, opt: InviteOption) -> Result<Leg, FailReason> {
        let (state_tx, states) = sh.layer.new_dialog_state_channel();
        let (dialog, invite) = sh.layer.do_invite_async(opt, state_tx).map_err(|e| {
            warn!(?side, error = %e, "INVITE not sent");
            FailReason::Unreachable
        })?;
        let now = tokio::time::Instant::now();
        Ok(Leg {
            side,
            dialog,
            states,
            states_open: true,
            invite: Some(invite),
            heard: false,
            rang: false,
            answered: false,
            reach_by: now + sh.cfg.reach_timeout,
            ring_by: now + sh.cfg.ring_timeout,
            cancelling: None,
        })
    }

    /// Waits for the next thing that matters; cancel-safe, so it can race the other leg.
    async fn next(&mut self) -> LegEvent {
        loop {
            let pending = self.invite.is_some();
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            let reach_by = if pending && !self.heard && self.cancelling.is_none() { self.reach_by } else { far };
            let ring_by = if pending && self.cancelling.is_none() { self.ring_by } else { far };
            let give_up_by = match self.cancelling {
                Some((_, by)) if pending => by,
                _ => far,
            };
            tokio::select! {
                state = self.states.recv(), if self.states_open => match state {
                    None => self.states_open = false,
                    Some(state) => if let Some(ev) = self.on_state(state) { return ev },
                },
                done = async { self.invite.as_mut().expect("guarded by pending").await }, if pending => {
                    self.invite = None;
                    return self.on_final(done);
                }
                _ = sleep_until(reach_by) => {
                    debug!(side = ?self.side, "no response at all: unreachable");
                    // The stack CANCELs as soon as a provisional arrives, or BYEs a late 2xx.
                    self.detach_cancel();
                    self.invite = None;
                    return LegEvent::Failed(FailReason::Unreachable);
                }
                _ = sleep_until(ring_by) => {
                    debug!(side = ?self.side, "rang too long: CANCEL");
                    self.detach_cancel();
                    self.cancelling = Some((FailReason::NoAnswer, tokio::time::Instant::now() + Duration::from_secs(4)));
                }
                _ = sleep_until(give_up_by) => {
                    let reason = self.cancelling.map(|(r, _)| r).unwrap_or(FailReason::Unreachable);
                    self.invite = None;
                    return LegEvent::Failed(reason);
                }
            }
        }
    }

    fn on_state(&mut self, state: DialogState) -> Option<LegEvent> {
        match state {
            DialogState::Trying(_) => self.heard = true,
            DialogState::Early(_, resp) => {
                self.heard = true;
                if matches!(resp.status_code, StatusCode::Ringing | StatusCode::SessionProgress) && !self.rang {
                    self.rang = true;
                    return Some(LegEvent::Ringing);
                }
            }
            DialogState::Updated(_, _, handle) => {
                // A phone's own re-INVITE would need the other phone's answer; refusing it keeps
                // the session as it was (RFC 3261 §14.2).
                tokio::spawn(async move { handle.reply(StatusCode::NotAcceptableHere).await.ok() });
            }
            DialogState::Info(_, _, handle) | DialogState::Options(_, _, handle) | DialogState::Notify(_, _, handle) => {
                tokio::spawn(async move { handle.reply(StatusCode::OK).await.ok() });
            }
            DialogState::Message(_, _, handle) | DialogState::Refer(_, _, handle) | DialogState::Publish(_, _, handle) => {
                tokio::spawn(async move { handle.reply(StatusCode::NotImplemented).await.ok() });
            }
            DialogState::Terminated(_, reason) if self.answered => {
                debug!(side = ?self.side, ?reason, "answered leg ended");
                if !matches!(reason, TerminatedReason::UacBye | TerminatedReason::UacCancel) {
                    return Some(LegEvent::Ended);
                }
            }
            _ => {}
        }
        None
    }

    fn on_final(&mut self, done: Result<InviteAsyncResult, tokio::task::JoinError>) -> LegEvent {
        let cancelled = self.cancelling.map(|(r, _)| r);
        let status = match done {
            Ok(Ok((_, Some(resp)))) => {
                if resp.status_code.kind() == StatusCodeKind::Successful && cancelled.is_none() {
                    self.answered = true;
                    self.heard = true;
                    return LegEvent::Answered(resp.body);
                }
                resp.status_code.code()
            }
            Ok(Ok((_, None))) => 0,
            Ok(Err(e)) => {
                debug!(side = ?self.side, error = %e, "INVITE failed");
                0
            }
            Err(e) => {
                warn!(side = ?self.side, error = %e, "INVITE task");
                0
            }
        };
        LegEvent::Failed(cancelled.unwrap_or_else(|| fail_reason(status)))
    }

    /// CANCELs without waiting: the INVITE task sees the 487 through and ACKs it.
    fn detach_cancel(&self) {
        let dialog = self.dialog.clone();
        tokio::spawn(async move {
            if let Err(e) = dialog.cancel().await {
                debug!(error = %e, "CANCEL");
            }
        });
    }

    /// Ends this leg whatever its state: CANCEL while it rings, BYE once answered.
    async fn teardown(&mut self, sh: &Shared) {
        if self.answered {
            if let Err(e) = tokio::time::timeout(sh.cfg.reach_timeout, self.dialog.bye()).await.unwrap_or(Ok(())) {
                debug!(side = ?self.side, error = %e, "BYE");
            }
        } else if self.invite.is_some() {
            if let Err(e) = tokio::time::timeout(sh.cfg.reach_timeout, self.dialog.cancel()).await.unwrap_or(Ok(())) {
                debug!(side = ?self.side, error = %e, "CANCEL");
            }
        }
        // The INVITE task is left to finish (ACK the 487, or BYE a 2xx that crossed the CANCEL).
        self.invite = None;
        self.answered = false;
    }
}

/// A final failure status as a callback outcome.
fn fail_reason(status: u16) -> FailReason {
    match status {
        486 | 600 => FailReason::Busy,
        408 | 480 => FailReason::NoAnswer,
        0 | 502..=504 => FailReason::Unreachable,
        487 => FailReason::Cancelled,
        code => FailReason::Rejected(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(fail_reason(486), FailReason::Busy);
        assert_eq!(fail_reason(600), FailReason::Busy);
        assert_eq!(fail_reason(480), FailReason::NoAnswer);
        assert_eq!(fail_reason(503), FailReason::Unreachable);
        assert_eq!(fail_reason(0), FailReason::Unreachable);
        assert_eq!(fail_reason(403), FailReason::Rejected(403));
        assert_eq!(FailReason::Rejected(404).outcome(), "rejected");
        assert!(FailReason::Busy.retryable() && !FailReason::Rejected(404).retryable());
    }
}
