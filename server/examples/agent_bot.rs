//! A scripted agent console, for testing clients against a real server (ffi/test-c.sh runs the C
//! network client against it). It opens an agent session on `/agent` and takes a seat (`log_in`), invites one client to a chat, waits for the
//! client to accept and write, answers, waits until the answer is delivered and the client ends the
//! interaction (or ends it itself with `--end`), and exits 0. Every step is bounded: after
//! `--timeout` seconds it says which step it was waiting for and exits 1.
//!
//!     cargo run -p frontdesk-server --example agent_bot -- \
//!         --url ws://127.0.0.1:8080 --token "$(frontdesk-server token --agent ann)" --invite alice

use clap::Parser;
use frontdesk_core::client::ClientConfig;
use frontdesk_core::interaction::Author;
use frontdesk_core::invitation::InvitationState;
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::{InteractionId, Medium};
use frontdesk_server::console::{AgentConsole, ConsoleEvent};
use std::time::Duration;

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

struct Console {
    console: AgentConsole,
    rx: tokio::sync::mpsc::UnboundedReceiver<ConsoleEvent>,
    events: Vec<AgentEvent>,
}

impl Console {
    async fn next(&mut self) -> Result<ConsoleEvent, String> {
        match self.rx.recv().await {
            Some(ConsoleEvent::Rejected(e)) => Err(format!("refused: {}", e.message)),
            Some(ConsoleEvent::LoggedIn(Err(e))) => Err(format!("cannot log in: {}", e.message)),
            Some(e) => Ok(e),
            None => Err("the console stopped".into()),
        }
    }

    async fn request(&mut self, req: AgentRequest) -> Result<Response, String> {
        let id = self.console.request(&req).map_err(|e| e.message)?;
        loop {
            match self.next().await? {
                ConsoleEvent::Answered { id: i, result } if i == id => return result.map_err(|e| e.message),
                ConsoleEvent::Event(event) => self.events.push(event),
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
            if let ConsoleEvent::Event(event) = self.next().await? {
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
    let login = AgentRequest::LogIn { name: "Ann".into(), skills: vec!["router".into()], media: vec![Medium::Chat] };
    let (console, rx) = AgentConsole::start(format!("{}/agent", a.url), ClientConfig::new(a.token.clone(), std::process::id() as u64), login);
    let mut c = Console { console, rx, events: vec![] };
    *step = "the welcome";
    let agent = loop {
        match c.next().await? {
            ConsoleEvent::Connected { agent, .. } => break agent,
            ConsoleEvent::Disconnected => return Err("cannot connect".into()),
            _ => {}
        }
    };
    *step = "the seat";
    loop {
        if let ConsoleEvent::LoggedIn(Ok(_)) = c.next().await? {
            break;
        }
    }
    c.request(AgentRequest::SetState { state: AgentState::Available }).await?;
    *step = "the invitation to be sent";
    let Response::Invitation(inv) = c.request(AgentRequest::Invite { client: a.invite.as_str().into(), medium: Medium::Chat, message: a.message.clone() }).await? else {
        return Err("the invitation was answered with something else".into());
    };
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
    *step = "logging out";
    c.request(AgentRequest::LogOut).await?;
    c.console.shutdown();
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
