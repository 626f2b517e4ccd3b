"""The whole client flow through the Python bindings, against an in-process center."""

import threading
import time

import pytest

import frontdesk as fd
from conftest import TIMEOUT_MS, Recorder, agent_event

DAY_MS = 86_400_000


def test_connect_sync_and_view_from_background_thread(center, alice):
    client, rec = alice
    v = client.view()
    assert v.client_id == "alice"
    assert v.connected and client.is_connected()
    assert sorted(o.id for o in v.orders) == ["o1", "o2"]
    assert sorted(p.id for p in v.products) == ["phone", "router", "tv"]
    assert v.center is not None and {q.queue_id for q in v.center.queues} == {"support", "sales"}
    rec.wait_for(lambda e: e.is_connected())
    rec.wait_for(lambda e: e.is_synced())
    # Callbacks come from the library's own thread, never from the caller's.
    assert threading.get_ident() not in rec.threads


def test_edit_profile(center, alice):
    client, rec = alice
    patch = fd.ProfilePatch(
        demographics=fd.Demographics(name="Alice", languages=["en", "fr"], country="FR"),
        capabilities=[fd.Capability(medium=fd.Medium.VOICE, address="+33 1 23 45 67 89"), fd.Capability(medium=fd.Medium.CHAT)],
        agenda=[fd.AgendaWindow(days=[1, 2, 3], start_minute=540, end_minute=1020, time_zone="Europe/Paris")],
        interests=fd.Interests(products=["router"], topics=["billing"]),
    )
    rid = client.update_profile(patch)
    assert client.view().profile.demographics.name == "Alice"  # shown at once, before the answer
    r = client.wait(rid, TIMEOUT_MS)
    assert r.is_profile() and r.profile.revision >= 1 and r.profile.interests.topics == ["billing"]
    rec.wait_for(lambda e: e.is_completed() and e.request_id == rid)
    r = client.wait(client.get_profile(), TIMEOUT_MS)
    assert r.profile.capabilities[0].address == "+33 1 23 45 67 89"
    assert r.profile.agenda[0].time_zone == "Europe/Paris"


def test_invalid_profile_edit_maps_to_exception(center, alice):
    client, rec = alice
    rid = client.update_profile(fd.ProfilePatch(capabilities=[fd.Capability(medium=fd.Medium.VOICE)]))
    with pytest.raises(fd.FrontdeskError.Invalid) as e:
        client.wait(rid, TIMEOUT_MS)
    assert "voice capability needs an address" in str(e.value)
    failed = rec.wait_for(lambda e: e.is_failed() and e.request_id == rid)
    assert failed.error.code == fd.ErrorCode.INVALID


