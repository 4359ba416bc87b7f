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
//
// docs/client.md is the API reference; client.d.ts has the TypeScript declarations.

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

/** Roles whose microphone and camera flags mean something (PROTOCOL.md §3, publishing roles). */
const PUBLISHING_ROLES = new Set(["host", "visitor", "granted_visitor"]);

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

/**
 * What each error code of PROTOCOL.md §8 means to a person, in words a meeting page can show.
 * `describeError` adds the details the server sent (a retry delay, a limit).
 */
export const ERROR_MESSAGES = Object.freeze({
  invalid_request: "The app sent a message the server could not read.",
  unknown_command: "The server does not know this action; it may be an older version.",
  invalid_argument: "A value was missing or not allowed.",
  not_connected: "You are not connected to the meeting.",
  forbidden: "Your role does not allow this.",
  invalid_target: "This cannot be done to that person.",
  participant_not_found: "That person is no longer in the meeting.",
  participant_waiting: "That person is still in the waiting room.",
  knock_not_found: "That person is no longer waiting to join.",
  message_not_found: "That message no longer exists.",
  stream_not_found: "That video or screen is no longer available.",
  session_not_found: "That breakout room no longer exists.",
  room_not_found: "This meeting does not exist.",
  invalid_credential: "Your invitation link is invalid or has expired. Ask for a new one.",
  room_locked: "The meeting is locked. Ask a host to let you in.",
  room_full: "The meeting is full.",
  max_viewer_limit_reached: "The meeting has as many viewers as it allows.",
  unique_role_already_in_room: "Someone with this role is already in the meeting.",
  kicked_from_room: "You were removed from this meeting and cannot rejoin it.",
  room_not_locked: "The meeting is not locked: you can join directly.",
  already_knocking: "You already asked to join; please wait for a host.",
  resume_failed: "Your previous connection expired; joining again.",
  rate_limited: "Too many requests; please wait a moment.",
  policy_violation: "The connection was closed for breaking the server's rules.",
  breakouts_disabled: "Breakout rooms are not enabled.",
  breakout_not_active: "Breakout rooms are not running.",
  breakout_already_started: "Breakout rooms have already started.",
  breakout_closing: "Breakout rooms are closing.",
  breakout_active: "Not possible while breakout rooms are running.",
  no_sessions: "Create at least one breakout room first.",
  too_many_sessions: "That would be more breakout rooms than the meeting allows.",
  duplicate_name: "A breakout room with this name already exists.",
  session_full: "That breakout room is full.",
  not_allowed_in_session: "You may not join that breakout room.",
  join_later_not_allowed: "Breakout rooms have started and late joining is not allowed.",
  return_not_allowed: "The host has not allowed returning to the main room.",
  not_in_session: "You are already in the main room.",
  role_not_movable: "Recorders and streamers cannot be moved to breakout rooms.",
  client_unsupported: "This person's app does not support breakout rooms.",
  auto_end_not_armed: "No automatic end is scheduled.",
  no_host_present: "No host is here to help right now.",
  edit_locked: "Another host is editing the breakout rooms.",
  edit_lock_token_mismatch: "Another host is editing the breakout rooms.",
  edit_lock_not_held: "Your editing lock on the breakout rooms expired.",
  revision_conflict: "The breakout rooms changed meanwhile; please try again.",
  already_recording: "The meeting is already being recorded.",
  not_recording: "The meeting is not being recorded.",
  already_streaming: "The meeting is already being streamed.",
  not_streaming: "The meeting is not being streamed.",
  already_transcribing: "The meeting is already being transcribed.",
  not_transcribing: "The meeting is not being transcribed.",
  already_screensharing: "You are already sharing your screen.",
  screenshare_busy: "Someone else is already sharing a screen here.",
  server_draining: "The server is restarting. Please join again in a moment.",
  wrong_node: "Connecting to the meeting's server…",
  placement_unavailable: "The meeting service is busy. Please join again in a moment.",
  internal_error: "Something went wrong on the server. Please try again.",
});

/** Why the socket closed, by close code (PROTOCOL.md §1), for people. */
export const CLOSE_MESSAGES = Object.freeze({
  1000: "You left the meeting.",
  1001: "The server is restarting.",
  1008: "The connection was closed by the server.",
  1009: "A message was too large for the server.",
  4001: "You were removed from the meeting.",
  4002: "The meeting has ended.",
  4003: "A host declined your request to join.",
  4004: "You joined from another tab or window.",
  4005: "The meeting service stopped.",
  1012: "The meeting moved to another server; reconnecting.",
});

