//! A scripted agent console, for testing clients against a real server (ffi/test-c.sh runs the C
//! network client against it). It logs in over `/agent`, invites one client to a chat, waits for the
//! client to accept and write, answers, waits until the answer is delivered and the client ends the
//! interaction (or ends it itself with `--end`), and exits 0. Every step is bounded: after
//! `--timeout` seconds it says which step it was waiting for and exits 1.
//!
//!     cargo run -p frontdesk-server --example agent_bot -- \
//!         --url ws://127.0.0.1:8080 --token "$(frontdesk-server token --agent ann)" --invite alice

use clap::Parser;
use frontdesk_core::broker::AgentEvent;
use frontdesk_core::interaction::Author;
use frontdesk_core::invitation::{Invitation, InvitationState};
use frontdesk_core::status::AgentState;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_server::agent_wire::{AgentIn, AgentOut, AgentRequest, AgentResult};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "agent_bot", about = "Invites a client to a chat and answers its first message")]
struct Args {
    /// Server URL (the `/agent` endpoint is added).
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    url: String,
    /// Agent token (`frontdesk-server token --agent ID`).
    #[arg(long)]
    token: String,
    /// Client to invite.
    #[arg(long)]
    invite: String,
    /// Invitation message.
    #[arg(long, default_value = "Need help with the router?")]
    message: String,
    /// Answer to the client's first chat message.
    #[arg(long, default_value = "Unplug it for ten seconds, then plug it back in.")]
    reply: String,
    /// End the interaction after the answer is delivered, instead of waiting for the client to.
    #[arg(long)]
    end: bool,
    /// Seconds the whole script may take.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Console {
    ws: Ws,
    next: u64,
    events: Vec<AgentEvent>,
}

impl Console {
    async fn send(&mut self, f: &AgentIn) -> Result<(), String> {
        let text = serde_json::to_string(f).map_err(|e| e.to_string())?;
        self.ws.send(Message::text(text)).await.map_err(|e| format!("sending: {e}"))
    }

    async fn recv(&mut self) -> Result<AgentOut, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).map_err(|e| format!("bad frame {t}: {e}")),
                Some(Ok(Message::Close(_))) | None => return Err("the server closed the connection".into()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading: {e}")),
            }
        }
    }

    async fn request(&mut self, req: AgentRequest) -> Result<serde_json::Value, String> {
        let id = self.next;
        self.next += 1;
        self.send(&AgentIn::Request { id, req }).await?;
        loop {
            match self.recv().await? {
                AgentOut::Response { id: i, result: AgentResult::Ok(v) } if i == id => return Ok(v),
                AgentOut::Response { id: i, result: AgentResult::Err(e) } if i == id => return Err(e.message),
                AgentOut::Event { event } => self.events.push(event),
                AgentOut::Error { error, .. } => return Err(error.message),
                _ => {}
            }
        }
    }

    async fn event<T>(&mut self, f: impl Fn(&AgentEvent) -> Option<T>) -> Result<T, String> {
        if let Some((i, t)) = self.events.iter().enumerate().find_map(|(i, e)| f(e).map(|t| (i, t))) {
            self.events.remove(i);
            return Ok(t);
        }
        loop {
            if let AgentOut::Event { event } = self.recv().await? {
                if let Some(t) = f(&event) {
                    return Ok(t);
                }
                self.events.push(event);
            }
        }
    }
}

/// The script; `step` names what it is waiting for, for the timeout message.
async fn script(a: &Args, step: &mut &'static str) -> Result<(), String> {
    *step = "connecting";
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}/agent", a.url)).await.map_err(|e| format!("cannot connect: {e}"))?;
    let mut c = Console { ws, next: 1, events: vec![] };
    *step = "the welcome";
    c.send(&AgentIn::Hello { token: a.token.clone(), name: "Ann".into(), skills: vec!["router".into()], media: vec![Medium::Chat] }).await?;
    let agent = match c.recv().await? {
        AgentOut::Welcome { agent } => agent,
        other => return Err(format!("no welcome: {other:?}")),
    };
    c.request(AgentRequest::SetState { state: AgentState::Available }).await?;
    *step = "the invitation to be sent";
    let v = c.request(AgentRequest::Invite { client: a.invite.as_str().into(), medium: Medium::Chat, message: a.message.clone() }).await?;
    let inv: Invitation = serde_json::from_value(v).map_err(|e| e.to_string())?;
    println!("agent {agent}: invited {} ({})", a.invite, inv.id);
    *step = "the client to answer the invitation";
    let ix: InteractionId = c
        .event(|e| match e {
            AgentEvent::InvitationUpdated(i) if i.id == inv.id => Some(i.clone()),
            _ => None,
        })
        .await
        .and_then(|i| match (i.state, i.interaction) {
            (InvitationState::Accepted, Some(ix)) => Ok(ix),
            (s, _) => Err(format!("invitation {} ended {s:?}", i.id)),
        })?;
    println!("agent {agent}: invitation accepted, interaction {ix}");
    *step = "the client's chat message";
    let text = c
        .event(|e| match e {
            AgentEvent::Chat(m) if m.interaction == ix && matches!(m.from, Author::Client(_)) => Some(m.text.clone()),
            _ => None,
        })
        .await?;
    println!("agent {agent}: client says {text:?}");
    *step = "the answer to be sent";
    c.request(AgentRequest::SendChat { interaction: ix.clone(), text: a.reply.clone() }).await?;
    *step = "the answer to be delivered";
    c.event(|e| matches!(e, AgentEvent::ChatDelivered { interaction, .. } if *interaction == ix).then_some(())).await?;
    println!("agent {agent}: answer delivered");
    *step = "the interaction to end";
    if a.end {
        c.request(AgentRequest::End { interaction: ix }).await?;
    } else {
        c.event(|e| matches!(e, AgentEvent::Ended(li) if li.id == ix).then_some(())).await?;
        println!("agent {agent}: the client ended the interaction");
    }
    let _ = c.ws.close(None).await;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = Args::parse();
    let mut step = "starting";
    let r = tokio::time::timeout(Duration::from_secs(a.timeout), script(&a, &mut step)).await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("agent_bot: {e} (while waiting for {step})");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("agent_bot: no progress within {} s while waiting for {step}", a.timeout);
            std::process::exit(1);
        }
    }
}
