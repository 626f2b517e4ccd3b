use frontdesk_core::client::ClientEvent;
use frontdesk_tests::Fixture;

#[test]
fn client_connects_and_syncs() {
    let mut f = Fixture::new();
    let a = f.connect("alice", 1);
    let ev = f.events(a);
    assert!(ev.contains(&ClientEvent::Connected { resumed: false }), "{ev:?}");
    assert!(ev.contains(&ClientEvent::Synced), "{ev:?}");
    let v = f.hub.client_ref(a).view();
    assert_eq!(v.orders.len(), 2);
    assert_eq!(v.products.len(), 3);
    assert!(v.center.is_some());
}
