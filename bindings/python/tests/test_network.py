"""The client flow over WebSocket against a real frontdesk-server (in memory, with its bot agents).

The server binary comes from $FRONTDESK_SERVER (bindings/test-bindings.sh builds and sets it); without
it these tests are skipped. The `server` fixture is in conftest.py.
"""

import threading
import time

import pytest

import frontdesk as fd
from conftest import Recorder

TIMEOUT_MS = 10_000


def connect(server, who, instance):
    rec = Recorder()
    client = fd.FrontdeskClient.connect(server["url"], server[who], instance, rec)
    return client, rec


def test_connect_sync_read_and_edit_over_the_network(server):
    client, rec = connect(server, "alice", 101)
    client.wait_synced(TIMEOUT_MS)
    v = client.view()
    assert v.client_id == "alice" and v.connected
    assert [o.id for o in v.orders] == ["A-1001"]
    assert {p.id for p in v.products} == {"router", "phone", "tv"}
    assert threading.get_ident() not in rec.threads

    r = client.wait(client.get_history(fd.HistoryFilter(product_id="router")), TIMEOUT_MS)
    assert [x.summary for x in r.records] == ["Router keeps rebooting"]
    r = client.wait(client.get_history(fd.HistoryFilter(agent_id="bo")), TIMEOUT_MS)
    assert [x.product_id for x in r.records] == ["phone"]
    now = int(time.time() * 1000)
    r = client.wait(client.get_history(fd.HistoryFilter(from_ms=now - 15 * 86_400_000, until_ms=now)), TIMEOUT_MS)
    assert [x.product_id for x in r.records] == ["router"]

    r = client.wait(client.update_profile(fd.ProfilePatch(demographics=fd.Demographics(name="Alice"))), TIMEOUT_MS)
    assert r.profile.demographics.name == "Alice"
    r = client.wait(client.update_delivery("A-1001", fd.DeliveryDetails(address="3 Quai Saint-Antoine, Lyon")), TIMEOUT_MS)
    assert r.order.delivery.address.startswith("3 Quai")
    with pytest.raises(fd.FrontdeskError.NotFound):
        client.wait(client.update_delivery("B-2001", fd.DeliveryDetails(address="x")), TIMEOUT_MS)  # bob's

    r = client.wait(client.get_center_status(), TIMEOUT_MS)
    assert {q.queue_id for q in r.status.queues} == {"support", "sales"}
    client.disconnect()


def test_chat_with_a_bot_agent_over_the_network(server):
    client, rec = connect(server, "alice", 102)
    client.wait_synced(TIMEOUT_MS)
    r = client.wait(client.start_interaction(fd.Medium.CHAT, "router", None, "router reboots"), TIMEOUT_MS)
    iid = r.interaction.id
    rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == iid and e.interaction.state.is_connected(), 15)
    rec.wait_for(lambda e: e.is_chat_received() and e.message.interaction_id == iid, 10)  # the bot greets
    mine = client.wait(client.send_chat(iid, "it reboots every hour"), TIMEOUT_MS).message
    rec.wait_for(lambda e: e.is_chat_delivered() and e.interaction_id == iid and e.seq == mine.seq, 10)
    client.wait(client.end_interaction(iid), TIMEOUT_MS)
    client.disconnect()


def test_bad_token_over_the_network(server):
    client = fd.FrontdeskClient.connect(server["url"], "not-a-token", 103, Recorder())
    with pytest.raises(fd.FrontdeskError.Unauthenticated):
        client.wait_synced(TIMEOUT_MS)


def test_unreachable_server_keeps_retrying_without_blocking():
    rec = Recorder()
    client = fd.FrontdeskClient.connect("ws://127.0.0.1:9/client", "t", 104, rec)  # nothing listens on port 9
    rid = client.get_profile()  # queued, returns at once
    rec.wait_for(lambda e: e.is_disconnected(), 10)
    assert not client.is_connected() and client.view().pending_requests == 1
    with pytest.raises(fd.FrontdeskError.Timeout):
        client.wait(rid, 200)
    client.disconnect()
