"""A video call from Python to a frontdesk agent: the native boundary of a call, end to end.

frontdesk (the uniffi bindings) carries the call's signalling over the client's reliable session:
``FrontdeskClient.signal`` sends the offer, candidates and the hang-up, ``ice_servers`` reads the
STUN/TURN servers (TURN credentials minted for this client and call), and the agent's answer and
candidates arrive as ``ClientEvent.SIGNAL``. aiortc (``pip install aiortc``) is the WebRTC stack that
carries the media; this program sends a synthetic video (a moving bar, made here, no camera) and
silence, and counts the frames it receives.

    python video_call.py ws://127.0.0.1:8080/client CLIENT_TOKEN --seconds 5

It prints one JSON object per line: ``{"event": "connected", "setup_ms": …}`` once media is up
(set-up: offer sent to ICE connected), ``{"event": "frames", …}`` every second, and last
``{"event": "done", "frames_received": …, "frames_sent": …, "hung_up_by_agent": …}``. Exit status 0
if video frames arrived (whoever hung up), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, List, Optional

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

import frontdesk as fd
from frontdesk.aio import AsyncClient

WIDTH, HEIGHT = 320, 240


def say(**fields: Any) -> None:
    """Prints one progress line as JSON, for a person or a test harness to read."""
    print(json.dumps(fields), flush=True)


class MovingBar(VideoStreamTrack):
    """Synthetic frames: a white bar sweeping over grey, so a decoder has real motion to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        x = (self.sent * 4) % WIDTH
        row = bytes(235 if x <= i < x + 16 else 96 for i in range(WIDTH))
        luma, cb, cr = frame.planes
        # Planes may be padded: write each row at the plane's own stride.
        luma.update(b"".join(row.ljust(luma.line_size, b"\0") for _ in range(HEIGHT)))
        for chroma in (cb, cr):
            chroma.update(bytes([128]) * (chroma.line_size * (HEIGHT // 2)))
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


async def count(track: MediaStreamTrack, counter: dict) -> None:
    """Reads a received track to its end, counting its frames."""
    try:
        while True:
            await track.recv()
            counter[track.kind] = counter.get(track.kind, 0) + 1
    except MediaStreamError:
        pass


def ice_config(servers: List[fd.IceServer]) -> RTCConfiguration:
    """aiortc's configuration from the servers frontdesk answered for this call."""
    # The servers as the library answered them; aiortc takes STUN and TURN (udp) urls.
    return RTCConfiguration([RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers])


async def apply_signal(pc: RTCPeerConnection, c: AsyncClient, call: str, s: Any) -> Optional[str]:
    """Applies one signal from the agent; a hang-up returns its reason."""
    if s.is_answer():
        await pc.setRemoteDescription(RTCSessionDescription(sdp=s.sdp, type="answer"))
    elif s.is_offer():
        # The agent renegotiates (or restarts ICE): answer it, as the browser widget would.
        await pc.setRemoteDescription(RTCSessionDescription(sdp=s.sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await c.request(c.sync.signal(call, fd.CallSignal.ANSWER(sdp=pc.localDescription.sdp)))
    elif s.is_candidate() and s.candidate:
        cand = candidate_from_sdp(s.candidate.split(":", 1)[1] if s.candidate.startswith("candidate:") else s.candidate)
        cand.sdpMid, cand.sdpMLineIndex = s.sdp_mid, s.sdp_mline_index
        await pc.addIceCandidate(cand)
    elif s.is_hang_up():
        return s.reason.name.lower()
    return None


async def main() -> int:
    """Places the call, keeps it up for --seconds, hangs up; 0 if video frames arrived."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="the server's client endpoint, ws://host:port/client")
    ap.add_argument("token", help="a client token")
    ap.add_argument("--seconds", type=float, default=5, help="how long the call lasts once connected")
    ap.add_argument("--instance", type=int, default=int(time.time()), help="this installation's id")
    args = ap.parse_args()

    c = await AsyncClient.connect(args.url, args.token, args.instance)
    await c.synced(timeout=20)
    # The center starts video only for a client whose profile says it can do video.
    caps = c.sync.view().profile.capabilities
    if not any(x.medium == fd.Medium.VIDEO for x in caps):
        await c.request(c.sync.update_profile(fd.ProfilePatch(capabilities=caps + [fd.Capability(medium=fd.Medium.VIDEO, devices=["aiortc"])])), 10)
    started = await c.request(c.sync.start_interaction(fd.Medium.VIDEO, topic="video from Python"), 10)
    call = started.interaction.id
    say(event="started", interaction=call)

    signals: "asyncio.Queue[Any]" = asyncio.Queue()
    connected = asyncio.Event()
    ended = asyncio.Event()

    async def pump() -> None:
        # Answers are awaited through c.request; the rest of the events are sorted here.
        async for e in c.events():
            if e.is_signal() and e.interaction_id == call:
                signals.put_nowait(e.signal)
            elif e.is_interaction_changed() and e.interaction.id == call:
                if e.interaction.state.is_connected():
                    connected.set()
                elif e.interaction.state.is_ended():
                    ended.set()

    pumping = asyncio.create_task(pump())
    # Every event since connect is queued for the pump, so a connect that came first is not missed.
    if not started.interaction.state.is_connected():
        await asyncio.wait_for(connected.wait(), 60)
    say(event="answered", interaction=call)

    servers = (await c.request(c.sync.ice_servers(call), 10)).servers
    pc = RTCPeerConnection(ice_config(servers))
    video = MovingBar()
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(video)
    received: dict = {}
    readers = []
    ice_up = asyncio.Event()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        readers.append(asyncio.create_task(count(track, received)))

    @pc.on("iceconnectionstatechange")
    def on_ice() -> None:
        if pc.iceConnectionState in ("connected", "completed"):
            ice_up.set()

    # aiortc gathers every candidate before the offer is set, so they travel inside its SDP.
    await pc.setLocalDescription(await pc.createOffer())
    t_offer = time.monotonic()
    await c.request(c.sync.signal(call, fd.CallSignal.OFFER(sdp=pc.localDescription.sdp, restart=False)), 10)
    await c.request(c.sync.signal(call, fd.CallSignal.END_OF_CANDIDATES()), 10)

    async def apply_all() -> str:
        while True:
            reason = await apply_signal(pc, c, call, await signals.get())
            if reason is not None:
                return reason

    applying = asyncio.create_task(apply_all())
    await asyncio.wait_for(ice_up.wait(), 30)
    setup_ms = round((time.monotonic() - t_offer) * 1000)
    say(event="connected", setup_ms=setup_ms)

    hung_up_by_agent = None
    until = time.monotonic() + args.seconds
    while time.monotonic() < until and not applying.done():
        await asyncio.sleep(1)
        say(event="frames", received=received.get("video", 0), audio_received=received.get("audio", 0), sent=video.sent)
    if applying.done():
        hung_up_by_agent = applying.result()
    else:
        applying.cancel()
        await c.request(c.sync.signal(call, fd.CallSignal.HANG_UP(reason=fd.HangUpReason.NORMAL)), 10)
        await asyncio.wait_for(ended.wait(), 10)
    await pc.close()
    for r in readers:
        r.cancel()
    pumping.cancel()
    await c.close()
    say(event="done", interaction=call, setup_ms=setup_ms, frames_received=received.get("video", 0),
        audio_frames_received=received.get("audio", 0), frames_sent=video.sent, hung_up_by_agent=hung_up_by_agent)
    return 0 if received.get("video", 0) > 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
