// SFU browser client: one ES module, no dependencies.
//
// Speaks the signalling protocol of signalling-proto/PROTOCOL.md over one WebSocket (`/rtc`) and
// runs the two WebRTC transports of DECISIONS.md §10: the *publisher* transport (we offer) and
// the *subscriber* transport (the server offers with the `subscriber_offer` event).
//
//   import { SfuClient } from "/client.js";
//   const client = new SfuClient({ roomName: "demo", credential: { token }, displayName: "Ada" });
//   client.on("status", ({ status }) => ...);           // spec §7.1 connection status
//   client.on("stream", ({ participantId, streamId, stream }) => videoEl.srcObject = stream);
//   await client.join();                                 // RoomJoined (PROTOCOL.md §7)
//   await client.publishCamera();                        // camera + mic, VP8 simulcast q/h/f
//   client.setSubscriptionPreference(pid, "camera", { targetSize: { width: 320, height: 180 } });
//   await client.command("send_chat_message", { text: "hi" });
//
// Every server event is re-emitted under its own name (`client.on("chat_message", data => ...)`)
// and as `"event"` ({name, seq, ts, data}). The client keeps a roster (`participants`, a Map by
// id), the breakout view (`breakout`) and the caller's `location` up to date from the events.

/** The statuses of spec §7.1. */
export const Status = Object.freeze({
  READY: "ready",
  CONNECTING: "connecting",
  CONNECTED: "connected",
  ROOM_LOCKED: "room_locked",
  KNOCKING: "knocking",
  KNOCK_ON_HOLD: "knock_on_hold",
  KNOCK_REJECTED: "knock_rejected",
  KICKED: "kicked",
  LEAVING: "leaving",
  LEFT: "left",
  DISCONNECTED: "disconnected",
  RECONNECTING: "reconnecting",
});

const TERMINAL = new Set([Status.KICKED, Status.LEFT, Status.KNOCK_REJECTED]);

/** Close codes after which the client must not reconnect (PROTOCOL.md §1). */
const FINAL_CLOSE_CODES = new Map([
  [1000, Status.LEFT],
  [4001, Status.KICKED],
  [4002, Status.KICKED],
  [4003, Status.KNOCK_REJECTED],
  [4004, Status.DISCONNECTED], // replaced by a resume on another socket
  [4005, Status.DISCONNECTED],
]);

/** The camera's simulcast encodings, lowest first (index = spatial layer). */
export const CAMERA_LAYERS = Object.freeze([
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
]);

/** A failed command: `code` is an error code of PROTOCOL.md §8. */
export class SfuError extends Error {
  constructor(command, error) {
    super(`${command}: ${error.code}: ${error.message ?? ""}`);
    this.name = "SfuError";
    this.command = command;
    this.code = error.code;
    this.details = error.details;
  }
}

/** A tiny event emitter: `on` returns a function that removes the listener. */
export class Emitter {
  #listeners = new Map();

  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  once(name, fn) {
    const off = this.on(name, (value) => {
      off();
      fn(value);
    });
    return off;
  }

  off(name, fn) {
    this.#listeners.get(name)?.delete(fn);
  }