/** How many `wrong_node` answers one join follows before it gives up (PROTOCOL.md §10). */
const MAX_REDIRECTS = 3;
/** How many `caption` lines `client.captions` keeps. */
const CAPTIONS_KEPT = 5;

/**
 * A sentence for an error: an {@link SfuError}, an error body `{code, details}`, a bare code or
 * any `Error`. Unknown codes fall back to the server's message.
 */
export function describeError(error) {
  if (error == null) return "";
  const code = typeof error === "string" ? error : error.code;
  const details = typeof error === "object" ? error.details ?? {} : {};
  let text = (code && ERROR_MESSAGES[code]) || null;
  if (!text) return typeof error === "string" ? error : error.message ?? String(error);
  if (code === "rate_limited" && details.retryAfterMs) {
    text = `Too many requests; try again in ${Math.ceil(details.retryAfterMs / 1000)} s.`;
  } else if (code === "invalid_argument" && details.field) {
    text = `The value of ${details.field} is not allowed${details.reason ? ` (${details.reason.replaceAll("_", " ")})` : ""}.`;
  } else if (code === "too_many_sessions" && details.max) {
    text = `A meeting can have at most ${details.max} breakout rooms.`;
  } else if (code === "duplicate_name" && details.name) {
    text = `A breakout room named "${details.name}" already exists.`;
  }
  return text;
}

/** A failed command: `code` is an error code of PROTOCOL.md §8, `description` says it in words. */
export class SfuError extends Error {
  constructor(command, error) {
    super(`${command}: ${error.code}: ${error.message ?? ""}`);
    this.name = "SfuError";
    this.command = command;
    this.code = error.code;
    this.details = error.details;
    this.description = describeError({ code: error.code, details: error.details, message: error.message });
  }
}

/**
 * The claims of a join token (an HS256 JWT), read without checking its signature (only the
 * server can): `{room, identity, role, name, externalId, expiresAt}`. Lets a page fill in the
 * room, role and name from a pasted token. Throws on a string that is no JWT.
 */
export function decodeToken(token) {
  const parts = String(token ?? "").trim().split(".");
  if (parts.length !== 3) throw new Error("This is not a join token (a token has three parts separated by dots).");
  let claims;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("This is not a join token (its middle part is not readable).");
  }
  if (typeof claims !== "object" || claims === null) throw new Error("This is not a join token.");
  return {
    room: claims.room ?? null,
    identity: claims.sub ?? null,
    role: claims.role ?? null,
    name: claims.name ?? null,
    externalId: claims.externalId ?? null,
    expiresAt: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null,
  };
}

/**
 * The cameras, microphones and speakers of this browser: `{cameras, microphones, speakers}`,
 * each a list of `{deviceId, label}`. Labels are empty until the page was given camera or
 * microphone access once (browsers hide them before); a placeholder label is filled in then.
 */
export async function listDevices() {
  const out = { cameras: [], microphones: [], speakers: [] };
  if (!globalThis.navigator?.mediaDevices?.enumerateDevices) return out;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const lists = { videoinput: out.cameras, audioinput: out.microphones, audiooutput: out.speakers };
  const names = { videoinput: "Camera", audioinput: "Microphone", audiooutput: "Speaker" };
  for (const d of devices) {
    const list = lists[d.kind];
    if (!list || !d.deviceId) continue;
    list.push({ deviceId: d.deviceId, label: d.label || `${names[d.kind]} ${list.length + 1}` });
  }
  return out;
}

