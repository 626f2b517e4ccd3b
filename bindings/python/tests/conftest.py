"""Fixtures: a demo center per test, a frontdesk-server per module, and a listener that records
events and the threads they came on."""

import os
import subprocess
import threading

import pytest

import frontdesk as fd

TIMEOUT_MS = 5000
SECRET = "bindings-test-secret"


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


@pytest.fixture(scope="module")
def server():
    """A frontdesk-server in memory on a free port, with its bot agents and sample data: its client
    URL and the sample tokens of alice and bob. Skips without $FRONTDESK_SERVER."""
    binary = os.environ.get("FRONTDESK_SERVER")
    if not binary or not os.path.exists(binary):
        pytest.skip("set FRONTDESK_SERVER to a frontdesk-server binary to run the network tests")
    proc = subprocess.Popen(
        [binary, "--memory", "--addr", "127.0.0.1:0", "--secret", SECRET, "--xmpp-addr", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    info = {}
    # The server prints its address and sample tokens first; read them with a deadline.
    reader = threading.Thread(target=lambda: _read_banner(proc, info), daemon=True)
    reader.start()
    reader.join(30)
    if "url" not in info:
        proc.kill()
        pytest.fail("frontdesk-server did not start")
    yield info
    proc.terminate()
    proc.wait(10)


def _read_banner(proc, info):
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("frontdesk server on ws://"):
            info["url"] = line.split()[3] + "/client"
        elif line.startswith("client token alice:"):
            info["alice"] = line.split(":", 1)[1].strip()
        elif line.startswith("client token bob:"):
            info["bob"] = line.split(":", 1)[1].strip()
        if len(info) == 3:
            return
