#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small valid inputs, each prefixed by the
target's mode byte; see the doc comment at the top of each fuzz_targets/*.rs). Run from anywhere;
the seeds are committed, so this only needs re-running when the protocol changes."""
import base64, hashlib, hmac, json, os, re, shutil

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
corpus = os.path.join(here, "corpus")

def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    open(os.path.join(d, name), "wb").write(data)

def j(v):
    return json.dumps(v, separators=(",", ":"))

NOW = 1795597200000
HELLO = '{"t":"hello","v":1,"token":"tok-alice","instance":1,"last_seq":0,"next_request":1}'
client_reqs = [
    {"op": "get_profile"},
    {"op": "update_profile", "patch": {"demographics": {"languages": ["en", "fr"]}}},
    {"op": "get_history", "filter": {}},
    {"op": "get_products"},
    {"op": "get_orders"},
    {"op": "get_center_status"},
    {"op": "watch", "presentity": "center"},
    {"op": "watch", "presentity": "queue:support"},
    {"op": "set_status", "status": {"activity": "available", "note": "at my desk"}},
    {"op": "list_watchers"},
    {"op": "start_interaction", "medium": "chat", "product": "router", "queue": None, "topic": "no signal"},
    {"op": "send_chat", "interaction": "ix1795597200000-1", "text": "hello"},
    {"op": "get_transcript", "interaction": "ix1795597200000-1"},
    {"op": "end_interaction", "interaction": "ix1795597200000-1"},
    {"op": "get_live"},
]
agent_reqs = [
    {"op": "log_in", "name": "Ann", "skills": ["router"], "media": ["chat"]},
    {"op": "get_seat"},
    {"op": "set_state", "state": "available"},
    {"op": "accept", "interaction": "ix1795597200000-1"},
    {"op": "send_chat", "interaction": "ix1795597200000-1", "text": "how can I help?"},
    {"op": "invite", "client": "alice", "medium": "chat", "message": "a new offer"},
    {"op": "log_out"},
]
# Bodies from the golden traces too (real requests as the client sends them).
traces = []
for f in sorted(os.listdir(os.path.join(root, "tests", "vectors"))):
    if f.endswith(".json"):
        traces.append(json.load(open(os.path.join(root, "tests", "vectors", f))))
for t in traces:
    for s in t["steps"]:
        if "answer" in s and s["answer"].get("req") not in client_reqs:
            client_reqs.append(s["answer"]["req"])

# broker_frames: mode bits 0-1 hello (0 none, 1 client, 2 agent, 3 supervisor), bit 2 structured.
put("broker_frames", "raw-hello", b"\x00" + HELLO.encode())
put("broker_frames", "raw-garbage-before-hello", b"\x00" + b'{"t":"request","id":1,"req":{"op":"get_profile"}}')
for i, r in enumerate(client_reqs[:12]):
    put("broker_frames", f"client-request-{i}", b"\x01" + j({"t": "request", "id": 1, "req": r}).encode())
put("broker_frames", "client-ack", b"\x01" + b'{"t":"ack","seq":0}')
put("broker_frames", "client-resend", b"\x01" + b'{"t":"resend","after":0}')
put("broker_frames", "client-ping", b"\x01" + b'{"t":"ping","n":7}')
put("broker_frames", "client-bad-body", b"\x01" + b'{"t":"request","id":1,"req":{"op":"update_profile","patch":{"agenda":[{"days":[null]}]}}}')
seq = [j({"t": "request", "id": i + 1, "req": r}) for i, r in enumerate(client_reqs[:8])]
put("broker_frames", "client-sequence", b"\x05" + b"\x00".join(x.encode() for x in seq + ['{"t":"ack","seq":3}', "\x02", "\x01", '{"t":"resend","after":0}']))
chat = [{"op": "start_interaction", "medium": "chat", "product": None, "queue": "support", "topic": "t"},
        {"op": "send_chat", "interaction": "ix1795597200000-1", "text": "hi"},
        {"op": "end_interaction", "interaction": "ix1795597200000-1"}]
put("broker_frames", "client-chat", b"\x05" + b"\x00".join(j({"t": "request", "id": i + 1, "req": r}).encode() for i, r in enumerate(chat)))
for i, r in enumerate(agent_reqs):
    put("broker_frames", f"agent-request-{i}", b"\x02" + j({"t": "request", "id": 1, "req": r}).encode())
put("broker_frames", "agent-sequence", b"\x06" + b"\x00".join(j({"t": "request", "id": i + 1, "req": r}).encode() for i, r in enumerate(agent_reqs[:3] + agent_reqs[5:6])) + b"\x00\x02\x00\x01\x00" + b'{"t":"ack","seq":1}')
put("broker_frames", "supervisor-sequence", b"\x07" + b"\x00".join(j({"t": "request", "id": i + 1, "req": r}).encode() for i, r in enumerate(agent_reqs[:3])) + b"\x00\x03\x00" + b'{"t":"request","id":4,"req":{"op":"get_seat"}}')

# session_frames: bit 0 Client (else Session), bit 1 structured. Requests 1..=9 are queued first:
ids = {"get_profile": 1, "get_history": 2, "get_orders": 3, "get_products": 4, "get_center_status": 5,
       "watch": 6, "get_live": 7, "start_interaction": 8, "send_chat": 9}
frames = []
seq_n = 0
for t in traces[:1]:
    for s in t["steps"]:
        if "answer" in s:
            op = s["answer"]["req"]["op"]
            if op in ids:
                frames.append(j({"t": "response", "id": ids[op], "outcome": s["answer"]["outcome"]}))
        elif "event" in s:
            seq_n += 1
            frames.append(j({"t": "event", "seq": seq_n, "event": s["event"]}))
        elif "status" in s:
            frames.append(j({"t": "status", "doc": s["status"]}))
small = [f for f in frames if len(f) < 3000]
for i, f in enumerate(small[:10]):
    put("session_frames", f"client-frame-{i}", b"\x01" + f.encode())
    put("session_frames", f"session-frame-{i}", b"\x00" + f.encode())
put("session_frames", "client-trace", b"\x03" + b"\x00".join(f.encode() for f in frames if len(f) < 3000))
put("session_frames", "session-reorder", b"\x02" + b"\x00".join([
    b'{"t":"event","seq":2,"event":{"ev":"chat_delivered","data":{"interaction":"i","seq":1}}}',
    b'{"t":"event","seq":1,"event":{"ev":"chat_delivered","data":{"interaction":"i","seq":2}}}',
    b'{"t":"response","id":1,"outcome":{"ok":{"kind":"done"}}}',
    b"\x01",
    b'{"t":"event","seq":1,"event":{"ev":"chat_delivered","data":{"interaction":"i","seq":2}}}',
    b"\x02",
    b'{"t":"error","error":{"code":"malformed","message":"x"},"fatal":false}',
    b'{"t":"pong","n":1}',
    b'{"t":"watch_ended","presentity":"agent:ann"}',
    b'{"t":"error","error":{"code":"conflict","message":"taken over"},"fatal":true}',
]))

# pidf: even = parse, odd = build-and-round-trip from bytes.
md = open(os.path.join(root, "docs", "presence.md")).read()
for i, m in enumerate(re.findall(r"```xml\n(.*?)```", md, re.S)):
    if "<presence" in m:
        put("pidf", f"doc-{i}", b"\x00" + m.encode())
src = open(os.path.join(root, "core", "src", "monitor", "pidf.rs")).read()
m = re.search(r'fn vendor_pidf_with_other_prefixes_is_understood\(\) \{.*?let xml = r#"(.*?)"#', src, re.S)
if m:
    put("pidf", "vendor", b"\x00" + m.group(1).encode())
put("pidf", "minimal", b'\x00<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:client-alice@example.com"><tuple id="t"><status><basic>open</basic></status><contact>frontdesk:alice;medium=chat</contact><note> hi </note></tuple><note>doc</note></presence>')
put("pidf", "rpid", b'\x00<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:agent-ann@x"><p:tuple id="a"><p:status><p:basic>closed</p:basic></p:status></p:tuple><d:person id="p"><r:activities><r:on-the-phone/><r:away/></r:activities></d:person></p:presence>')
put("pidf", "build-queue", b"\x01\x01\x07support" + bytes(range(8)) + b"\x02\x02t1\x00\x01\x00\x01\x05sip:x\x01\x04note\x01\x05\x02\x03\x01\x02hi\x01\x01\x07support\x00\x02" + bytes(12) + b"\x03")
put("pidf", "build-client", b"\x01\x03\x05alice\x01\x02\x03\x04\x05\x06\x07\x08\x01\x01a\x01\x00\x01\x18frontdesk:alice;medium=voice\x01\x03\r\n \x00\x01\x06note\r\n\x00")

# decode_body: request bodies, client and agent.
for i, r in enumerate(client_reqs):
    put("decode_body", f"client-{i}", j(r))
for i, r in enumerate(agent_reqs):
    put("decode_body", f"agent-{i}", j(r))
put("decode_body", "bad-agenda", '{"op":"update_profile","patch":{"agenda":[{"days":[null]}]}}')

# tokens: even = arbitrary token / SASL PLAIN, odd = issue-and-verify from bytes.
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")
def jwt(claims, secret=b"fuzz-secret"):
    h = b64u(j({"typ": "JWT", "alg": "HS256"}).encode()) + b"." + b64u(j(claims).encode())
    return h + b"." + b64u(hmac.new(secret, h, hashlib.sha256).digest())
exp = NOW // 1000 + 365 * 86400
for name, claims in [("client", {"sub": "client:alice", "exp": exp}), ("agent", {"sub": "agent:ann", "role": "agent", "exp": exp}),
                     ("supervisor", {"sub": "agent:sue", "role": "supervisor", "exp": exp}), ("service", {"sub": "service:acd", "exp": exp}),
                     ("expired", {"sub": "client:bob", "exp": NOW // 1000 - 1}), ("huge-exp", {"sub": "client:carol", "exp": 2**64 - 1}),
                     ("no-colon", {"sub": "alice", "exp": exp}), ("empty-id", {"sub": "client:", "exp": exp})]:
    t = jwt(claims)
    put("tokens", f"jwt-{name}", b"\x00" + t)
    put("tokens", f"sasl-{name}", b"\x00" + base64.b64encode(b"\x00" + claims["sub"].split(":")[-1].encode() + b"\x00" + t))
put("tokens", "jwt-wrong-secret", b"\x00" + jwt({"sub": "client:alice", "exp": exp}, b"other"))
put("tokens", "jwt-alg-none", b"\x00" + b64u(b'{"alg":"none"}') + b"." + b64u(j({"sub": "client:alice", "exp": exp}).encode()) + b".")
put("tokens", "issue-client", b"\x01\x00\x10\x20\x30\x40\x3c\x00\x00\x05\x00\x41alice")
put("tokens", "issue-supervisor", b"\x01\x02\x10\x20\x30\x40\xff\xff\x00\x20\x00\x2esue")

# xmpp_stream: even = a stream, odd = one WebSocket message.
hdr = b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
put("xmpp_stream", "stream-auth", b"\x00" + hdr + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHRvaw==</auth></stream:stream>")
put("xmpp_stream", "stream-session", b"\x00" + hdr + b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>"
    b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq><presence/>"
    b"<presence to='queue-support@example.com' type='subscribe'/><message to='agent-ann@example.com' type='chat'><body>hi &amp; &#x263A; <![CDATA[<x>]]></body></message></stream:stream>")
put("xmpp_stream", "ws-open", b"\x01<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>")
put("xmpp_stream", "ws-presence", b"\x01<presence from='client-alice@example.com/web' to='center@example.com'><show>away</show><status>back soon</status></presence>")
put("xmpp_stream", "ws-dtd", b"\x01<!DOCTYPE x [<!ENTITY a 'b'>]><message>&a;</message>")

# http_head: first byte = chunk size - 1.
for name, head in [("get-root", b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"),
                   ("get-widget", b"GET /frontdesk-widget.js?v=2 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
                   ("head-health", b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"),
                   ("post", b"POST /client HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"),
                   ("missing", b"GET /nope HTTP/1.0\r\n\r\n"),
                   ("upgrade", b"GET /client HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
                   ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")]:
    put("http_head", name, b"\x07" + head)
    put("http_head", name + "-bytewise", b"\x00" + head)
print("seeds:", {t: len(os.listdir(os.path.join(corpus, t))) for t in sorted(os.listdir(corpus))})