def test_history_by_product_agent_and_date(center, alice):
    client, _ = alice
    now = center.now_ms()

    def ids(f):
        r = client.wait(client.get_history(f), TIMEOUT_MS)
        assert r.is_history()
        return [x.id for x in r.records]

    assert ids(fd.HistoryFilter()) == ["h0", "h1", "h2"]  # newest first, only alice's
    assert ids(fd.HistoryFilter(product_id="router")) == ["h0", "h2"]
    assert ids(fd.HistoryFilter(agent_id="bo")) == ["h1", "h2"]
    assert ids(fd.HistoryFilter(product_id="router", agent_id="bo")) == ["h2"]
    assert ids(fd.HistoryFilter(from_ms=now - 5 * DAY_MS // 2, until_ms=now)) == ["h0", "h1"]
    assert ids(fd.HistoryFilter(from_ms=now)) == []
    # Paged: two at a time, then the rest after the last one seen.
    assert ids(fd.HistoryFilter(limit=2)) == ["h0", "h1"]
    assert ids(fd.HistoryFilter(after_id="h1", limit=2)) == ["h2"]
    r = client.wait(client.add_note("h0", "router works now"), TIMEOUT_MS)
    assert r.is_record() and r.record.notes[-1].text == "router works now"


def test_products_orders_and_delivery_edit(center, alice):
    client, rec = alice
    r = client.wait(client.get_products(), TIMEOUT_MS)
    assert {p.name for p in r.products} == {"FastNet Router", "Pocket Phone", "Big TV"}
    r = client.wait(client.get_orders(), TIMEOUT_MS)
    assert {o.id: o.status for o in r.orders} == {"o1": fd.OrderStatus.PROCESSING, "o2": fd.OrderStatus.SHIPPED}
    new = fd.DeliveryDetails(address="2 High St", window="weekdays after 18:00", instructions="ring twice")
    r = client.wait(client.update_delivery("o1", new), TIMEOUT_MS)
    assert r.is_order_result() and r.order.delivery == new
    assert client.order("o1").delivery.address == "2 High St"
    with pytest.raises(fd.FrontdeskError.Conflict):
        client.wait(client.update_delivery("o2", new), TIMEOUT_MS)  # already shipped
    # The center moves an order on; the client is told.
    center.set_order_status("o1", fd.OrderStatus.SHIPPED)
    ev = rec.wait_for(lambda e: e.is_order_changed() and e.order.status == fd.OrderStatus.SHIPPED)
    assert [h.status for h in ev.order.history][-1] == fd.OrderStatus.SHIPPED


def test_another_clients_order_is_not_found(center, alice):
    client, _ = alice
    with pytest.raises(fd.FrontdeskError.NotFound) as e:
        client.wait(client.update_delivery("o3", fd.DeliveryDetails(address="x")), TIMEOUT_MS)
    assert "o3" in str(e.value)
    with pytest.raises(fd.FrontdeskError.NotFound):
        client.order("o3")
    # Every variant is also a FrontdeskError, so one except clause catches them all.
    with pytest.raises(fd.FrontdeskError):
        client.order("o3")


def test_center_status_and_alert(center, alice):
    client, rec = alice
    r = client.wait(client.get_center_status(), TIMEOUT_MS)
    assert r.is_center()
    ann = next(a for a in r.status.agents if a.id == "ann")
    assert ann.state == fd.AgentState.AWAY
    r = client.wait(client.subscribe_alert(fd.AlertRule.AGENT_AVAILABLE(agent_id="ann", product_id=None, medium=None)), TIMEOUT_MS)
    assert r.is_alert_subscribed()
    alert_id = r.alert_id
    center.agent_set_state("ann", fd.AgentState.AVAILABLE)
    ev = rec.wait_for(lambda e: e.is_alert())
    assert ev.fired.alert_id == alert_id and "Ann" in ev.fired.message
    rec.wait_for(lambda e: e.is_center_status_changed() and any(a.id == "ann" and a.state == fd.AgentState.AVAILABLE for a in e.status.agents))
    assert any(a.id == "ann" and a.state == fd.AgentState.AVAILABLE for a in client.view().center.agents)
    assert len(client.view().alerts) == 1
    client.wait(client.unsubscribe_alert(alert_id), TIMEOUT_MS)


def chat_both_ways(center, client, rec, agent, interaction_id):
    """Client and agent exchange a message each; both see delivery."""
    r = client.wait(client.send_chat(interaction_id, "hello from alice"), TIMEOUT_MS)
    mine = r.message
    assert mine.author == fd.Author.CLIENT(id="alice")
    got = agent_event(center, agent, lambda e: e.is_chat())
    assert got.message.text == "hello from alice"
    rec.wait_for(lambda e: e.is_chat_delivered() and e.interaction_id == interaction_id and e.seq == mine.seq)
    assert client.is_delivered(interaction_id, mine.seq)
    sent = center.agent_send_chat(agent, interaction_id, "hello from " + agent)
    ev = rec.wait_for(lambda e: e.is_chat_received() and e.message.text == "hello from " + agent)
    assert ev.message.author == fd.Author.AGENT(id=agent)
    agent_event(center, agent, lambda e: e.is_chat_delivered() and e.seq == sent.seq)
    assert [m.text for m in client.transcript(interaction_id)] == ["hello from alice", "hello from " + agent]
    r = client.wait(client.get_transcript(interaction_id), TIMEOUT_MS)
    assert len(r.messages) == 2
    r = client.wait(client.get_transcript_page(interaction_id, sent.seq, 5), TIMEOUT_MS)
    assert [m.text for m in r.messages] == ["hello from alice"], "only messages numbered below `before`"


def test_invitation_received_accepted_and_chat(center, alice):
    client, rec = alice
    inv = center.agent_invite("ann", "alice", fd.Medium.CHAT, "Can I help with your router?")
    ev = rec.wait_for(lambda e: e.is_invitation_changed() and e.invitation.id == inv.id)
    assert ev.invitation.state == fd.InvitationState.PENDING and ev.invitation.agent_name == "Ann"
    r = client.wait(client.accept_invitation(inv.id), TIMEOUT_MS)
    assert r.is_invitation_result() and r.invitation.state == fd.InvitationState.ACCEPTED
    interaction_id = r.invitation.interaction_id
    ev = rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == interaction_id)
    assert ev.interaction.agent_id == "ann"
    chat_both_ways(center, client, rec, "ann", interaction_id)
    client.wait(client.end_interaction(interaction_id), TIMEOUT_MS)
    rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == interaction_id and e.interaction.state.is_ended())


