//! The async driver over the in-memory transport, with a real clock and thread timers.

use frontdesk_core::broker::{AgentEvent, BrokerEvent};
use frontdesk_core::client::{Client, ClientConfig, ClientEvent};
use frontdesk_core::driver::{broker_driver, client_driver, Runtime};
use frontdesk_core::interaction::InteractionState;
use frontdesk_core::protocol::{Event, Response};
use frontdesk_core::status::AgentState;
use frontdesk_core::transport::memory;
use frontdesk_core::{Medium, Timestamp};
use frontdesk_tests::{token, Fixture};
use futures::executor::ThreadPool;
use futures::future::{BoxFuture, FutureExt};
use futures::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone)]
struct ThreadRuntime;

impl Runtime for ThreadRuntime {
    fn now(&self) -> Timestamp {
        Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
    }
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let d = Duration::from_millis(at.0.saturating_sub(self.now().0));
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            let _ = tx.send(());
        });
        rx.map(|_| ()).boxed()
    }
}

async fn next_matching<T: Clone>(rx: &mut futures::channel::mpsc::UnboundedReceiver<T>, f: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(std::time::Instant::now() < deadline, "timed out");
        let e = rx.next().await.expect("driver stopped");
        if f(&e) {
            return e;
        }
    }
}

#[test]
fn client_and_broker_drivers_run_the_flow_over_in_memory_transport() {
    let pool = ThreadPool::new().unwrap();
    let (connector, listener) = memory::listener();
    let broker = Fixture::new().hub.broker;
    let (bh, mut bev, bfut) = broker_driver(broker, listener, ThreadRuntime);
    pool.spawn_ok(bfut);
    let (ch, mut cev, cfut) = client_driver(Client::new(ClientConfig::new(token("alice"), 1)), connector.clone(), ThreadRuntime);
    pool.spawn_ok(cfut);
    futures::executor::block_on(async {
        next_matching(&mut cev, |e| matches!(e, ClientEvent::Synced)).await;
        let rt = ThreadRuntime;
        bh.with(|b| b.agent_set_state(rt.now(), &"ann".into(), AgentState::Available)).unwrap();
        let id = ch.with(|c| c.start_interaction(Medium::Chat, Some("router".into()), None, Some("help".into())));
        let e = next_matching(&mut cev, |e| matches!(e, ClientEvent::Completed { id: i, .. } if *i == id)).await;
        let ClientEvent::Completed { result: Ok(Response::Interaction(li)), .. } = e else { panic!("{e:?}") };
        next_matching(&mut bev, |e| matches!(e, BrokerEvent::Agent { event: AgentEvent::Offered(_), .. })).await;
        bh.with(|b| b.agent_accept(rt.now(), &"ann".into(), &li.id)).unwrap();
        next_matching(&mut cev, |e| matches!(e, ClientEvent::Pushed(Event::Interaction(x)) if x.state == InteractionState::Connected)).await;
        // The network drops: the connector refuses, the client keeps the message and retries.
        connector.set_online(false);
        ch.with(|c| c.handle_disconnected(rt.now()));
        let id = ch.with(|c| c.send_chat(li.id.clone(), "sent while offline"));
        next_matching(&mut cev, |e| matches!(e, ClientEvent::Disconnected { .. })).await;
        connector.set_online(true);
        let e = next_matching(&mut cev, |e| matches!(e, ClientEvent::Completed { id: i, .. } if *i == id)).await;
        assert!(matches!(e, ClientEvent::Completed { result: Ok(Response::Chat(_)), .. }), "{e:?}");
        let got = next_matching(&mut bev, |e| matches!(e, BrokerEvent::Agent { event: AgentEvent::Chat(_), .. })).await;
        assert!(matches!(got, BrokerEvent::Agent { event: AgentEvent::Chat(m), .. } if m.text == "sent while offline"));
        assert_eq!(bh.with(|b| b.store().transcript(&li.id).unwrap().len()), 1);
    });
    ch.shutdown();
    bh.shutdown();
}

/// A network that refuses every dial, as a closed port does.
struct Refusing;

#[async_trait::async_trait]
impl frontdesk_core::transport::Connector for Refusing {
    async fn connect(&mut self) -> Result<frontdesk_core::transport::Transport, frontdesk_core::transport::TransportError> {
        Err(frontdesk_core::transport::TransportError::Failed("cannot connect: Connection refused".into()))
    }
}

#[test]
fn a_refused_dial_reaches_the_app_with_its_cause_before_each_disconnect_and_a_broken_connection_too() {
    use frontdesk_core::transport::TransportError;
    let pool = ThreadPool::new().unwrap();
    let mut cfg = ClientConfig::new(token("alice"), 1);
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(40);
    let (h, mut ev, fut) = client_driver(Client::new(cfg), Refusing, ThreadRuntime);
    pool.spawn_ok(fut);
    futures::executor::block_on(async {
        // Two attempts: each says why, then that it will retry.
        for _ in 0..2 {
            let e = next_matching(&mut ev, |e| matches!(e, ClientEvent::TransportError(_) | ClientEvent::Disconnected { .. })).await;
            assert_eq!(e, ClientEvent::TransportError(TransportError::Failed("cannot connect: Connection refused".into())));
            let e = next_matching(&mut ev, |e| matches!(e, ClientEvent::TransportError(_) | ClientEvent::Disconnected { .. })).await;
            assert!(matches!(e, ClientEvent::Disconnected { .. }), "{e:?}");
        }
    });
    h.shutdown();

    // Connected, then the broker goes away: the break is reported too.
    let (connector, listener) = memory::listener();
    let (bh, _bev, bfut) = broker_driver(Fixture::new().hub.broker, listener, ThreadRuntime);
    pool.spawn_ok(bfut);
    let (ch, mut cev, cfut) = client_driver(Client::new(ClientConfig::new(token("alice"), 1)), connector, ThreadRuntime);
    pool.spawn_ok(cfut);
    futures::executor::block_on(async {
        next_matching(&mut cev, |e| matches!(e, ClientEvent::Synced)).await;
        bh.shutdown();
        let e = next_matching(&mut cev, |e| matches!(e, ClientEvent::TransportError(_) | ClientEvent::Disconnected { .. })).await;
        assert!(matches!(e, ClientEvent::TransportError(_)), "the break comes first, with its cause: {e:?}");
    });
    ch.shutdown();
}