/** Whether this browser can choose the speaker of a media element (`setSinkId`). */
export function canChooseSpeaker() {
  return typeof globalThis.HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

/**
 * Connection quality from loss and jitter over the last interval: `"good"`, `"fair"`,
 * `"poor"`, or `"unknown"` when nothing was received to judge by.
 */
export function rateQuality({ packets, lossFraction, jitterMs }) {
  if (!packets) return "unknown";
  if (lossFraction < 0.02 && jitterMs < 30) return "good";
  if (lossFraction < 0.08 && jitterMs < 100) return "fair";
  return "poor";
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
   * @param {boolean|Storage} [options.persist] keep the resume token in `sessionStorage` (or
   *   this Storage), so that a reloaded page takes its old place over instead of leaving a
   *   ghost for the reconnect grace (default false)
   * @param {object} [options.devices] `{cameraId, microphoneId, speakerId}` to start with
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
    /**
     * The signalling URL in use: `options.url` at first, the owner's after a `wrong_node`
     * (a cluster runs each room on one node); back to `options.url` when that node is gone.
     */
    this.url = this.options.url;
    /** @type {Map<string, object>} ParticipantView by id, ourselves included. */
    this.participants = new Map();
    this.knockers = new Map();
    this.breakout = null;
    this.location = null;
    this.chat = [];
    /** The latest captions of the live transcriber in our location (`caption` events), newest last. */
    this.captions = [];
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
    /** Chosen devices (deviceIds; null: the browser's default). */
    this.devices = { cameraId: null, microphoneId: null, speakerId: null, ...this.options.devices };
    this.captureSize = { width: 1280, height: 720 };
    /** Media elements whose speaker follows {@link setSpeaker}. */
    this.mediaElements = new Set();
    /** msid -> {participantId, streamId}, from `subscriptions_changed` (PROTOCOL.md §4.8). */
    this.msids = new Map();
    /** Last connection quality per participant id (see {@link startQualityMonitor}). */
    this.quality = new Map();
    this.qualityPrevious = new Map();
    this.qualityTimer = null;
  }

  // ---------------------------------------------------------------- persistence

  #storage() {
    const persist = this.options.persist;
    if (!persist) return null;
    if (typeof persist === "object") return persist;
    try {
      return globalThis.sessionStorage ?? null;
    } catch {
      return null; // storage blocked
    }
  }

  #storageKey() {
    return `sfu-client:${this.options.roomName}`;
  }

  /** The session a previous page of this tab left behind: `{resumeToken, lastSeq, selfId}`. */
  storedSession() {
    try {
      const text = this.#storage()?.getItem(this.#storageKey());
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  #saveSession() {
    const storage = this.#storage();
    if (!storage || !this.resumeToken) return;
    try {
      storage.setItem(
        this.#storageKey(),
        JSON.stringify({
          resumeToken: this.resumeToken,
          lastSeq: this.lastSeq,
          selfId: this.selfId,
          url: this.url,
          iceServers: this.joinedIceServers,
          credentialKey: this.#credentialKey(),
          savedAt: Date.now(),
        }),
      );
    } catch {
      /* quota or blocked: a reload then joins afresh */
    }
  }

  #forgetSession() {
    try {
      this.#storage()?.removeItem(this.#storageKey());
    } catch {
      /* blocked */
    }
  }

  // ---------------------------------------------------------------- reload resume
  // (PROTOCOL.md §4.3, "After a page reload"; kept apart from the network-blip resume below.)

  /**
   * A reloaded page: the previous page's participant still holds its place (for the server's
   * reconnect grace), with media transports that died with that page. `resume` with
   * `newTransports: true` takes that place back: the same participant id, role, location
   * (breakout group included), mute flags, raised hand and chat, with the old transports
   * dropped by the server. The page then builds new transports as after a join. Resolves with
   * the `joined` payload (the room state plus `resumeToken` and `resumed: true`), or `null`
   * when the old place is gone (`resume_failed`), the stored session was for other
   * credentials, or its node cannot be reached: the caller then joins afresh.
   */
  async #resumeStoredSession(stored) {
    if (stored.credentialKey !== this.#credentialKey()) {
      this.#forgetSession(); // another identity: the stored place is not ours to take
      return null;
    }
    // The old place is on the node that admitted it (a cluster may have sent the join there).
    this.url = stored.url ?? this.options.url;
    let ws;
    try {
      ws = await this.#open();
    } catch {
      this.url = this.options.url;
      this.#forgetSession();
      return null;
    }
    try {
      const resumed = await this.command("resume", {
        resumeToken: stored.resumeToken,
        lastSeq: stored.lastSeq ?? 0,
        newTransports: true,
      });
      this.resumeToken = stored.resumeToken;
      this.selfId = resumed.selfId;
      this.joinedIceServers = stored.iceServers ?? [];
      // The snapshot of the room as it is now; the `room_state` event after the response
      // carries the same, this answer does not depend on its timing.
      const state = await this.command("get_room_state");
      const self = state.room.participants.find((p) => p.id === state.selfId);
      if (self && PUBLISHING_ROLES.has(state.roleName)) {
        // The server kept the mute flags: the new page's tracks follow them.
        this.audioEnabled = self.isAudioEnabled;
        this.videoEnabled = self.isVideoEnabled;
      }
      this.#applyJoined(state);
      this.#saveSession();
      this.reconnectAttempt = 0;
      return { ...state, resumeToken: stored.resumeToken, iceServers: this.joinedIceServers, resumed: true };
    } catch {
      // resume_failed (the grace ran out, or the person was removed): start over.
      this.#forgetSession();
      this.url = this.options.url;
      if (this.ws === ws) {
        ws.onclose = null; // closed on purpose, not a lost connection
        this.ws = null;
        ws.close();
      }
      this.lastSeq = 0;
      this.resumeToken = null;
      this.selfId = null;
      return null;
    }
  }

  /**
   * Who a session was admitted as, stored with it: a reload resumes only the place of the same
   * person (the identity and role of a token; else the display name). Not the token itself.
   */
  #credentialKey() {
    const token = this.options.credential?.token;
    if (token) {
      try {
        const claims = decodeToken(token);
        return `token:${claims.identity}:${claims.role}`;
      } catch {
        /* not a readable token: the server will say so */
      }
    }
    return `name:${this.options.displayName ?? ""}`;
  }

  // ---------------------------------------------------------------- status

  #setStatus(status, detail = {}) {
    if (TERMINAL.has(this.status) && status !== Status.READY) return;
    if (this.status === status && !detail.force) return;
    this.status = status;
    if (TERMINAL.has(status)) {
      this.#forgetSession();
      this.stopQualityMonitor();
    }
    if (detail.error !== undefined) this.error = detail.error;
    this.emit("status", { status, ...detail });
  }

  // ---------------------------------------------------------------- socket

  #open() {
    return new Promise((resolve, reject) => {
      const url = this.url;
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
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
      // The room's node may be gone (a cluster re-places its rooms): the next try goes
      // through the first URL, where `resume` fails and the join is placed again.
      this.url = this.options.url;
      if (this.status === Status.DISCONNECTED) this.#scheduleReconnect();
      return;
    }
    this.#setStatus(Status.RECONNECTING);
    // The WebRTC transports do not ride on the socket: after a blip they keep flowing, and the
    // server keeps its side of them. Transports that failed meanwhile cannot be restarted
    // against the server's old ones (new DTLS): ask for new ones (PROTOCOL.md §4.3).
    const broken = (pc) => pc && ["failed", "closed"].includes(pc.connectionState);
    const newTransports = broken(this.publisherPc) || broken(this.subscriberPc);
    try {
      const resumed = await this.command("resume", {
        resumeToken: this.resumeToken,
        lastSeq: this.lastSeq,
        ...(newTransports ? { newTransports: true } : {}),
      });
      this.reconnectAttempt = 0;
      this.selfId = resumed.selfId;
      this.#saveSession();
      this.#setLocation(resumed.location);
      this.#setStatus(Status.CONNECTED, { resumed: true });
      this.emit("resumed", resumed);
      if (newTransports) await this.#restartMedia();
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
    const stored = this.storedSession();
    if (stored?.resumeToken) {
      const resumed = await this.#resumeStoredSession(stored);
      if (resumed) {
        this.#setStatus(Status.CONNECTED, { error: null, resumed: true });
        this.emit("joined", resumed);
        return resumed;
      }
    }
    this.url = this.options.url; // a fresh join is placed again (the room may have moved)
    try {
      await this.#open();
    } catch (error) {
      this.#setStatus(Status.DISCONNECTED, { error: error.message });
      throw error;
    }
    return this.#joinOnOpenSocket();
  }

  async #joinOnOpenSocket(redirects = 0) {
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
      this.#saveSession();
      this.reconnectAttempt = 0;
      this.#setStatus(Status.CONNECTED, { error: null });
      this.emit("joined", joined);
      return joined;
    } catch (error) {
      if (error.code === "wrong_node" && error.details?.url && redirects < MAX_REDIRECTS) {
        // The room runs on another node of the cluster: join there, transparently.
        const old = this.ws;
        if (old) {
          old.onclose = null; // a socket closed on purpose, not a lost connection
          old.onmessage = null;
          old.close();
        }
        this.url = error.details.url;
        await this.#open();
        return this.#joinOnOpenSocket(redirects + 1);
      }
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
    this.#forgetSession();
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
      this.#saveSession();
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
      case "caption":
        // Only the last few lines are kept: captions are a live view, not a transcript.
        this.captions = [...this.captions, data].slice(-CAPTIONS_KEPT);
        this.emit("captions", this.captions);
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
   * picks the simulcast codec: "video/VP8" (default) or "video/H264". `stream` publishes a
   * stream the page already opened (a pre-join preview); without it the stream of
   * {@link openLocalMedia} is used, opened now if needed (or with `constraints`, as given).
   */
  async publishCamera({ audio = true, video = true, constraints, stream, videoCodec = "video/VP8" } = {}) {
    this.videoCodec = videoCodec;
    if (stream && this.localStream !== stream) {
      this.localStream?.getTracks().forEach((t) => t.stop());
      this.#useLocalStream(stream);
    }
    if (!this.localStream) {
      if (constraints) {
        requireCapture();
        this.#useLocalStream(await navigator.mediaDevices.getUserMedia(constraints));
      } else {
        await this.openLocalMedia({ audio, video });
      }
    }
    await this.#publishLocal();
    return this.localStream;
  }

  #useLocalStream(stream) {
    this.localStream = stream;
    const audioTrack = stream.getAudioTracks()[0];
    const videoTrack = stream.getVideoTracks()[0];
    if (audioTrack) audioTrack.enabled = this.audioEnabled;
    if (videoTrack) videoTrack.enabled = this.videoEnabled;
    this.emit("local_stream", stream);
  }

  #constraints(kind) {
    if (kind === "audio") {
      const audio = { echoCancellation: true, noiseSuppression: true };
      if (this.devices.microphoneId) audio.deviceId = { exact: this.devices.microphoneId };
      return audio;
    }
    const video = { width: { ideal: this.captureSize.width }, height: { ideal: this.captureSize.height } };
    if (this.devices.cameraId) video.deviceId = { exact: this.devices.cameraId };
    return video;
  }

  /**
   * Opens the camera and microphone (the chosen devices) without publishing: a pre-join
   * preview. {@link publishCamera} later publishes this same stream. A device that cannot be
   * opened is left out (a camera in use by another app, no microphone) rather than failing
   * the whole capture; `local_media_error` says which. Resolves with the stream (possibly
   * without tracks).
   */
  async openLocalMedia({ audio = true, video = true, width, height } = {}) {
    requireCapture();
    if (width && height) this.captureSize = { width, height };
    if (this.localStream) {
      this.localStream.getTracks().forEach((t) => t.stop());
      this.localStream = null;
    }
    const stream = new MediaStream();
    for (const kind of ["audio", "video"]) {
      if (!(kind === "audio" ? audio : video)) continue;
      try {
        const got = await navigator.mediaDevices.getUserMedia({ [kind]: this.#constraints(kind) });
        for (const track of got.getTracks()) stream.addTrack(track);
      } catch (error) {
        this.emit("local_media_error", { kind, error });
      }
    }
    this.#useLocalStream(stream);
    this.emit("devices_changed", this.devices);
    return stream;
  }

  /** Stops the local camera and microphone (a preview that will not be published). */
  closeLocalMedia() {
    this.localStream?.getTracks().forEach((t) => t.stop());
    this.localStream = null;
    this.emit("local_stream", null);
  }

  /** Switches the camera, before or during a meeting (the sent track is replaced in place). */
  setCamera(deviceId) {
    this.devices.cameraId = deviceId || null;
    return this.#switchDevice("video");
  }

  /** Switches the microphone, before or during a meeting. */
  setMicrophone(deviceId) {
    this.devices.microphoneId = deviceId || null;
    return this.#switchDevice("audio");
  }

  async #switchDevice(kind) {
    this.emit("devices_changed", this.devices);
    const stream = this.localStream;
    if (!stream) return null;
    const old = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    requireCapture();
    // Some devices cannot be opened twice: release the old one first.
    old?.stop();
    const got = await navigator.mediaDevices.getUserMedia({ [kind]: this.#constraints(kind) });
    const track = kind === "audio" ? got.getAudioTracks()[0] : got.getVideoTracks()[0];
    track.enabled = kind === "audio" ? this.audioEnabled : this.videoEnabled;
    if (old) stream.removeTrack(old);
    stream.addTrack(track);
    const sender = this.publisherPc?.getSenders().find((s) => s.track === old || (old && s.track?.id === old.id));
    if (sender) {
      await sender.replaceTrack(track);
    } else if (this.publisherPc && this.publishedTracks.length) {
      // Published without this kind (it was missing at join): publish the new track.
      await this.#negotiatePublisher([this.#addLocalTrack(track, stream)]);
    }
    this.emit("local_stream", stream);
    return track;
  }

  /**
   * Chooses the speaker for every media element attached with {@link attachMedia} (and those
   * attached later). Needs `setSinkId` ({@link canChooseSpeaker}); resolves false without it.
   */
  async setSpeaker(deviceId) {
    this.devices.speakerId = deviceId || null;
    this.emit("devices_changed", this.devices);
    if (!canChooseSpeaker()) return false;
    for (const element of this.mediaElements) {
      if (!element.isConnected) {
        this.mediaElements.delete(element);
        continue;
      }
      await element.setSinkId(this.devices.speakerId ?? "").catch(() => {});
    }
    return true;
  }

  /**
   * Shows `stream` in `element` (a <video> or <audio>), plays it, and routes its sound to the
   * chosen speaker from now on.
   */
  attachMedia(element, stream) {
    if (element.srcObject !== stream) {
      element.srcObject = stream;
      if (stream) element.play?.().catch(() => {});
    }
    this.mediaElements.add(element);
    if (canChooseSpeaker() && this.devices.speakerId && element.sinkId !== this.devices.speakerId) {
      element.setSinkId(this.devices.speakerId).catch(() => {});
    }
  }

  // ---------------------------------------------------------------- connection quality

  /**
   * Samples both transports' statistics every `intervalMs` and emits `quality` with a Map
   * participantId -> {quality, lossPercent, jitterMs, rttMs, kbps}: for others, what we receive
   * from them; for ourselves, how the server receives us. `quality` is "good", "fair", "poor"
   * or "unknown" ({@link rateQuality}); "lost" while the participant's socket reconnects.
   */
  startQualityMonitor(intervalMs = 2_000) {
    this.stopQualityMonitor();
    this.qualityTimer = setInterval(() => {
      this.measureQuality().catch(() => {});
    }, intervalMs);
  }

  stopQualityMonitor() {
    clearInterval(this.qualityTimer);
    this.qualityTimer = null;
  }

  /** One sample of {@link startQualityMonitor}; resolves with the Map it emits. */
  async measureQuality() {
    const trackOwner = new Map();
    for (const [k, stream] of this.remoteStreams) {
      const participantId = k.slice(0, k.lastIndexOf("/"));
      for (const track of stream.getTracks()) trackOwner.set(track.id, participantId);
    }
    const totals = new Map();
    const add = (pid, sample) => {
      const t = totals.get(pid) ?? { packets: 0, lost: 0, jitterMs: 0, rttMs: null, bytes: 0 };
      t.packets += sample.packets;
      t.lost += sample.lost;
      t.bytes += sample.bytes;
      t.jitterMs = Math.max(t.jitterMs, sample.jitterMs);
      if (sample.rttMs != null) t.rttMs = Math.max(t.rttMs ?? 0, sample.rttMs);
      totals.set(pid, t);
    };
    const delta = (id, field, value) => {
      const k = `${id}/${field}`;
      const before = this.qualityPrevious.get(k);
      this.qualityPrevious.set(k, value);
      return before === undefined ? 0 : Math.max(0, value - before);
    };
    const seconds = (() => {
      const now = Date.now();
      const before = this.qualityPrevious.get("at") ?? now;
      this.qualityPrevious.set("at", now);
      return Math.max(0.001, (now - before) / 1000);
    })();
    if (this.subscriberPc) {
      for (const r of (await this.subscriberPc.getStats()).values()) {
        if (r.type !== "inbound-rtp") continue;
        const pid = trackOwner.get(r.trackIdentifier);
        if (!pid) continue;
        add(pid, {
          packets: delta(r.id, "packets", r.packetsReceived ?? 0),
          lost: delta(r.id, "lost", r.packetsLost ?? 0),
          bytes: delta(r.id, "bytes", r.bytesReceived ?? 0),
          jitterMs: (r.jitter ?? 0) * 1000,
        });
      }
    }
    if (this.publisherPc && this.selfId) {
      const reports = [...(await this.publisherPc.getStats()).values()];
      for (const r of reports) {
        if (r.type === "outbound-rtp") {
          add(this.selfId, { packets: delta(r.id, "packets", r.packetsSent ?? 0), lost: 0, bytes: delta(r.id, "bytes", r.bytesSent ?? 0), jitterMs: 0 });
        } else if (r.type === "remote-inbound-rtp") {
          // The server's receiver reports give loss and round trip. Their jitter is left out:
          // an encoding the browser pauses (simulcast under CPU load) reports seconds of it
          // while nothing is wrong with the connection.
          add(this.selfId, {
            packets: 0,
            lost: delta(r.id, "lost", r.packetsLost ?? 0),
            bytes: 0,
            jitterMs: 0,
            rttMs: r.roundTripTime != null ? r.roundTripTime * 1000 : null,
          });
        } else if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime != null) {
          add(this.selfId, { packets: 0, lost: 0, bytes: 0, jitterMs: 0, rttMs: r.currentRoundTripTime * 1000 });
        }
      }
    }
    const quality = new Map();
    for (const [pid, t] of totals) {
      const lossFraction = t.packets + t.lost > 0 ? t.lost / (t.packets + t.lost) : 0;
      let rating = rateQuality({ packets: t.packets, lossFraction, jitterMs: t.jitterMs });
      if (rating !== "unknown" && t.rttMs != null && t.rttMs > 400) rating = rating === "good" ? "fair" : "poor";
      quality.set(pid, {
        quality: rating,
        lossPercent: Math.round(lossFraction * 1000) / 10,
        jitterMs: Math.round(t.jitterMs),
        rttMs: t.rttMs == null ? null : Math.round(t.rttMs),
        kbps: Math.round((t.bytes * 8) / seconds / 1000),
      });
    }
    for (const p of this.participants.values()) {
      if (p.connection === "reconnecting") {
        quality.set(p.id, { quality: "lost", lossPercent: 100, jitterMs: 0, rttMs: null, kbps: 0 });
      }
    }
    this.quality = quality;
    this.emit("quality", quality);
    return quality;
  }

  async #publishLocal() {
    const pc = this.#publisher();
    const stream = this.localStream;
    const tracks = [];
    const audioTrack = stream.getAudioTracks()[0];
    const videoTrack = stream.getVideoTracks()[0];
    if (audioTrack) tracks.push(this.#addLocalTrack(audioTrack, stream, pc));
    if (videoTrack) tracks.push(this.#addLocalTrack(videoTrack, stream, pc));
    await this.#negotiatePublisher(tracks);
  }

  /** A send-only transceiver for a camera or microphone track (video: simulcast q/h/f). */
  #addLocalTrack(track, stream, pc = this.publisherPc) {
    if (track.kind === "audio") {
      const t = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      return { transceiver: t, source: "microphone" };
    }
    const t = pc.addTransceiver(track, {
      direction: "sendonly",
      streams: [stream],
      sendEncodings: CAMERA_LAYERS.map((l) => ({ ...l })),
    });
    preferCodec(t, this.videoCodec ?? "video/VP8");
    const { width = 1280, height = 720 } = track.getSettings();
    return {
      transceiver: t,
      source: "camera",
      layers: CAMERA_LAYERS.map((l) => ({
        rid: l.rid,
        width: Math.round(width / l.scaleResolutionDownBy),
        height: Math.round(height / l.scaleResolutionDownBy),
        maxBitrate: l.maxBitrate,
      })),
    };
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
    // The msid of subscriptions_changed names the stream; splitting it is only a fallback for
    // servers that do not send it (ids may contain "-", PROTOCOL.md §4.8).
    const ids = this.msids.get(msid) ?? parseMsid(msid);
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
    for (const s of [...added, ...removed]) {
      if (s.msid) this.msids.set(s.msid, { participantId: s.participantId, streamId: s.streamId });
    }
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
