//! `frontdesk-cli`: a terminal client or agent console for a frontdesk server, so two terminals can
//! hold a conversation through it.
//!
//!     frontdesk-cli client --token <client token> [--url ws://127.0.0.1:8080]
//!     frontdesk-cli agent  --token <agent token>  [--url ws://127.0.0.1:8080] [--name Ann]
//!
//! Type `help` for commands.

use clap::{Parser, Subcommand};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::driver::client_driver;
use frontdesk_core::interaction::{Author, InteractionState};
use frontdesk_core::protocol::{AgentEvent, AgentRequest, Event, Response};
use frontdesk_core::status::{AgentState, CenterStatus};
use frontdesk_core::{InteractionId, Medium};
use frontdesk_net::ws::WsConnector;
use frontdesk_net::TokioRuntime;
use frontdesk_server::console::{AgentConsole, ConsoleEvent};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(name = "frontdesk-cli", about = "Terminal client or agent console for a frontdesk server")]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Be a customer.
    Client {
        /// Client token (see `frontdesk-server token --client ID`).
        #[arg(long)]
        token: String,
        /// Server URL.
        #[arg(long, default_value = "ws://127.0.0.1:8080")]
        url: String,
    },
    /// Be an agent.
    Agent {
        /// Agent token (see `frontdesk-server token --agent ID`).
        #[arg(long)]
        token: String,
        /// Server URL.
        #[arg(long, default_value = "ws://127.0.0.1:8080")]
        url: String,
        /// Display name.
        #[arg(long, default_value = "Agent")]
        name: String,
    },
}

fn summary(c: &CenterStatus) -> String {
    let q: Vec<String> = c
        .queues
        .iter()
        .filter(|q| q.offered)
        .map(|q| format!("{}/{} {} free {} holding ~{}s", q.name, q.medium, q.agents_available, q.holding, q.estimated_hold_secs.map_or("?".into(), |s| format!("{s:.0}"))))
        .collect();
    format!("[status] {}", if q.is_empty() { "nothing offered right now".into() } else { q.join(" | ") })
}

#[tokio::main]
async fn main() {
    match Cli::parse().role {
        Role::Client { token, url } => client(token, url).await,
        Role::Agent { token, url, name } => agent(token, url, name).await,
    }
}

async fn client(token: String, url: String) {
    let instance = std::process::id() as u64;
    let (h, mut rx, fut) = client_driver(Client::new(ClientConfig::new(token, instance)), WsConnector::new(format!("{url}/client")), TokioRuntime);
    tokio::spawn(fut);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut current: Option<InteractionId> = None;
    println!("commands: start <chat|voice|callback|email|video> [topic] · say <text> · accept <invitation> · decline <invitation> · history · end · quit");
    loop {
        tokio::select! {
            e = rx.next() => match e {
                None => break,
                Some(ClientEvent::Connected { resumed }) => println!("[connected{}]", if resumed { ", session resumed" } else { "" }),
                Some(ClientEvent::Disconnected { .. }) => println!("[connection lost; retrying]"),
                Some(ClientEvent::Rejected(e)) => { println!("[rejected: {}]", e.message); break }
                Some(ClientEvent::Presence(d)) => if let Some(c) = d.center { println!("{}", summary(&c)) },
                Some(ClientEvent::Pushed(Event::Invitation(i))) => println!("[invitation {} from {} for {}: {} — {:?}]", i.id, i.agent_name, i.medium, i.message, i.state),
                Some(ClientEvent::Pushed(Event::Interaction(li))) => {
                    match &li.state {
                        InteractionState::Queued { position, estimated_hold_secs } => println!("[{} queued: position {position}, ~{}s]", li.medium, estimated_hold_secs.map_or("?".into(), |s| format!("{s:.0}"))),
                        InteractionState::Connected => { println!("[connected with {}]", li.agent.as_ref().map_or("?", |a| a.as_str())); current = Some(li.id.clone()); }
                        InteractionState::Ended { .. } => { println!("[interaction ended]"); current = None; }
                    }
                }
                Some(ClientEvent::Pushed(Event::Chat(m))) => if let Author::Agent(a) = &m.from { println!("{a}: {}", m.text) },
                Some(ClientEvent::Pushed(Event::Alert(a))) => println!("[alert] {}", a.message),
                Some(ClientEvent::Completed { result: Err(e), .. }) => println!("[error: {}]", e.message),
                Some(ClientEvent::Completed { result: Ok(Response::Interaction(li)), .. }) => current = Some(li.id),
                Some(ClientEvent::Completed { result: Ok(Response::Invitation(i)), .. }) => if let Some(ix) = i.interaction { current = Some(ix) },
                Some(ClientEvent::Completed { result: Ok(Response::History(v)), .. }) => for r in v { println!("  {} {} {} {}", r.started_at, r.medium, r.agent.map(|a| a.0).unwrap_or_default(), r.summary) },
                Some(_) => {}
            },
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let (cmd, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
                match cmd {
                    "start" => {
                        let (m, topic) = rest.split_once(' ').unwrap_or((rest, ""));
                        match Medium::parse(m) {
                            Some(m) => { h.with(|c| c.start_interaction(m, None, None, (!topic.is_empty()).then(|| topic.to_string()))); }
                            None => println!("which medium? chat voice video callback email"),
                        }
                    }
                    "say" => match &current { Some(ix) => { h.with(|c| c.send_chat(ix.clone(), rest)); } None => println!("no interaction yet: start chat") },
                    "accept" | "decline" => { h.with(|c| c.respond_invitation(rest.into(), cmd == "accept")); }
                    "history" => { h.with(|c| c.get_history(Default::default())); }
                    "end" => if let Some(ix) = current.take() { h.with(|c| c.end_interaction(ix)); },
                    "quit" => break,
                    "" => {}
                    _ => println!("commands: start <medium> [topic] · say <text> · accept <id> · decline <id> · history · end · quit"),
                }
            }
        }
    }
    h.shutdown();
}

