"""The agent console (FrontdeskAgent) against a real frontdesk-server, with a network client.

The agent logs in by itself, a state change made before the session is up follows that log-in, it
invites the client, the client accepts and writes, the agent reads it, answers, sees the receipt, and
ends. The server binary comes from $FRONTDESK_SERVER (bindings/test-bindings.sh sets it); without it
these tests are skipped.
"""

import os
import subprocess
import threading

import pytest

import frontdesk as fd
from conftest import SECRET, Recorder

TIMEOUT_MS = 10_000


class AgentRecorder(fd.AgentListener):
    """Keeps every console event; tests wait on it for the one they expect."""

    def __init__(self):
        self.events = []
        self.threads = set()
        self.cv = threading.Condition()

    def on_event(self, event):
        with self.cv:
            self.events.append(event)
            self.threads.add(threading.get_ident())
            self.cv.notify_all()

    def wait_for(self, pred, timeout=TIMEOUT_MS / 1000):
        with self.cv:
            ok = self.cv.wait_for(lambda: any(pred(e) for e in self.events), timeout)
            assert ok, f"no matching event; got {[type(e).__name__ for e in self.events]}"
            return next(e for e in self.events if pred(e))

    def pushed(self, kind):
        with self.cv:
            return [e.event for e in self.events if e.is_pushed() and isinstance(e.event, kind)]


def agent_token(agent):
    binary = os.environ["FRONTDESK_SERVER"]
    env = dict(os.environ, FRONTDESK_SECRET=SECRET)
    return subprocess.run([binary, "token", "--agent", agent], env=env, check=True, capture_output=True, text=True).stdout.strip()


def agent_url(server):
    return server["url"].rsplit("/", 1)[0] + "/agent"


def test_agent_console_serves_a_client_over_the_network(server):  # noqa: F811
    rec = AgentRecorder()
    agent = fd.FrontdeskAgent.connect(agent_url(server), agent_token("tess"), 501, "Tess", [fd.Medium.CHAT], rec)
    try:
        # Queued before the session is up: it goes out after the automatic log-in.
        early = agent.set_state(fd.AgentState.AVAILABLE)
        view = agent.wait_seated(TIMEOUT_MS)
        assert view.agent_id == "tess" and view.name == "Tess"
        assert agent.wait(early, TIMEOUT_MS).is_done()
        assert agent.view().state == fd.AgentState.AVAILABLE
        assert threading.get_ident() not in rec.threads
        with pytest.raises(fd.FrontdeskError.Forbidden):
            agent.wait(agent.send_chat("no-such-interaction", "x"), TIMEOUT_MS)

        crec = Recorder()
        client = fd.FrontdeskClient.connect(server["url"], server["alice"], 502, crec)
        client.wait_synced(TIMEOUT_MS)
        r = agent.wait(agent.invite("alice", fd.Medium.CHAT, "Can I help with the router?"), TIMEOUT_MS)
        inv_id = r.invitation.id
        crec.wait_for(lambda e: e.is_invitation_changed() and e.invitation.id == inv_id)
        r = client.wait(client.accept_invitation(inv_id), TIMEOUT_MS)
        ix = r.invitation.interaction_id
        assert ix
        rec.wait_for(lambda e: e.is_pushed() and e.event.is_connected() and e.event.interaction.id == ix)
        assert [l.id for l in agent.view().live] == [ix]
        assert agent.view().state == fd.AgentState.BUSY

        client.send_chat(ix, "The light keeps blinking.")
        rec.wait_for(lambda e: e.is_pushed() and e.event.is_chat() and e.event.message.text == "The light keeps blinking.")
        m = agent.wait(agent.send_chat(ix, "Unplug it for ten seconds."), TIMEOUT_MS).message
        crec.wait_for(lambda e: e.is_chat_received() and e.message.text == "Unplug it for ten seconds.")
        rec.wait_for(lambda e: e.is_pushed() and e.event.is_chat_delivered() and e.event.seq == m.seq)
        assert agent.is_delivered(ix, m.seq)
        texts = [x.text for x in agent.transcript(ix)]
        assert texts == ["The light keeps blinking.", "Unplug it for ten seconds."]

        t = agent.wait(agent.get_transcript(ix), TIMEOUT_MS)
        assert [x.text for x in t.messages] == texts
        seat = agent.wait(agent.get_seat(), TIMEOUT_MS).seat
        assert [l.id for l in seat.live] == [ix]

        ended = agent.wait(agent.end(ix), TIMEOUT_MS).interaction
        assert ended.state.is_ended()
        assert agent.view().live == []
        client.disconnect()
    finally:
        agent.shutdown()
    with pytest.raises(fd.FrontdeskError.Closed):
        agent.set_state(fd.AgentState.AWAY)


def test_agent_console_with_a_bad_token_is_rejected(server):  # noqa: F811
    rec = AgentRecorder()
    agent = fd.FrontdeskAgent.connect(agent_url(server), "not-a-token", 503, "Nobody", [fd.Medium.CHAT], rec)
    try:
        with pytest.raises(fd.FrontdeskError.Unauthenticated):
            agent.wait_seated(TIMEOUT_MS)
        rec.wait_for(lambda e: e.is_rejected())
    finally:
        agent.shutdown()


def test_agent_console_refuses_bad_arguments():
    rec = AgentRecorder()
    with pytest.raises(fd.FrontdeskError.Invalid):
        fd.FrontdeskAgent.connect("http://127.0.0.1:1", "t", 1, "Ann", [fd.Medium.CHAT], rec)
    with pytest.raises(fd.FrontdeskError.Invalid):
        fd.FrontdeskAgent.connect("ws://127.0.0.1:1", "t", 1, " ", [fd.Medium.CHAT], rec)
    with pytest.raises(fd.FrontdeskError.Invalid):
        fd.FrontdeskAgent.connect("ws://127.0.0.1:1", "t", 1, "Ann", [], rec)
