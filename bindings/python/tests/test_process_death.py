"""Save, SIGKILL, restore: a client whose process the OS kills keeps its queue, installation id and
watches, and what it queued reaches the server exactly once.

A child Python process queues notes (offline, or online with the answers already in), saves its state
to a file and is killed with SIGKILL; this process restores from the file against a real
frontdesk-server and checks the history holds each note once, in order. Uses the `server` fixture
(conftest.py); skipped without $FRONTDESK_SERVER.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import frontdesk as fd
from conftest import Recorder

TIMEOUT_MS = 10_000

CHILD = r"""
import json, os, sys, time
import frontdesk as fd

url, token, instance, record_id, tag, state_path, wait_answers = sys.argv[1:]

class Quiet(fd.ClientListener):
    def on_event(self, event):
        pass

client = fd.FrontdeskClient.connect(url, token, int(instance), Quiet())
ids = [client.add_note(record_id, f"{tag} {i}") for i in range(3)]
client.watch("queue:support")
state = client.save_state()
tmp = state_path + ".tmp"
with open(tmp, "w") as f:
    f.write(state)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, state_path)  # what an app does: never leave a half-written state behind
if wait_answers == "yes":
    for rid in ids:
        client.wait(rid, 10000)  # applied by the server, but the saved state still lists them
print(json.dumps(ids), flush=True)
time.sleep(120)  # killed long before this ends
"""


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_id(server):
    """Alice's router record on the server's sample data, read by a short-lived client."""
    c = fd.FrontdeskClient.connect(server["url"], server["alice"], 900, Recorder())
    try:
        c.wait_synced(TIMEOUT_MS)
        return c.wait(c.get_history(fd.HistoryFilter(product_id="router")), TIMEOUT_MS).records[0].id
    finally:
        c.disconnect()


def _run_child_and_kill(url, token, instance, record_id, tag, state_path, wait_answers):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, token, str(instance), record_id, tag, str(state_path), wait_answers],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = child.stdout.readline()
        assert line, "the child ended before it had queued and saved"
        ids = json.loads(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return ids


def _notes(client, record_id, tag):
    r = client.wait(client.get_history(fd.HistoryFilter(product_id="router")), TIMEOUT_MS)
    record = next(x for x in r.records if x.id == record_id)
    return [n.text for n in record.notes if n.text.startswith(tag)]


def _restore_and_check(server, state_path, ids, record_id, tag, instance):
    state = state_path.read_text()
    saved = json.loads(state)
    rec = Recorder()
    client = fd.FrontdeskClient.restore(server["url"], server["alice"], state, rec)
    try:
        for rid in ids:  # the child's request ids are answered to the restored client
            assert client.wait(rid, TIMEOUT_MS).is_record()
        client.wait_synced(TIMEOUT_MS)
        notes = _notes(client, record_id, tag)
        assert notes == [f"{tag} {i}" for i in range(3)]  # each once, in order
        # The watch and the installation id came back without being asked again.
        deadline = time.monotonic() + 10
        while client.presence("queue:support") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.presence("queue:support") is not None
        now = json.loads(client.save_state())
        assert "queue:support" in now["watches"]
        assert now["instance"] == saved["instance"] == instance
        assert client.view().pending_requests == 0
    finally:
        client.disconnect()


def test_requests_queued_offline_survive_sigkill_and_go_out_once(server, tmp_path):
    record_id, tag = _record_id(server), f"offline-{uuid.uuid4().hex[:8]}"
    state_path = tmp_path / "state.json"
    # Nothing listens there: the child never reaches a server, as a phone without network.
    ids = _run_child_and_kill(f"ws://127.0.0.1:{_closed_port()}/client", server["alice"], 7001, record_id, tag, state_path, "no")
    assert len(json.loads(state_path.read_text())["pending"]) >= 3
    _restore_and_check(server, state_path, ids, record_id, tag, 7001)


def test_a_stale_save_of_requests_already_applied_does_not_apply_them_twice(server, tmp_path):
    record_id, tag = _record_id(server), f"applied-{uuid.uuid4().hex[:8]}"
    state_path = tmp_path / "state.json"
    # Saved before the answers came, killed after: the server has them, the state still lists them.
    ids = _run_child_and_kill(server["url"], server["alice"], 7002, record_id, tag, state_path, "yes")
    _restore_and_check(server, state_path, ids, record_id, tag, 7002)