  emit(name, value) {
    for (const fn of [...(this.#listeners.get(name) ?? [])]) {
      try {
        fn(value);
      } catch (error) {
        console.error(`listener of ${name} failed`, error);
      }
    }
  }

  /** Resolves with the next value of `name` for which `predicate` holds. */
  waitFor(name, predicate = () => true, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out waiting for ${name}`));
      }, timeoutMs);
      const off = this.on(name, (value) => {
        if (!predicate(value)) return;
        clearTimeout(timer);
        off();
        resolve(value);
      });
    });
  }
}

/** The default signalling URL: `/rtc` on the page's own host. */
export function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/rtc`;
}

/**
 * A development join token from the server's `GET /dev/token` (development mode only,
 * DECISIONS.md §11). Resolves with the token string.
 */
export async function fetchDevToken({ room, identity, role = "visitor", name, base = "" }) {
  const query = new URLSearchParams({ room, identity, role });
  if (name) query.set("name", name);
  const response = await fetch(`${base}/dev/token?${query}`, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.message ?? `GET /dev/token answered ${response.status}`);
  }
  return body.token;
}

/** Splits a subscriber msid stream id `<participantId>-<streamId>`. */
export function parseMsid(msid) {
  const match = /^(.*)-(camera|ss-[^-]+)$/.exec(msid ?? "");
  return match ? { participantId: match[1], streamId: match[2] } : null;
}

const key = (participantId, streamId) => `${participantId}/${streamId}`;

export class SfuClient extends Emitter {
  /**
   * @param {object} options
   * @param {string} options.roomName       `[a-z0-9-]{1,64}`
   * @param {object} [options.credential]   `{token}`, `{roomKey}` or `{grant}`
   * @param {string} [options.displayName]
   * @param {string} [options.url]          signalling URL, default `ws(s)://<page host>/rtc`
   * @param {object} [options.capabilities] default `{breakouts: true, screenshare: true}`
   * @param {object} [options.media]        what we intend to send, default audio+video
   * @param {boolean} [options.reconnect]   resume after a lost socket (default true)
   * @param {RTCIceServer[]} [options.iceServers] added to the STUN/TURN servers the server
   *   hands out in `join_room`'s `iceServers` (default none: the SFU is ICE-lite)
   * @param {RTCIceTransportPolicy} [options.iceTransportPolicy] `"all"` (default) or `"relay"`
   *   (only TURN relay candidates, e.g. to check a TURN set-up)
   */
  constructor(options) {
    super();
    this.options = {
      url: defaultUrl(),
      capabilities: { breakouts: true, screenshare: true },
      media: { audio: true, video: true },
      reconnect: true,
      iceServers: [],
      iceTransportPolicy: "all",
      ...options,
    };
    /** STUN/TURN servers with credentials from the last `join_room` (PROTOCOL.md §10). */
    this.joinedIceServers = [];
    this.status = Status.READY;
    this.error = null;
    this.selfId = null;
    this.roleName = null;
    this.resumeToken = null;
    this.lastSeq = 0;
    this.room = null;
    /** @type {Map<string, object>} ParticipantView by id, ourselves included. */
    this.participants = new Map();
    this.knockers = new Map();
    this.breakout = null;
    this.location = null;
    this.chat = [];
    /** Streams we may receive (from `subscriptions_changed`): key -> {participantId, streamId, kinds}. */
    this.subscriptions = new Map();
    /** Remote MediaStreams by key `${participantId}/${streamId}`. */
    this.remoteStreams = new Map();
    this.localStream = null;
    this.screen = null; // {streamId, stream, transceivers}
    this.publisherPc = null;
    this.subscriberPc = null;
    this.audioEnabled = !!this.options.media.audio;
    this.videoEnabled = !!this.options.media.video;

    this.ws = null;
    this.nextReqId = 1;
    this.pending = new Map();
    this.preferences = new Map();
    this.pendingPreferences = new Map();
    this.preferenceTimer = null;
    this.subscriberQueue = Promise.resolve();
    this.publisherQueue = Promise.resolve();
    this.publishedTracks = []; // TrackPublication, resent after a resume
    this.reconnectAttempt = 0;
    this.reconnectTimer = null;
    this.grant = null;
  }

  // ---------------------------------------------------------------- status

  #setStatus(status, detail = {}) {
    if (TERMINAL.has(this.status) && status !== Status.READY) return;
    if (this.status === status && !detail.force) return;
    this.status = status;
    if (detail.error !== undefined) this.error = detail.error;
    this.emit("status", { status, ...detail });
  }

  // ---------------------------------------------------------------- socket

  #open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.options.url);
      this.ws = ws;
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`cannot open ${this.options.url}`));
      ws.onmessage = (message) => this.#onFrame(message.data);
      ws.onclose = (close) => {
        if (this.ws === ws) this.#onClose(close);
        reject(new Error(`socket closed (${close.code})`));
      };
    });
  }

  #onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.warn("not JSON", text);
      return;
    }
    if (frame.type === "response") {
      const waiting = this.pending.get(frame.reqId);
      if (!waiting) return;
      this.pending.delete(frame.reqId);
      if (frame.ok) waiting.resolve(frame.result ?? {});
      else waiting.reject(new SfuError(waiting.name, frame.error ?? { code: "internal_error" }));
    } else if (frame.type === "event") {
      this.#onEvent(frame);
    }
  }

  #onClose(close) {
    for (const waiting of this.pending.values()) {
      waiting.reject(new SfuError(waiting.name, { code: "not_connected", message: "socket closed" }));
    }
    this.pending.clear();
    this.ws = null;
    const final = FINAL_CLOSE_CODES.get(close.code);
    if (this.status === Status.LEAVING || close.code === 1000) {
      this.#teardownMedia();
      this.#setStatus(Status.LEFT);
      return;
    }
    if (final && final !== Status.DISCONNECTED) {
      this.#teardownMedia();
      this.#setStatus(final, { code: close.code, reason: close.reason });
      return;
    }
    if (TERMINAL.has(this.status)) return;
    const wasAdmitted = this.resumeToken !== null;
    this.#setStatus(Status.DISCONNECTED, { code: close.code, reason: close.reason });
    if (final || !this.options.reconnect || !wasAdmitted) {
      this.#teardownMedia();
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    clearTimeout(this.reconnectTimer);
    const delay = Math.min(500 * 2 ** this.reconnectAttempt, 5_000);
    this.reconnectAttempt += 1;
    this.reconnectTimer = setTimeout(() => this.#reconnect(), delay);
  }

  async #reconnect() {
    try {
      await this.#open();
    } catch {
      if (this.status === Status.DISCONNECTED) this.#scheduleReconnect();
      return;
    }
    this.#setStatus(Status.RECONNECTING);
    try {
      const resumed = await this.command("resume", {
        resumeToken: this.resumeToken,
        lastSeq: this.lastSeq,
      });
      this.reconnectAttempt = 0;
      this.selfId = resumed.selfId;
      this.#setLocation(resumed.location);
      this.#setStatus(Status.CONNECTED, { resumed: true });
      this.emit("resumed", resumed);
      // The WebRTC transports do not ride on the socket: after a resume they keep flowing, and
      // the server keeps its side of them. Only transports that failed meanwhile start over.
      const broken = (pc) => pc && ["failed", "closed"].includes(pc.connectionState);
      if (broken(this.publisherPc) || broken(this.subscriberPc)) await this.#restartMedia();
    } catch (error) {
      if (error.code === "resume_failed") {
        this.resumeToken = null;
        this.lastSeq = 0;
        this.#teardownMedia({ keepLocal: true });
        await this.#joinOnOpenSocket().catch(() => {});
        if (this.status === Status.CONNECTED) await this.#restartMedia();
      } else if (error.code === "kicked_from_room") {
        this.#setStatus(Status.KICKED);
      }
    }
  }

  /**
   * Sends one command and resolves with its `result` (rejects with {@link SfuError}).
   * Responses are matched by `reqId`.
   */
  command(name, args = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SfuError(name, { code: "not_connected", message: "no socket" }));
    }
    const reqId = `c-${this.nextReqId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { name, resolve, reject });
      ws.send(JSON.stringify({ type: "command", name, reqId, args }));
    });
  }

  // ---------------------------------------------------------------- admission

  /** Opens the socket and joins (PROTOCOL.md §4.1). Resolves with `RoomJoined`. */
  async join() {
    this.#setStatus(Status.CONNECTING, { error: null });
    try {
      await this.#open();
    } catch (error) {
      this.#setStatus(Status.DISCONNECTED, { error: error.message });
      throw error;
    }
    return this.#joinOnOpenSocket();
  }

  async #joinOnOpenSocket() {
    this.#setStatus(Status.CONNECTING);
    const args = {
      roomName: this.options.roomName,
      capabilities: this.options.capabilities,
      media: { audio: !!this.options.media.audio, video: !!this.options.media.video },
    };
    if (this.grant) {
      args.credential = { grant: this.grant };
      args.selfId = this.selfId;
    } else if (this.options.credential) {
      args.credential = this.options.credential;
    }
    if (this.options.displayName) args.displayName = this.options.displayName;
    if (this.options.externalId) args.externalId = this.options.externalId;
    try {
      const joined = await this.command("join_room", args);
      this.grant = null;
      this.joinedIceServers = joined.iceServers ?? [];
      this.#applyJoined(joined);
      this.resumeToken = joined.resumeToken;
      this.reconnectAttempt = 0;
      this.#setStatus(Status.CONNECTED, { error: null });
      this.emit("joined", joined);
      return joined;
    } catch (error) {
      if (error.code === "room_locked") {
        this.selfId = error.details?.selfId ?? null;
        this.#setStatus(Status.ROOM_LOCKED, { error: null });
        if (this.options.autoKnock) await this.knock();
        throw error;
      }
      this.#setStatus(Status.DISCONNECTED, { error: error.code ?? error.message });
      this.ws?.close();
      throw error;
    }
  }

  /** Knocks on a locked room (after `room_locked`); resolves once the knock is queued. */
  async knock() {
    await this.command("knock_room", { displayName: this.options.displayName });
    this.#setStatus(Status.KNOCKING);
  }

  async cancelKnock() {
    await this.command("cancel_knock");
    this.#setStatus(Status.READY);
  }

  /** Leaves the room (`leave_room`, then the server closes the socket). */
  async leave() {
    clearTimeout(this.reconnectTimer);
    if (!this.ws) {
      this.#teardownMedia();
      this.#setStatus(Status.LEFT);
      return;
    }
    this.#setStatus(Status.LEAVING);
    try {
      await this.command("leave_room");
    } catch {
      this.ws?.close();
    }
  }

  // ---------------------------------------------------------------- state from events

  #applyJoined(state) {
    this.selfId = state.selfId ?? this.selfId;
    this.roleName = state.roleName ?? this.roleName;
    this.room = state.room;
    this.participants = new Map(state.room.participants.map((p) => [p.id, p]));
    this.knockers = new Map((state.room.knockers ?? []).map((k) => [k.participantId, k]));
    this.breakout = state.breakout;
    this.chat = [...(state.chatHistory ?? [])];
    const self = this.participants.get(this.selfId);
    this.#setLocation(self ? self.location : state.breakout?.self?.location ?? null);
    this.emit("roster", this.participants);
    this.emit("knockers", this.knockers);
    this.emit("breakout", this.breakout);
    this.emit("chat", this.chat);
  }

  #setLocation(location) {
    if (location === undefined || location === this.location) return;
    this.location = location;
    this.emit("location", location);
  }

  #patchParticipant(id, patch) {
    const p = this.participants.get(id);
    if (!p) return;
    Object.assign(p, patch);
    this.emit("roster", this.participants);
  }

  #onEvent(frame) {
    const { name, data = {} } = frame;
    if (typeof frame.seq === "number") {
      if (this.lastSeq && frame.seq > this.lastSeq + 1 && !data.replayed) {
        // Lost events (§6.3): take a fresh snapshot.
        this.command("get_room_state")
          .then((state) => this.#applyJoined(state))
          .catch(() => {});
      }
      this.lastSeq = Math.max(this.lastSeq, frame.seq);
    }
    switch (name) {
      case "room_state":
        this.#applyJoined(data);
        break;
      case "new_client":
        this.participants.set(data.client.id, data.client);
        this.emit("roster", this.participants);
        break;
      case "client_left":
        this.participants.delete(data.clientId);
        this.emit("roster", this.participants);
        break;
      case "client_kicked":
        if (data.clientId === this.selfId) {
          this.#teardownMedia();
          this.#setStatus(Status.KICKED, { reason: data.reason });
        }
        break;
      case "participant_connection_changed":
        this.#patchParticipant(data.participantId, { connection: data.connection });
        break;
      case "room_locked":
        if (this.room) this.room.isLocked = data.isLocked;
        break;
      case "room_knocked":
        this.knockers.set(data.participantId, { ...data, status: "knocking" });
        this.emit("knockers", this.knockers);
        break;
      case "knocker_left":
        this.knockers.delete(data.participantId);
        this.emit("knockers", this.knockers);
        break;
      case "knock_handled":
        this.#onKnockHandled(data);
        break;
      case "audio_enabled":
        this.#patchParticipant(data.participantId, { isAudioEnabled: data.enabled });
        if (data.participantId === this.selfId && !data.enabled) this.#muteLocal("audio");
        break;
      case "video_enabled":
        this.#patchParticipant(data.participantId, { isVideoEnabled: data.enabled });
        if (data.participantId === this.selfId && !data.enabled) this.#muteLocal("video");
        break;
      case "audio_enable_requested":
        if (!data.enable) this.setAudioEnabled(false).catch(() => {});
        break;
      case "video_enable_requested":
        if (!data.enable) this.setVideoEnabled(false).catch(() => {});
        break;
      case "client_metadata_received":
        this.#patchParticipant(data.participantId, {
          displayName: data.displayName,
          stickyReaction: data.stickyReaction,
        });
        break;
      case "screenshare_started": {
        const p = this.participants.get(data.participantId);
        if (p && !p.screenshares.some((s) => s.streamId === data.streamId)) {
          p.screenshares.push({ streamId: data.streamId, hasAudioTrack: data.hasAudioTrack });
          this.emit("roster", this.participants);
        }
        break;
      }
      case "screenshare_stopped": {
        const p = this.participants.get(data.participantId);
        if (p) {
          p.screenshares = p.screenshares.filter((s) => s.streamId !== data.streamId);
          this.emit("roster", this.participants);
        }
        if (data.participantId === this.selfId && this.screen?.streamId === data.streamId) {
          this.#dropScreen().catch(() => {});
        }
        break;
      }
      case "breakout_location_changed":
        this.#patchParticipant(data.participantId, { location: data.to });
        if (data.participantId === this.selfId) this.#setLocation(data.to);
        break;
      case "breakout_updated":
        this.breakout = data;
        if (data.self) this.#setLocation(data.self.location);
        this.emit("breakout", data);
        break;
      case "breakout_monitor_changed":
        this.#patchParticipant(data.hostId, { monitoring: data.sessionId });
        break;
      case "subscriptions_changed":
        this.#onSubscriptionsChanged(data);
        break;
      case "subscriber_offer":
        this.#onSubscriberOffer(data);
        break;
      case "ice_candidate":
        this.#onRemoteCandidate(data);
        break;
      case "chat_message":
        this.chat.push(data);
        this.emit("chat", this.chat);
        break;
      case "chat_message_removed": {
        const m = this.chat.find((c) => c.id === data.messageId);
        if (m) Object.assign(m, { removed: true, text: "" });
        this.emit("chat", this.chat);
        break;
      }
      case "chat_history":
        this.chat = [...data.messages];
        this.emit("chat", this.chat);
        break;
      case "room_left":
        this.#teardownMedia();
        this.#setStatus(Status.LEFT);
        break;
      default:
        break;
    }
    this.emit(name, data);
    this.emit("event", frame);
  }

  #onKnockHandled(data) {
    if (data.participantId !== undefined) {
      // A host's copy.
      this.knockers.delete(data.participantId);
      this.emit("knockers", this.knockers);
      return;
    }
    if (data.resolution === "accepted") {
      this.grant = data.grant;
      this.#joinOnOpenSocket().catch(() => {});
    } else if (data.resolution === "on_hold") {
      this.#setStatus(Status.KNOCK_ON_HOLD, { message: data.message });
    } else if (data.resolution === "rejected") {
      this.#setStatus(Status.KNOCK_REJECTED, { message: data.message, reason: data.reason });
    }
  }

  // ---------------------------------------------------------------- own media state

  /**
   * Starts camera and microphone and publishes them (PROTOCOL.md §4.1 step 2). `videoCodec`
   * picks the simulcast codec: "video/VP8" (default) or "video/H264".
   */
  async publishCamera({ audio = true, video = true, constraints, videoCodec = "video/VP8" } = {}) {
    this.videoCodec = videoCodec;
    if (!this.localStream) {
      requireCapture();
      this.localStream = await navigator.mediaDevices.getUserMedia(
        constraints ?? {
          audio: audio ? { echoCancellation: true, noiseSuppression: true } : false,
          video: video ? { width: { ideal: 1280 }, height: { ideal: 720 } } : false,
        },
      );
      const audioTrack = this.localStream.getAudioTracks()[0];
      const videoTrack = this.localStream.getVideoTracks()[0];
      if (audioTrack) audioTrack.enabled = this.audioEnabled;
      if (videoTrack) videoTrack.enabled = this.videoEnabled;
      this.emit("local_stream", this.localStream);
    }
    await this.#publishLocal();
    return this.localStream;
  }

  async #publishLocal() {
    const pc = this.#publisher();
    const stream = this.localStream;
    const tracks = [];
    const audioTrack = stream.getAudioTracks()[0];
    const videoTrack = stream.getVideoTracks()[0];
    if (audioTrack) {
      const t = pc.addTransceiver(audioTrack, { direction: "sendonly", streams: [stream] });
      tracks.push({ transceiver: t, source: "microphone" });
    }
    if (videoTrack) {
      const t = pc.addTransceiver(videoTrack, {
        direction: "sendonly",
        streams: [stream],
        sendEncodings: CAMERA_LAYERS.map((l) => ({ ...l })),
      });
      preferCodec(t, this.videoCodec ?? "video/VP8");
      const { width = 1280, height = 720 } = videoTrack.getSettings();
      tracks.push({
        transceiver: t,
        source: "camera",
        layers: CAMERA_LAYERS.map((l) => ({
          rid: l.rid,
          width: Math.round(width / l.scaleResolutionDownBy),
          height: Math.round(height / l.scaleResolutionDownBy),
          maxBitrate: l.maxBitrate,
        })),
      });
    }
    await this.#negotiatePublisher(tracks);
  }

  /** One publisher negotiation: offer, `publish_tracks` for the new tracks, `publisher_offer`. */
  #negotiatePublisher(newTracks = [], removedMids = []) {
    const run = async () => {
      const pc = this.publisherPc;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (removedMids.length) await this.command("unpublish_tracks", { mids: removedMids });
      const publications = newTracks.map(({ transceiver, source, streamId, layers }) => {
        const publication = { mid: transceiver.mid, source };
        if (streamId) publication.streamId = streamId;
        if (layers) publication.layers = layers;
        return publication;
      });
      if (publications.length) await this.command("publish_tracks", { tracks: publications });
      this.publishedTracks = this.publishedTracks
        .filter((t) => !removedMids.includes(t.mid))
        .concat(publications);
      const answer = await this.command("publisher_offer", { sdp: pc.localDescription.sdp });
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      this.publisherReady = true;
      for (const candidate of this.queuedCandidates ?? []) this.#sendCandidate("publisher", candidate);
      this.queuedCandidates = [];
      this.emit("published", publications);
    };
    const result = this.publisherQueue.then(run, run);
    this.publisherQueue = result.catch(() => {});
    return result;
  }

  /** Both transports use the configured servers and the server's (with fresh credentials). */
  #rtcConfiguration() {
    return {
      iceServers: [...this.options.iceServers, ...this.joinedIceServers],
      iceTransportPolicy: this.options.iceTransportPolicy,
      bundlePolicy: "max-bundle",
    };
  }

  #publisher() {
    if (this.publisherPc) return this.publisherPc;
    const pc = new RTCPeerConnection(this.#rtcConfiguration());
    this.publisherPc = pc;
    this.publisherReady = false;
    this.queuedCandidates = [];
    pc.onicecandidate = ({ candidate }) => {
      const init = candidate ? candidate.toJSON() : null;
      if (this.publisherReady) this.#sendCandidate("publisher", init);
      else this.queuedCandidates.push(init);
    };
    pc.onconnectionstatechange = () =>
      this.emit("transport_state", { transport: "publisher", state: pc.connectionState });
    return pc;
  }

  #sendCandidate(transport, candidate) {
    if (candidate && !candidate.candidate) return; // the empty end-of-candidates of some browsers
    const clean = candidate && {
      candidate: candidate.candidate,
      ...(candidate.sdpMid != null && { sdpMid: candidate.sdpMid }),
      ...(candidate.sdpMLineIndex != null && { sdpMLineIndex: candidate.sdpMLineIndex }),
      ...(candidate.usernameFragment != null && { usernameFragment: candidate.usernameFragment }),
    };
    this.command("ice_candidate", { transport, candidate: clean }).catch((error) =>
      console.debug("ice_candidate", error.code),
    );
  }

  #onRemoteCandidate({ transport, candidate }) {
    const pc = transport === "publisher" ? this.publisherPc : this.subscriberPc;
    if (!pc) return;
    pc.addIceCandidate(candidate ?? null).catch((error) => console.debug("addIceCandidate", error));
  }

  #muteLocal(kind) {
    const track = kind === "audio" ? this.localStream?.getAudioTracks()[0] : this.localStream?.getVideoTracks()[0];
    if (track) track.enabled = false;
    if (kind === "audio") this.audioEnabled = false;
    else this.videoEnabled = false;
    this.emit("local_media", { audio: this.audioEnabled, video: this.videoEnabled });
  }

  /** Microphone on/off: the track is muted locally and the room is told (`set_audio_enabled`). */
  async setAudioEnabled(enabled) {
    const track = this.localStream?.getAudioTracks()[0];
    if (track) track.enabled = enabled;
    this.audioEnabled = enabled;
    this.emit("local_media", { audio: this.audioEnabled, video: this.videoEnabled });
    return this.command("set_audio_enabled", { enabled });
  }

  /** Camera on/off, as {@link setAudioEnabled}. */
  async setVideoEnabled(enabled) {
    const track = this.localStream?.getVideoTracks()[0];
    if (track) track.enabled = enabled;
    this.videoEnabled = enabled;
    this.emit("local_media", { audio: this.audioEnabled, video: this.videoEnabled });
    return this.command("set_video_enabled", { enabled });
  }

  /** Shares the screen (and its audio when the browser offers it). Resolves with the stream. */
  async startScreenshare({ stream } = {}) {
    if (this.screen) return this.screen.stream;
    if (!stream) requireCapture();
    const media = stream ?? (await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true }));
    const videoTrack = media.getVideoTracks()[0];
    const audioTrack = media.getAudioTracks()[0];
    let streamId;
    try {
      ({ streamId } = await this.command("start_screenshare", { hasAudioTrack: !!audioTrack }));
    } catch (error) {
      media.getTracks().forEach((t) => t.stop());
      throw error;
    }
    const pc = this.#publisher();
    const tracks = [];
    const transceivers = [];
    if (videoTrack) {
      const t = pc.addTransceiver(videoTrack, { direction: "sendonly", streams: [media] });
      preferCodec(t, this.videoCodec ?? "video/VP8");
      tracks.push({ transceiver: t, source: "screenshare", streamId });
      transceivers.push(t);
      videoTrack.addEventListener("ended", () => this.stopScreenshare().catch(() => {}));
    }
    if (audioTrack) {
      const t = pc.addTransceiver(audioTrack, { direction: "sendonly", streams: [media] });
      tracks.push({ transceiver: t, source: "screenshare_audio", streamId });
      transceivers.push(t);
    }
    this.screen = { streamId, stream: media, transceivers };
    this.emit("screenshare", this.screen);
    await this.#negotiatePublisher(tracks);
    return media;
  }

  /** Stops our screenshare: unpublishes its tracks, renegotiates and tells the room. */
  async stopScreenshare() {
    if (!this.screen) return;
    const { streamId } = this.screen;
    await this.#dropScreen();
    await this.command("stop_screenshare", { streamId }).catch(() => {});
  }

  async #dropScreen() {
    const screen = this.screen;
    if (!screen) return;
    this.screen = null;
    const mids = screen.transceivers.map((t) => t.mid).filter((m) => m != null);
    screen.stream.getTracks().forEach((t) => t.stop());
    for (const t of screen.transceivers) {
      try {
        t.stop();
      } catch {
        /* already stopped */
      }
    }
    this.emit("screenshare", null);
    if (this.publisherPc && this.ws) await this.#negotiatePublisher([], mids).catch(() => {});
  }

  // ---------------------------------------------------------------- subscriber transport

  #subscriber() {
    if (this.subscriberPc) return this.subscriberPc;
    const pc = new RTCPeerConnection(this.#rtcConfiguration());
    this.subscriberPc = pc;
    pc.onicecandidate = ({ candidate }) => {
      this.#sendCandidate("subscriber", candidate ? candidate.toJSON() : null);
    };
    pc.ontrack = (event) => this.#onRemoteTrack(event);
    pc.onconnectionstatechange = () =>
      this.emit("transport_state", { transport: "subscriber", state: pc.connectionState });
    return pc;
  }

  #onSubscriberOffer({ sdp, version }) {
    const run = async () => {
      const pc = this.#subscriber();
      await pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await this.command("subscriber_answer", { sdp: pc.localDescription.sdp, version });
      this.#pruneRemoteTracks();
      this.emit("subscriber_negotiated", { version });
    };
    this.subscriberQueue = this.subscriberQueue.then(run).catch((error) => {
      console.warn("subscriber negotiation failed", error);
      this.emit("media_error", { transport: "subscriber", error });
    });
  }

  #onRemoteTrack(event) {
    const msid = event.streams[0]?.id;
    const ids = parseMsid(msid);
    if (!ids) {
      console.warn("remote track of unknown stream", msid);
      return;
    }
    const k = key(ids.participantId, ids.streamId);
    let stream = this.remoteStreams.get(k);
    if (!stream) {
      stream = new MediaStream();
      this.remoteStreams.set(k, stream);
    }
    for (const old of stream.getTracks().filter((t) => t.kind === event.track.kind)) {
      stream.removeTrack(old);
    }
    stream.addTrack(event.track);
    event.track.addEventListener("ended", () => this.#pruneRemoteTracks());
    this.emit("stream", { ...ids, stream, track: event.track, kind: event.track.kind });
  }

  /** Drops the tracks whose transceiver the server stopped (a removed subscription). */
  #pruneRemoteTracks() {
    const live = new Set(
      (this.subscriberPc?.getTransceivers() ?? [])
        .filter((t) => t.currentDirection !== "stopped" && t.currentDirection !== "inactive")
        .map((t) => t.receiver.track.id),
    );
    for (const [k, stream] of this.remoteStreams) {
      for (const track of stream.getTracks()) {
        if (!live.has(track.id)) stream.removeTrack(track);
      }
      if (stream.getTracks().length === 0) {
        this.remoteStreams.delete(k);
        const [participantId, streamId] = k.split("/");
        this.emit("stream_removed", { participantId, streamId });
      }
    }
  }

  /**
   * `subscriptions_changed` says which streams and kinds we may receive (mutes remove a kind
   * without renegotiating). The media itself follows the subscriber transport: tracks come with
   * `ontrack` and go when a renegotiation stops their transceiver ({@link #pruneRemoteTracks}).
   */
  #onSubscriptionsChanged({ added = [], removed = [] }) {
    for (const s of removed) {
      const k = key(s.participantId, s.streamId);
      const current = this.subscriptions.get(k);
      if (!current) continue;
      const kinds = current.kinds.filter((kind) => !s.kinds.includes(kind));
      if (kinds.length) this.subscriptions.set(k, { ...current, kinds });
      else this.subscriptions.delete(k);
    }
    let resend = false;
    for (const s of added) {
      const k = key(s.participantId, s.streamId);
      const before = this.subscriptions.get(k)?.kinds ?? [];
      const kinds = [...new Set([...before, ...s.kinds])];
      this.subscriptions.set(k, { participantId: s.participantId, streamId: s.streamId, kinds });
      // A kind that (re)appears starts from the server's defaults: send what we last wanted.
      const last = this.preferences.get(k);
      if (last) {
        const wanted = JSON.parse(last);
        if (!wanted.kind || (s.kinds.includes(wanted.kind) && !before.includes(wanted.kind))) {
          this.pendingPreferences.set(k, wanted);
          resend = true;
        }
      }
    }
    if (resend) this.#schedulePreferences();
    this.emit("subscriptions", this.subscriptions);
  }

  /**
   * What we want of one received stream (PROTOCOL.md §5.9 `SubscriptionPreference`):
   * `{targetSize: {width, height}}` or `{maxLayer: {spatial, temporal}}`, `paused`, `priority`,
   * `kind`. Calls within 150 ms are merged into one `set_subscription_preferences`; a repeat of
   * the current preference sends nothing.
   */
  setSubscriptionPreference(participantId, streamId, preference) {
    const k = key(participantId, streamId);
    const wanted = { participantId, streamId, ...preference };
    const text = JSON.stringify(wanted);
    if (this.preferences.get(k) === text) return;
    this.preferences.set(k, text);
    this.pendingPreferences.set(k, wanted);
    this.#schedulePreferences();
  }

  #schedulePreferences() {
    clearTimeout(this.preferenceTimer);
    this.preferenceTimer = setTimeout(() => this.#flushPreferences(), 150);
  }

  /**
   * Sends the pending preferences of streams we are subscribed to. Those of streams not (yet)
   * subscribed stay pending and go out when `subscriptions_changed` adds them, so a tile that
   * renders before its subscription, or a stream that comes back after a breakout, gets the
   * tile's size.
   */
  #flushPreferences() {
    const subscribed = ([k, p]) => {
      const s = this.subscriptions.get(k);
      return s && (!p.kind || s.kinds.includes(p.kind));
    };
    const ready = [...this.pendingPreferences.entries()].filter(subscribed);
    if (!ready.length) return;
    for (const [k] of ready) this.pendingPreferences.delete(k);
    const preferences = ready.map(([, p]) => p);
    this.command("set_subscription_preferences", { preferences }).catch((error) => {
      console.debug("set_subscription_preferences", error.code);
    });
  }

  // ---------------------------------------------------------------- reconnect

  async #restartMedia() {
    // New transports from step 2 of PROTOCOL.md §4.1 (after a fresh join, or failed ones).
    this.#teardownMedia({ keepLocal: true });
    if (this.localStream) await this.#publishLocal().catch((e) => this.emit("media_error", { transport: "publisher", error: e }));
  }

  #teardownMedia({ keepLocal = false } = {}) {
    this.publisherPc?.close();
    this.subscriberPc?.close();
    this.publisherPc = null;
    this.subscriberPc = null;
    this.publisherReady = false;
    this.publishedTracks = [];
    this.subscriptions.clear();
    for (const [k] of this.remoteStreams) {
      const [participantId, streamId] = k.split("/");
      this.emit("stream_removed", { participantId, streamId });
    }
    this.remoteStreams.clear();
    if (this.screen) {
      this.screen.stream.getTracks().forEach((t) => t.stop());
      this.screen = null;
      this.emit("screenshare", null);
    }
    if (!keepLocal && this.localStream) {
      this.localStream.getTracks().forEach((t) => t.stop());
      this.localStream = null;
    }
  }

  // ---------------------------------------------------------------- helpers

  get self() {
    return this.participants.get(this.selfId);
  }

  get isHost() {
    return this.roleName === "host";
  }

  /** Participants in our location (whose media we may receive), ourselves included. */
  participantsHere() {
    return [...this.participants.values()].filter((p) => (p.location ?? null) === (this.location ?? null));
  }

  /** `getStats()` of both transports, for diagnostics and tests. */
  async stats() {
    const read = async (pc) => (pc ? [...(await pc.getStats()).values()] : []);
    return { publisher: await read(this.publisherPc), subscriber: await read(this.subscriberPc) };
  }
}

/**
 * Offers `mimeType` (plus the repair codecs rtx/red/ulpfec) and nothing else: the server
 * answers in its own codec order, so listing other codecs after it would let the answer pick
 * VP8 anyway.
 */
function preferCodec(transceiver, mimeType) {
  const capabilities = RTCRtpSender.getCapabilities?.(transceiver.sender.track?.kind ?? "video");
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const wanted = mimeType.toLowerCase();
  const repair = ["video/rtx", "video/red", "video/ulpfec"];
  const chosen = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  const rest = capabilities.codecs.filter((c) => repair.includes(c.mimeType.toLowerCase()));
  if (chosen.length) transceiver.setCodecPreferences([...chosen, ...rest]);
}

/** Capture APIs exist only in secure contexts; say so instead of "undefined is not a function". */
function requireCapture() {
  if (!globalThis.navigator?.mediaDevices) {
    throw new Error(
      "camera, microphone and screen capture need a secure context: open the page over " +
        "https:// (or http://localhost), e.g. with the server's --tls-cert/--tls-key or an HTTPS " +
        "reverse proxy",
    );
  }
}
