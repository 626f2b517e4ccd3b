"""What a Python developer sees when something is wrong: bad URLs, a refused port, a listener that
raises; and the calls that need fewer arguments than the full signature."""

import logging
import socket

import pytest

import frontdesk as fd
from conftest import TIMEOUT_MS, Recorder


class NoAgent(fd.AgentListener):
    def on_event(self, event):
        pass


@pytest.mark.parametrize(
    "url",
    ["not a url", "http://127.0.0.1:8080/client", "https://center.example/client", "ws://", "ws://:8080",
     "ws://127.0.0.1:99999/client", "ws://127.0.0.1:8080/cli ent"],
)
def test_a_bad_url_raises_invalid_at_once(url):
    with pytest.raises(fd.FrontdeskError.Invalid) as e:
        fd.FrontdeskClient.connect(url, "t", 1, Recorder())
    assert "ws://" in str(e.value)
    with pytest.raises(fd.FrontdeskError.Invalid):
        fd.FrontdeskAgent.connect(url, "t", 1, "Ann", [fd.Medium.CHAT], NoAgent())


def test_http_is_told_apart_from_ws():
    with pytest.raises(fd.FrontdeskError.Invalid, match="web pages"):
        fd.FrontdeskClient.connect("http://127.0.0.1:8080", "t", 1, Recorder())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_port_reports_a_transport_error_with_its_cause():
    rec = Recorder()
    port = _free_port()  # closed again: nothing listens there
    client = fd.FrontdeskClient.connect(f"ws://127.0.0.1:{port}", "t", 2, rec)
    err = rec.wait_for(lambda e: e.is_transport_error(), 10)
    assert err.url == f"ws://127.0.0.1:{port}/client"  # the endpoint added to a URL without a path
    assert "refused" in err.message.lower(), err.message
    # The cause comes right before the Disconnected it explains.
    rec.wait_for(lambda e: e.is_disconnected(), 10)
    with rec.cv:
        events = list(rec.events)
    first = next(i for i, e in enumerate(events) if e.is_transport_error())
    assert events[first + 1].is_disconnected(), events
    client.disconnect()


class Exploding(Recorder):
    def on_event(self, event):
        super().on_event(event)
        if event.is_synced():
            raise RuntimeError("app bug in the listener")


def test_a_listener_exception_is_logged_with_its_traceback(center, caplog, capfd):
    rec = Exploding()
    with caplog.at_level(logging.ERROR, logger="frontdesk"):
        client = center.connect("tok-alice", 3, rec)
        client.wait_synced(TIMEOUT_MS)
        # The events after the failed one still come.
        rid = client.get_products()
        client.wait(rid, TIMEOUT_MS)
        rec.wait_for(lambda e: e.is_completed() and e.request_id == rid)
    logged = [r for r in caplog.records if r.name == "frontdesk"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "app bug in the listener" in caplog.text and "Traceback" in caplog.text
    # Logged once: the library does not print it again on stderr.
    assert "listener threw" not in capfd.readouterr().err


def test_optional_arguments_have_defaults(center, alice):
    client, _ = alice
    for agent in ("ann", "bo"):
        center.agent_set_state(agent, fd.AgentState.AVAILABLE)
    r = client.wait(client.start_interaction(fd.Medium.CHAT))  # no product, queue or topic; default timeout
    assert r.is_interaction()
    client.wait(client.end_interaction(r.interaction.id))
    assert client.wait(client.get_history()).is_history()  # no filter: the first page of everything
    assert client.wait(client.get_transcript_page(r.interaction.id)).is_transcript()
    email = fd.Capability(medium=fd.Medium.EMAIL, address="alice@example.com")
    client.wait(client.update_profile(fd.ProfilePatch(capabilities=[email])))
    assert client.wait(client.send_email("Invoice", "Where is my invoice?")).is_interaction()  # no product


def test_watch_access_rules_and_watchers(center, alice):
    client, rec = alice
    with pytest.raises(fd.FrontdeskError.Invalid):
        client.watch("nobody")  # refused at once, never queued
    center.agent_set_state("ann", fd.AgentState.AVAILABLE)
    r = client.wait(client.watch("agent:ann"), TIMEOUT_MS)
    assert r.is_watching() and r.presentity == "agent:ann"
    p = client.presence("agent:ann")  # the watch's answer carries the first document
    assert p.agent.id == "ann" and p.open and fd.Medium.CHAT in p.open_media
    center.agent_set_state("ann", fd.AgentState.AWAY)
    rec.wait_for(lambda e: e.is_presence_changed() and e.presentity == "agent:ann")  # later changes are pushed
    assert not client.presence("agent:ann").open

    bob_rec = Recorder()
    bob = center.connect("tok-bob", 4, bob_rec)
    bob.wait_synced(TIMEOUT_MS)
    bob.wait(bob.set_status(fd.ClientStatus(activity=fd.ClientActivity.ONLINE, note="at my desk")), TIMEOUT_MS)
    # Private by default: alice is accepted but sees bob closed (polite blocking).
    client.wait(client.watch("client:bob"), TIMEOUT_MS)
    assert not client.presence("client:bob").open and client.presence("client:bob").client is None
    rules = [fd.AccessRule(watcher=fd.WatcherMatch.CLIENT(id="alice"), decision=fd.Decision.ALLOW)]
    bob.wait(bob.set_access_rules(rules), TIMEOUT_MS)
    rec.wait_for(lambda e: e.is_presence_changed() and e.presentity == "client:bob" and (client.presence("client:bob").client is not None))
    assert client.presence("client:bob").client.note == "at my desk"
    w = bob.wait(bob.list_watchers(), TIMEOUT_MS)
    assert "client alice" in w.watchers

    client.wait(client.unwatch("agent:ann"), TIMEOUT_MS)
    assert client.presence("agent:ann") is None
