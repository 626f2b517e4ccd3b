"""Fixtures: a demo center per test, and a listener that records events and the threads they came on."""

import threading

import pytest

import frontdesk as fd

TIMEOUT_MS = 5000


class Recorder(fd.ClientListener):
    """Keeps every event; tests wait on it for the one they expect."""

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
        """The first recorded event matching pred, waiting up to timeout seconds."""
        with self.cv:
            ok = self.cv.wait_for(lambda: any(pred(e) for e in self.events), timeout)
            assert ok, f"no matching event; got {[type(e).__name__ for e in self.events]}"
            return next(e for e in self.events if pred(e))


@pytest.fixture
def center():
    c = fd.EmbeddedCenter.demo()
    yield c
    c.shutdown()


@pytest.fixture
def alice(center):
    rec = Recorder()
    client = center.connect("tok-alice", 1, rec)
    client.wait_synced(TIMEOUT_MS)
    return client, rec


def agent_event(center, agent, pred, timeout_ms=TIMEOUT_MS):
    """The next event of a simulated agent matching pred (others are skipped)."""
    while True:
        ev = center.next_agent_event(agent, timeout_ms)
        if pred(ev):
            return ev