async fn agent(token: String, url: String, name: String) {
    // The instance names this console's session: a console restarted with the same one resumes it.
    let instance = std::process::id() as u64;
    let login = AgentRequest::LogIn { name, skills: vec!["router".into(), "phone".into(), "tv".into()], media: vec![Medium::Chat, Medium::Voice, Medium::Callback] };
    let (console, mut rx) = AgentConsole::start(format!("{url}/agent"), ClientConfig::new(token, instance), login);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut current: Option<InteractionId> = None;
    let mut offered: Option<InteractionId> = None;
    println!("commands: ready · away · accept · invite <client> <message> · say <text> · end · quit");
    loop {
        tokio::select! {
            e = rx.recv() => match e {
                None => break,
                Some(ConsoleEvent::Connected { agent, resumed }) => println!("[connected as {agent}{}]", if resumed { ", session resumed" } else { "" }),
                Some(ConsoleEvent::Disconnected) => println!("[connection lost; retrying — your seat is kept for a while]"),
                Some(ConsoleEvent::Rejected(e)) => { println!("[rejected: {}]", e.message); break }
                Some(ConsoleEvent::LoggedIn(Ok(Response::Seat(seat)))) => {
                    println!("[logged in as {} ({:?}); type `ready` to take interactions]", seat.agent, seat.state);
                    for l in seat.live {
                        println!("[connected with {}]", l.interaction.client);
                        current = Some(l.interaction.id);
                    }
                    if let Some(o) = seat.offer { println!("[offered {} {} from {} — type accept]", o.medium, o.id, o.client); offered = Some(o.id); }
                }
                Some(ConsoleEvent::LoggedIn(Ok(_))) => println!("[logged in]"),
                Some(ConsoleEvent::LoggedIn(Err(e))) => { println!("[cannot log in: {}]", e.message); break }
                Some(ConsoleEvent::Event(event)) => match event {
                    AgentEvent::Offered(li) => { println!("[offered {} {} from {}: {} — type accept]", li.medium, li.id, li.client, li.topic.clone().unwrap_or_default()); offered = Some(li.id); }
                    AgentEvent::Connected(li) => { println!("[connected with {}]", li.client); current = Some(li.id); }
                    AgentEvent::Ended(_) => { println!("[interaction ended]"); current = None; }
                    AgentEvent::Chat(m) => println!("{}: {}", match m.from { Author::Client(c) => c.0, Author::Agent(a) => a.0 }, m.text),
                    AgentEvent::ChatDelivered { seq, .. } => println!("[delivered #{seq}]"),
                    AgentEvent::ChatRead { seq, .. } => println!("[read up to #{seq}]"),
                    AgentEvent::InvitationReceived(i) => println!("[{} invites you: {} ({})]", i.client, i.message, i.id),
                    AgentEvent::InvitationUpdated(i) => println!("[invitation {} {:?}]", i.id, i.state),
                    AgentEvent::OfferWithdrawn(_) => { println!("[offer withdrawn]"); offered = None; }
                    AgentEvent::MailFailed { seq, to, reason, .. } => println!("[message #{seq} could not be mailed to {to}: {reason}]"),
                    AgentEvent::Signal { .. } => {} // a terminal makes no calls
                    AgentEvent::Transferred { interaction, from, to, .. } => {
                        println!("[{interaction} transferred by {from} to {to:?}]");
                        if current.as_ref() == Some(&interaction) { current = None; }
                    }
                    AgentEvent::DialFailed { side, reason, .. } => println!("[callback: the {side:?} leg failed: {}]", reason.describe()),
                },
                Some(ConsoleEvent::Answered { result: Err(e), .. }) => println!("[error: {}]", e.message),
                Some(ConsoleEvent::Answered { result: Ok(Response::Interaction(li)), .. }) if li.state == InteractionState::Connected => current = Some(li.id),
                Some(ConsoleEvent::ProtocolError(e)) => println!("[error: {}]", e.message),
                Some(_) => {}
            },
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let (cmd, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
                let req = match cmd {
                    "ready" => Some(AgentRequest::SetState { state: AgentState::Available }),
                    "away" => Some(AgentRequest::SetState { state: AgentState::Away }),
                    "accept" => offered.take().map(|interaction| AgentRequest::Accept { interaction }),
                    "invite" => { let (c, msg) = rest.split_once(' ').unwrap_or((rest, "")); Some(AgentRequest::Invite { client: c.into(), medium: Medium::Chat, message: msg.into() }) }
                    "say" => current.clone().map(|interaction| AgentRequest::SendChat { interaction, text: rest.into() }),
                    "end" => current.clone().map(|interaction| AgentRequest::End { interaction }),
                    "quit" => break,
                    "" => None,
                    _ => { println!("commands: ready · away · accept · invite <client> <message> · say <text> · end · quit"); None }
                };
                if let Some(req) = req {
                    if let Err(e) = console.request(&req) {
                        println!("[error: {}]", e.message);
                    }
                }
            }
        }
    }
    // Leave the seat now rather than when the grace period runs out.
    if console.is_connected() {
        if let Ok(id) = console.request(&AgentRequest::LogOut) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), async {
                while let Some(e) = rx.recv().await {
                    if matches!(e, ConsoleEvent::Answered { id: i, .. } if i == id) {
                        break;
                    }
                }
            })
            .await;
        }
    }
    console.shutdown();
}