def test_invitation_declined(center, alice):
    client, rec = alice
    inv = center.agent_invite("ann", "alice", fd.Medium.VOICE, "Call about your order?")
    rec.wait_for(lambda e: e.is_invitation_changed() and e.invitation.id == inv.id)
    r = client.wait(client.decline_invitation(inv.id), TIMEOUT_MS)
    assert r.invitation.state == fd.InvitationState.DECLINED
    with pytest.raises(fd.FrontdeskError):
        client.wait(client.accept_invitation(inv.id), TIMEOUT_MS)  # too late


def test_client_invites_agent(center, alice):
    client, rec = alice
    center.agent_set_state("ann", fd.AgentState.AVAILABLE)
    r = client.wait(client.invite_agent("ann", fd.Medium.CHAT, "Please call me about o1"), TIMEOUT_MS)
    assert r.is_invitation_result() and r.invitation.direction == fd.InvitationDirection.CLIENT_TO_AGENT
    got = agent_event(center, "ann", lambda e: e.is_invitation_received())
    assert got.invitation.message == "Please call me about o1"
    answered = center.agent_respond_invitation("ann", got.invitation.id, True)
    interaction_id = answered.interaction_id
    assert interaction_id
    rec.wait_for(lambda e: e.is_invitation_changed() and e.invitation.state == fd.InvitationState.ACCEPTED)
    ev = rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == interaction_id)
    assert ev.interaction.agent_id == "ann" and ev.interaction.medium == fd.Medium.CHAT


def test_start_chat_interaction_in_chosen_medium(center, alice):
    client, rec = alice
    center.agent_set_state("ann", fd.AgentState.AVAILABLE)
    r = client.wait(client.start_interaction(fd.Medium.CHAT, "router", None, "router blinks red"), TIMEOUT_MS)
    assert r.is_interaction() and r.interaction.medium == fd.Medium.CHAT
    interaction_id = r.interaction.id
    offered = agent_event(center, "ann", lambda e: e.is_offered())
    assert offered.interaction.id == interaction_id and offered.interaction.topic == "router blinks red"
    center.agent_accept("ann", interaction_id)
    rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == interaction_id and e.interaction.state.is_connected())
    chat_both_ways(center, client, rec, "ann", interaction_id)
    center.agent_end("ann", interaction_id)
    rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.state.is_ended())
    rec.wait_for(lambda e: e.is_history_changed() and e.record.id == interaction_id)


