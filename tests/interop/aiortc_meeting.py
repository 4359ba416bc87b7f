#!/usr/bin/env python3
"""Interop test: aiortc peers meet through the SFU over its real signalling protocol.

A publisher sends VP8 + Opus (aiortc has no simulcast: a single-layer publisher); two
subscribers receive and *decode* them through the SFU. Checks: each subscriber decodes at
least MIN_VIDEO_FRAMES video frames and MIN_AUDIO_FRAMES audio frames of the publisher; when
the publisher leaves, each subscriber gets, within a second, a subscriber offer that stops
every m-line that carried the publisher (port 0), and its transceivers go inactive.

Run by scripts/interop-test inside a loopback-only network namespace. Usage:
    aiortc_meeting.py http://127.0.0.1:7880
"""

import asyncio
import json
import sys
import time
import urllib.parse
import urllib.request

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
import websockets

# aioice skips loopback when gathering host candidates (REAL-PEERS.md); in the test namespace
# 127.0.0.1 is the only address there is.
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

ROOM = "interop"
MIN_VIDEO_FRAMES = 30
MIN_AUDIO_FRAMES = 50
MEDIA_TIMEOUT = 30.0
LEAVE_TIMEOUT = 1.0


def log(*args):
    print(f"[{time.monotonic():9.3f}]", *args, flush=True)


def dev_token(base, identity, role):
    query = urllib.parse.urlencode({"room": ROOM, "identity": identity, "role": role})
    with urllib.request.urlopen(f"{base}/dev/token?{query}", timeout=5) as answer:
        return json.load(answer)["token"]


class Signalling:
    """One /rtc WebSocket: commands matched to responses by reqId, events in a queue."""

    def __init__(self, ws):
        self.ws = ws
        self.next_req = 0
        self.pending = {}
        self.events = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base):
        ws = await websockets.connect(base.replace("http", "ws", 1) + "/rtc")
        return cls(ws)

    async def _read(self):
        try:
            async for frame in self.ws:
                message = json.loads(frame)
                if message["type"] == "response":
                    future = self.pending.pop(message["reqId"], None)
                    if future is not None:
                        future.set_result(message)
                elif message["type"] == "event":
                    await self.events.put(message)
        except websockets.ConnectionClosed:
            pass

    async def command(self, name, args=None):
        self.next_req += 1
        req_id = str(self.next_req)
        future = asyncio.get_running_loop().create_future()
        self.pending[req_id] = future
        frame = {"type": "command", "name": name, "reqId": req_id}
        if args is not None:
            frame["args"] = args
        await self.ws.send(json.dumps(frame))
        response = await asyncio.wait_for(future, 10)
        if not response["ok"]:
            raise RuntimeError(f"{name} failed: {response['error']}")
        return response.get("result")

    async def join(self, base, identity, role):
        return await self.command(
            "join_room",
            {
                "roomName": ROOM,
                "credential": {"token": dev_token(base, identity, role)},
                "displayName": identity,
                "capabilities": {"breakouts": True, "screenshare": False},
                "media": {"audio": True, "video": True},
            },
        )

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


def new_pc():
    # No ICE servers: aiortc would otherwise contact a public STUN server (REAL-PEERS.md).
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def publish(signalling):
    pc = new_pc()
    audio = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    video = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await signalling.command(
        "publish_tracks",
        {
            "tracks": [
                {"mid": audio.mid, "source": "microphone"},
                {"mid": video.mid, "source": "camera"},
            ]
        },
    )
    answer = await signalling.command("publisher_offer", {"sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return pc


class Subscriber:
    """Answers every subscriber_offer and decodes every track it gets."""

    def __init__(self, name, signalling):
        self.name = name
        self.signalling = signalling
        self.pc = new_pc()
        self.frames = {"audio": 0, "video": 0}
        self.offers = 0
        self.seen = set()
        self.last_offer = ""

        self.tasks = []
        self.pc.on("track", self._on_track)
        self.tasks.append(asyncio.create_task(self._answer_offers()))

    def _on_track(self, track):
        log(self.name, "track", track.kind)
        self.tasks.append(asyncio.create_task(self._decode(track)))

    async def _decode(self, track):
        try:
            while True:
                await track.recv()
                self.frames[track.kind] += 1
        except MediaStreamError:
            log(self.name, track.kind, "track ended")

    async def _answer_offers(self):
        while True:
            event = await self.signalling.events.get()
            self.seen.add(event["name"])
            if event["name"] != "subscriber_offer":
                log(self.name, "event", event["name"], json.dumps(event["data"])[:160])
                continue
            self.offers += 1
            data = event["data"]
            self.last_offer = data["sdp"]
            await self.pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.signalling.command(
                "subscriber_answer",
                {"sdp": self.pc.localDescription.sdp, "version": data["version"]},
            )
            log(self.name, "answered offer", data["version"])

    def active_mids(self):
        """The mids of the media m-lines the last offer keeps open (port != 0). The data
        channel's m=application line, which the server never stops, is not media."""
        mids, open_media = set(), False
        for line in self.last_offer.splitlines():
            if line.startswith("m="):
                kind, port = line[2:].split()[:2]
                open_media = kind in ("audio", "video") and port != "0"
            elif line.startswith("a=mid:") and open_media:
                mids.add(line[len("a=mid:"):])
        return mids

    def all_inactive(self):
        return all(
            t.currentDirection in (None, "inactive")
            for t in self.pc.getTransceivers()
            if t.kind in ("audio", "video")
        )

    async def close(self):
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def main(base):
    host = await Signalling.connect(base)
    await host.join(base, "publisher", "host")
    publisher_pc = await publish(host)

    subscribers = []
    for name in ("sub-1", "sub-2"):
        signalling = await Signalling.connect(base)
        await signalling.join(base, name, "viewer")
        subscribers.append(Subscriber(name, signalling))

    await until(
        "decoded media on every subscriber",
        lambda: all(
            s.frames["video"] >= MIN_VIDEO_FRAMES and s.frames["audio"] >= MIN_AUDIO_FRAMES
            for s in subscribers
        ),
        MEDIA_TIMEOUT,
    )
    for s in subscribers:
        log(s.name, "decoded", s.frames)

    for s in subscribers:
        assert len(s.active_mids()) == 2, f"{s.name}: m-lines {s.active_mids()}"
        for name in ("subscriptions_changed", "layer_changed", "stream_state_changed"):
            assert name in s.seen, f"{s.name} never got {name}: {s.seen}"

    # The publisher leaves: every subscriber's m-lines for it are stopped within a second.
    left_at = time.monotonic()
    await host.command("leave_room")
    await until(
        "the publisher's m-lines to stop on every subscriber",
        lambda: all(not s.active_mids() and s.all_inactive() for s in subscribers),
        LEAVE_TIMEOUT + 1.0,
    )
    took = time.monotonic() - left_at
    log(f"tracks removed {took * 1000:.0f} ms after leave_room")
    assert took <= LEAVE_TIMEOUT, f"tracks removed after {took:.2f}s (limit {LEAVE_TIMEOUT}s)"

    await publisher_pc.close()
    await host.close()
    for s in subscribers:
        await s.close()
        await s.signalling.close()
    print("interop OK:", {s.name: s.frames for s in subscribers}, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7880"))
