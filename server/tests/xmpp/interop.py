"""Interop test with a standard XMPP client library (slixmpp).

Logs in to frontdesk's XMPP endpoint with a client token (STARTTLS + SASL PLAIN), reads the roster,
subscribes to an agent, sees the agent go on the phone and back, and is refused a presentity it may not
watch. The Rust test that runs this script plays the agent and prints nothing; this script prints one
line per step (`STEP <name>`) and the Rust side reacts to them on our stdout.

usage: interop.py <host> <port> <jid> <token> <agent-jid> <blocked-jid>
"""
import asyncio
import ssl
import sys

import slixmpp

host, port, jid, token, agent_jid, blocked_jid = sys.argv[1:7]
TIMEOUT = 20


def step(name):
    print("STEP " + name, flush=True)


class Watcher(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, token)
        # The endpoint presents a self-signed certificate on loopback.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # Exercise STARTTLS (RFC 6120), not direct TLS; and no plaintext fallback.
        self.enable_direct_tls = False
        self.enable_plaintext = False
        self.presences = asyncio.Queue()
        self.subs = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", lambda _e: self.fail("auth failed"))
        # slixmpp names availability events after <show> (presence_dnd, presence_xa…): take them all.
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("presence_subscribed", lambda p: self.subs.put_nowait(("subscribed", p)))
        self.add_event_handler("presence_unsubscribed", lambda p: self.subs.put_nowait(("unsubscribed", p)))
        self.result = None

    def on_presence(self, p):
        if p["type"] not in ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error"):
            self.presences.put_nowait(p)

    def fail(self, why):
        self.result = "FAIL " + why
        self.disconnect()

    async def wait_presence(self, who, pred, what):
        while True:
            p = await asyncio.wait_for(self.presences.get(), TIMEOUT)
            if p["from"].bare == who and pred(p):
                return p

    async def wait_sub(self, who):
        while True:
            kind, p = await asyncio.wait_for(self.subs.get(), TIMEOUT)
            if p["from"].bare == who:
                return kind

    async def start(self, _event):
        try:
            step("logged-in")
            roster = await self.get_roster()
            items = {str(j) for j in roster["roster"]["items"].keys()}
            assert agent_jid in items, f"agent missing from roster: {items}"
            assert any(i.startswith("queue-") for i in items), f"no queue in roster: {items}"
            step("roster")
            self.send_presence()
            self.send_presence(pto=agent_jid, ptype="subscribe")
            assert await self.wait_sub(agent_jid) == "subscribed"
            await self.wait_presence(agent_jid, lambda p: p["type"] == "available", "available")
            step("agent-available")  # the Rust side now puts the agent on the phone
            p = await self.wait_presence(agent_jid, lambda p: p["show"] == "dnd", "dnd")
            assert "on-the-phone" in p["status"], p["status"]
            step("agent-on-the-phone")  # and back
            await self.wait_presence(agent_jid, lambda p: p["type"] == "available", "back")
            step("agent-back")
            self.send_presence(pto=blocked_jid, ptype="subscribe")
            assert await self.wait_sub(blocked_jid) == "unsubscribed"
            step("refused")
            self.result = "OK"
        except Exception as e:  # noqa: BLE001 - report any failure to the Rust side
            self.result = f"FAIL {type(e).__name__}: {e}"
        # The verdict goes out before the stream closes, so the closing handshake cannot delay it.
        print(self.result, flush=True)
        self.disconnect(wait=1.0)


async def main():
    xmpp = Watcher()
    xmpp.connect(host=host, port=int(port))
    deadline = asyncio.get_running_loop().time() + TIMEOUT * 4
    while xmpp.result is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    if xmpp.result is None:
        print("FAIL timeout", flush=True)
    else:
        await asyncio.sleep(0.2)
    sys.exit(0 if xmpp.result == "OK" else 1)


asyncio.run(main())