def test_medium_not_offered_is_unavailable(center, alice):
    client, _ = alice
    # The support queue (router) takes no video.
    with pytest.raises(fd.FrontdeskError) as e:
        client.wait(client.start_interaction(fd.Medium.VIDEO, "router", None, None), TIMEOUT_MS)
    assert str(e.value)


def test_bad_token_is_rejected_then_authenticate(center):
    rec = Recorder()
    client = center.connect("tok-wrong", 7, rec)
    with pytest.raises(fd.FrontdeskError.Unauthenticated) as e:
        client.wait_synced(TIMEOUT_MS)
    assert "credential" in str(e.value)
    ev = rec.wait_for(lambda e: e.is_rejected())
    assert ev.error.code == fd.ErrorCode.UNAUTHENTICATED
    assert not client.is_connected()
    client.authenticate("tok-alice")
    client.wait_synced(TIMEOUT_MS)
    assert client.view().client_id == "alice"


def test_expired_token(center):
    client = center.connect("tok-old", 8, Recorder())
    with pytest.raises(fd.FrontdeskError.Expired):
        client.wait_synced(TIMEOUT_MS)


def test_listener_may_call_back_into_the_client(center):
    class Chained(Recorder):
        client = None

        def on_event(self, event):
            super().on_event(event)
            if event.is_synced():
                self.products_request = self.client.get_products()
                try:
                    self.client.wait(self.products_request, 10)
                except fd.FrontdeskError.Invalid as e:
                    self.wait_error = str(e)

    rec = Chained()
    rec.client = None
    # Set the client before any event can arrive: events start on the library thread at connect.
    orig = rec.on_event
    ready = threading.Event()

    def gated(event):
        ready.wait(TIMEOUT_MS / 1000)
        orig(event)

    rec.on_event = gated
    rec.client = center.connect("tok-alice", 9, rec)
    ready.set()
    rec.wait_for(lambda e: e.is_completed() and e.response.is_products())
    assert "deadlock" in rec.wait_error


def test_listener_exception_does_not_stop_events(center):
    class Flaky(Recorder):
        def on_event(self, event):
            super().on_event(event)
            raise RuntimeError("app bug")

    rec = Flaky()
    client = center.connect("tok-alice", 10, rec)
    client.wait_synced(TIMEOUT_MS)
    client.wait(client.get_orders(), TIMEOUT_MS)
    rec.wait_for(lambda e: e.is_completed())


def test_offline_requests_wait_and_go_out_on_reconnect(center, alice):
    client, rec = alice
    center.set_client_online(client, False)
    rec.wait_for(lambda e: e.is_disconnected())
    assert not client.is_connected()
    rid = client.get_orders()
    assert client.view().pending_requests == 1
    time.sleep(0.05)
    center.set_client_online(client, True)
    r = client.wait(rid, TIMEOUT_MS)  # the client reconnects by itself after its backoff
    assert r.is_orders()
    assert client.view().pending_requests == 0


def test_two_clients_are_isolated(center, alice):
    client, _ = alice
    bob_rec = Recorder()
    bob = center.connect("tok-bob", 2, bob_rec)
    bob.wait_synced(TIMEOUT_MS)
    assert [o.id for o in bob.view().orders] == ["o3"]
    r = bob.wait(bob.get_history(fd.HistoryFilter()), TIMEOUT_MS)
    assert [x.id for x in r.records] == ["h3"]
    with pytest.raises(fd.FrontdeskError.NotFound):
        client.wait(client.add_note("h3", "not mine"), TIMEOUT_MS)


def test_closed_after_shutdown():
    center = fd.EmbeddedCenter.demo()
    client = center.connect("tok-alice", 1, Recorder())
    client.wait_synced(TIMEOUT_MS)
    center.shutdown()
    with pytest.raises(fd.FrontdeskError.Closed):
        client.get_profile()

