// The demo page: a meeting UI over client.js. URL parameters pre-fill the join form and
// `autojoin=1` skips the pre-join screen (used by the browser tests):
//   /?room=demo&name=Ada&role=host&autojoin=1&capture=640x360&audio=1&video=1[&codec=h264][&tile=320]
// `tile=N` fixes the tile width (N CSS pixels) instead of fitting the grid to the window.

import {
  SfuClient,
  Status,
  CLOSE_MESSAGES,
  canChooseSpeaker,
  decodeToken,
  describeError,
  fetchDevToken,
  listDevices,
} from "/client.js";

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) if (child != null) node.append(child);
  return node;
};

const params = new URLSearchParams(location.search);
const PUBLISHING_ROLES = new Set(["host", "visitor", "granted_visitor"]);
const HAND = "\u270b";
const ROOM_RULE = /^[a-z0-9-]{1,64}$/;
const ROLE_NAMES = { host: "host", visitor: "participant", granted_visitor: "participant", viewer: "viewer", granted_viewer: "viewer", recorder: "recorder", streamer: "streamer", assistant: "assistant" };
const LAST_JOIN = "sfu-app:last-join"; // sessionStorage: what the last join of this tab used
const REJOIN_WITHIN_MS = 60_000; // a reload this soon after a join rejoins at once

let client = null;
let lastJoin = null; // {room, name, role, token, audio, video}
const tiles = new Map(); // tile key -> {root, video, ...}
const speaking = new Set(); // participantIds of the current active speakers
let lastSpeaker = null; // the most recent remote active speaker (speaker view)
let fixedTileWidth = params.has("tile") ? Number(params.get("tile")) : null;
let layout = params.get("layout") === "speaker" ? "speaker" : "grid";
let pinned = null; // tile key
let countdownTimer = null;
let returnedToMainAt = 0;
const captureSize = (() => {
  const [width, height] = (params.get("capture") ?? "1280x720").split("x").map(Number);
  return { width: width || 1280, height: height || 720 };
})();
const devices = { cameraId: null, microphoneId: null, speakerId: null };
let preview = null; // the pre-join camera/microphone stream
let previewWanted = { audio: params.get("audio") !== "0", video: params.get("video") !== "0" };

// ------------------------------------------------------------------ pre-join

const form = $("#join-form");
for (const field of ["room", "name", "role", "token"]) {
  if (params.has(field)) form.elements[field].value = params.get(field);
}

/**
 * Browsers give camera, microphone and screen capture only to secure contexts: https://, or
 * http:// on localhost. Opened over plain http from another host, the page says what to do
 * instead of failing inside an API.
 */
const INSECURE_CONTEXT_HELP =
  "This page was opened over plain http from another machine, so the browser will not let it " +
  "use your camera or microphone. Open it over https:// instead: start the server with " +
  "--tls-cert and --tls-key, or put it behind an HTTPS reverse proxy (deploy/README.md). " +
  "To only watch and listen, turn camera and microphone off.";

function setToggle(button, on, onText, offText) {
  button.dataset.on = String(on);
  button.textContent = on ? onText : offText;
  button.setAttribute("aria-pressed", String(!on));
}

function renderPreviewToggles() {
  setToggle($("#pre-mic"), previewWanted.audio, "Microphone on", "Microphone off");
  setToggle($("#pre-cam"), previewWanted.video, "Camera on", "Camera off");
  $("#preview-off").hidden = previewWanted.video && !!preview?.getVideoTracks().length;
  for (const track of preview?.getAudioTracks() ?? []) track.enabled = previewWanted.audio;
  for (const track of preview?.getVideoTracks() ?? []) track.enabled = previewWanted.video;
}

/** Opens (or reopens, after a device change) the preview with the chosen devices. */
async function openPreview() {
  $("#preview-error").textContent = "";
  if (!window.isSecureContext || !navigator.mediaDevices) {
    $("#preview-error").textContent = INSECURE_CONTEXT_HELP;
    return;
  }
  closePreview();
  const stream = new MediaStream();
  const problems = [];
  for (const kind of ["video", "audio"]) {
    const id = kind === "video" ? devices.cameraId : devices.microphoneId;
    const constraints =
      kind === "video"
        ? { width: { ideal: captureSize.width }, height: { ideal: captureSize.height }, ...(id && { deviceId: { exact: id } }) }
        : { echoCancellation: true, noiseSuppression: true, ...(id && { deviceId: { exact: id } }) };
    try {
      const got = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
      got.getTracks().forEach((t) => stream.addTrack(t));
    } catch (error) {
      problems.push(`${kind === "video" ? "camera" : "microphone"}: ${error.name === "NotAllowedError" ? "access was denied" : error.message}`);
    }
  }
  preview = stream;
  $("#preview").srcObject = stream;
  $("#preview").play().catch(() => {});
  if (problems.length) $("#preview-error").textContent = `Could not open the ${problems.join("; ")}.`;
  startMeter(stream);
  renderPreviewToggles();
  await renderDeviceSelects();
}

function closePreview() {
  preview?.getTracks().forEach((t) => t.stop());
  preview = null;
  stopMeter();
}

// A microphone level bar, so people see their microphone works before they join.
let meter = null;
function startMeter(stream) {
  stopMeter();
  const track = stream.getAudioTracks()[0];
  if (!track || !window.AudioContext) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const bar = $("#mic-meter span");
  const tick = () => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    bar.style.width = `${track.enabled ? Math.min(100, (peak / 128) * 180) : 0}%`;
    meter.frame = requestAnimationFrame(tick);
  };
  meter = { context, frame: requestAnimationFrame(tick) };
}
function stopMeter() {
  if (!meter) return;
  cancelAnimationFrame(meter.frame);
  meter.context.close().catch(() => {});
  meter = null;
}

/** Fills every device picker on the page (pre-join and in-meeting) with the current devices. */
async function renderDeviceSelects() {
  const found = await listDevices().catch(() => ({ cameras: [], microphones: [], speakers: [] }));
  const lists = { camera: found.cameras, microphone: found.microphones, speaker: found.speakers };
  const chosen = client?.devices ?? devices;
  const current = { camera: chosen.cameraId, microphone: chosen.microphoneId, speaker: chosen.speakerId };
  // Without a choice, show the device actually in use.
  const inUse = (client?.localStream ?? preview)?.getTracks() ?? [];
  for (const track of inUse) {
    const kind = track.kind === "video" ? "camera" : "microphone";
    current[kind] ??= track.getSettings().deviceId ?? null;
  }
  for (const select of document.querySelectorAll("select[data-kind]")) {
    const kind = select.dataset.kind;
    const options = lists[kind].map((d) => el("option", { value: d.deviceId, textContent: d.label }));
    if (kind === "speaker" && !canChooseSpeaker()) {
      select.replaceChildren(el("option", { value: "", textContent: "Chosen by the browser" }));
      select.disabled = true;
      continue;
    }
    if (!options.length) options.push(el("option", { value: "", textContent: `No ${kind} found` }));
    else if (kind === "speaker") options.unshift(el("option", { value: "", textContent: "System default" }));
    select.replaceChildren(...options);
    select.disabled = !lists[kind].length;
    if (current[kind] && lists[kind].some((d) => d.deviceId === current[kind])) select.value = current[kind];
  }
}

for (const select of document.querySelectorAll("select[data-kind]")) {
  select.addEventListener("change", () => chooseDevice(select.dataset.kind, select.value));
}

async function chooseDevice(kind, deviceId) {
  const field = { camera: "cameraId", microphone: "microphoneId", speaker: "speakerId" }[kind];
  devices[field] = deviceId || null;
  try {
    if (client && client.status === Status.CONNECTED) {
      if (kind === "camera") await client.setCamera(deviceId);
      else if (kind === "microphone") await client.setMicrophone(deviceId);
      else await client.setSpeaker(deviceId);
      renderGrid();
    } else if (kind === "speaker") {
      if (canChooseSpeaker()) await $("#preview").setSinkId(deviceId || "").catch(() => {});
    } else {
      await openPreview();
    }
  } catch (error) {
    notice(`Could not switch the ${kind}: ${error.message ?? error}`);
  }
  await renderDeviceSelects();
}

navigator.mediaDevices?.addEventListener?.("devicechange", () => renderDeviceSelects());

$("#pre-mic").onclick = () => {
  previewWanted.audio = !previewWanted.audio;
  renderPreviewToggles();
};
$("#pre-cam").onclick = () => {
  previewWanted.video = !previewWanted.video;
  renderPreviewToggles();
};

// A pasted token says which room, role and name it is for.
form.elements.token.addEventListener("input", () => readToken());
function readToken() {
  const text = form.elements.token.value.trim();
  const info = $("#token-info");
  info.textContent = "";
  info.classList.remove("error");
  if (!text) {
    form.elements.room.readOnly = form.elements.role.disabled = false;
    return;
  }
  try {
    const claims = decodeToken(text);
    if (claims.room) form.elements.room.value = claims.room;
    if (claims.role && [...form.elements.role.options].some((o) => o.value === claims.role)) form.elements.role.value = claims.role;
    if (claims.name && !form.elements.name.value.trim()) form.elements.name.value = claims.name;
    form.elements.room.readOnly = true;
    form.elements.role.disabled = true;
    const expired = claims.expiresAt && claims.expiresAt < new Date();
    info.textContent = `Invitation to "${claims.room}" as ${ROLE_NAMES[claims.role] ?? claims.role}${claims.name ? ` (${claims.name})` : ""}${
      claims.expiresAt ? `, ${expired ? "expired" : "valid until"} ${claims.expiresAt.toLocaleString()}` : ""}.`;
    if (expired) info.classList.add("error");
  } catch (error) {
    info.textContent = error.message;
    info.classList.add("error");
    form.elements.room.readOnly = form.elements.role.disabled = false;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  join(readForm()).catch(showJoinError);
});

function readForm() {
  return {
    room: form.elements.room.value.trim(),
    name: form.elements.name.value.trim(),
    role: form.elements.role.value,
    token: form.elements.token.value.trim(),
    audio: previewWanted.audio,
    video: previewWanted.video,
  };
}

function showJoinError(error) {
  $("#join-error").textContent = error.code ? describeError(error) : error.message ?? String(error);
  $("#join-button").disabled = false;
}

/** 32 hex digits; `crypto.randomUUID` exists only in secure contexts, this everywhere. */
function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function join(settings) {
  $("#join-error").textContent = "";
  if (!ROOM_RULE.test(settings.room)) {
    throw new Error("A meeting room name is 1 to 64 characters: lowercase letters a-z, digits and '-'.");
  }
  if (!window.isSecureContext && (settings.audio || settings.video) && PUBLISHING_ROLES.has(settings.role)) {
    throw new Error(INSECURE_CONTEXT_HELP);
  }
  $("#join-button").disabled = true;
  const name = settings.name || "Guest";
  let token = settings.token;
  if (!token) {
    const identity = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${randomId().slice(0, 8)}`;
    try {
      token = await fetchDevToken({ room: settings.room, identity, role: settings.role, name });
    } catch (error) {
      throw new Error(`Could not get a development token (${error.message}). On a production server, paste the invitation token you were given.`);
    }
  }
  lastJoin = { ...settings, token, name };
  client = new SfuClient({
    roomName: settings.room,
    credential: { token },
    displayName: name,
    media: { audio: settings.audio, video: settings.video },
    iceTransportPolicy: params.get("relay") === "1" ? "relay" : "all",
    persist: true,
    devices: { ...devices },
  });
  client.captureSize = captureSize;
  window.sfuApp.client = client;
  wire(client);
  try {
    await client.join();
  } catch (error) {
    if (error.code === "room_locked") return; // the knock panel takes over
    throw error;
  } finally {
    $("#join-button").disabled = false;
  }
}

function rememberJoin() {
  try {
    sessionStorage.setItem(LAST_JOIN, JSON.stringify({ ...lastJoin, at: Date.now() }));
  } catch {
    /* storage blocked: a reload shows the pre-join screen */
  }
}
function forgetJoin() {
  try {
    sessionStorage.removeItem(LAST_JOIN);
  } catch {
    /* blocked */
  }
}

async function startMedia() {
  const publishing = PUBLISHING_ROLES.has(client.roleName);
  // A viewer's toolbar has no microphone, camera or screen button: it cannot publish.
  for (const id of ["#mic-button", "#cam-button", "#screen-button"]) {
    $(id).disabled = !publishing;
    $(id).hidden = !publishing;
  }
  if (!publishing) {
    closePreview();
    return;
  }
  window.sfuApp.publish = { state: "pending" };
  try {
    const stream = preview;
    preview = null;
    stopMeter();
    if (stream?.getTracks().length) {
      await client.publishCamera({ stream, videoCodec: params.get("codec") === "h264" ? "video/H264" : "video/VP8" });
    } else {
      await client.openLocalMedia({ audio: true, video: true, ...captureSize });
      await client.publishCamera({ videoCodec: params.get("codec") === "h264" ? "video/H264" : "video/VP8" });
    }
    window.sfuApp.publish = { state: "ok" };
  } catch (error) {
    window.sfuApp.publish = { state: "failed", error: error.code ?? error.message };
    notice(`Your camera and microphone could not be shared: ${error.code ? describeError(error) : error.message}`);
  }
  renderDeviceSelects();
}

// ------------------------------------------------------------------ client events

const STATUS_TEXT = {
  ready: "Not connected",
  connecting: "Connecting",
  connected: "Connected",
  room_locked: "Meeting locked",
  knocking: "Waiting to be let in",
  knock_on_hold: "On hold",
  knock_rejected: "Not let in",
  kicked: "Removed",
  leaving: "Leaving",
  left: "Left",
  disconnected: "Connection lost",
  reconnecting: "Reconnecting",
};

function wire(c) {
  c.on("status", ({ status, message, code, error, reason }) => {
    const badge = $("#status");
    const ended = status === Status.KICKED && (reason === "end_meeting" || code === 4002);
    badge.textContent = ended ? "Meeting ended" : STATUS_TEXT[status] ?? status;
    badge.dataset.status = status;
    const knocking = [Status.ROOM_LOCKED, Status.KNOCKING, Status.KNOCK_ON_HOLD].includes(status);
    $("#knock-panel").hidden = !knocking;
    $("#join-button").hidden = knocking;
    $("#join-form h2").textContent = knocking ? "Waiting room" : "Join a meeting";
    for (const field of form.elements) if (field.tagName !== "BUTTON") field.disabled = knocking || (field.name === "role" && !!form.elements.token.value.trim());
    $("#knock-button").hidden = status !== Status.ROOM_LOCKED;
    $("#cancel-knock-button").hidden = ![Status.KNOCKING, Status.KNOCK_ON_HOLD].includes(status);
    $("#knock-text").textContent = {
      room_locked: "This meeting is locked. Ask a host to let you in.",
      knocking: "Waiting for a host to let you in...",
      knock_on_hold: `A host put you on hold${message ? `: ${message}` : "."}`,
    }[status] ?? "";
    if (status === Status.DISCONNECTED && $("#meeting-view").hidden === false) {
      notice(code && CLOSE_MESSAGES[code] ? CLOSE_MESSAGES[code] : "Connection lost. Trying to reconnect...", null, "connection");
    } else if (status === Status.CONNECTED && !$("#banner").hidden && $("#banner").dataset.kind === "connection") {
      $("#banner").hidden = true;
    }
    if (status === Status.DISCONNECTED && error && $("#meeting-view").hidden) {
      // A refused join: the pre-join screen says why.
      $("#join-error").textContent = describeError(error);
    }
    if ([Status.KICKED, Status.LEFT, Status.KNOCK_REJECTED].includes(status)) showEnded(status, { code, message, reason });
    if (status === Status.DISCONNECTED && code === 4004) showEnded("replaced", { code });
    // Waiting to be let in: show the person their camera meanwhile, as the pre-join screen does.
    if (status === Status.ROOM_LOCKED && !preview) openPreview();
  });
  c.on("joined", (joined) => {
    $("#join-view").hidden = true;
    $("#ended-view").hidden = true;
    $("#meeting-view").hidden = false;
    $("#room-label").textContent = `Room ${joined.room.name}`;
    document.body.classList.toggle("is-host", c.isHost);
    for (const node of document.querySelectorAll(".host-only")) node.hidden = !c.isHost;
    $("#lock-toggle").checked = joined.room.isLocked;
    setToggle($("#mic-button"), c.audioEnabled, "Mute", "Unmute");
    setToggle($("#cam-button"), c.videoEnabled, "Stop video", "Start video");
    rememberJoin();
    renderAll();
    startMedia();
    c.startQualityMonitor(2_000);
  });
  c.on("resumed", () => renderAll());
  c.on("roster", () => {
    renderGrid();
    renderPeople();
  });
  c.on("location", () => renderAll());
  c.on("local_stream", () => renderGrid());
  c.on("local_media", ({ audio, video }) => {
    setToggle($("#mic-button"), audio, "Mute", "Unmute");
    setToggle($("#cam-button"), video, "Stop video", "Start video");
  });
  c.on("stream", () => renderGrid());
  c.on("stream_removed", () => renderGrid());
  c.on("quality", () => renderQuality());
  c.on("screenshare", (screen) => {
    $("#screen-button").textContent = screen ? "Stop sharing" : "Share screen";
    renderGrid();
  });
  c.on("knockers", () => renderKnockers());
  c.on("room_knocked", ({ displayName, participantId }) => {
    if (!c.isHost) return;
    toast(`${displayName ?? "Someone"} asks to join.`, [
      ["Let in", () => handleKnock(participantId, "accept")],
      ["Deny", () => handleKnock(participantId, "reject")],
    ], "knock");
  });
  c.on("room_locked", ({ isLocked }) => ($("#lock-toggle").checked = isLocked));
  c.on("chat", renderChat);
  c.on("captions", renderCaptions);
  c.on("breakout", renderBreakout);
  // The server sends the whole list each time it changes (and an empty one when everyone is
  // quiet), so the list replaces the previous one.
  c.on("active_speakers_changed", ({ speakers }) => {
    speaking.clear();
    for (const { participantId } of speakers) speaking.add(participantId);
    const remote = speakers.find((s) => s.participantId !== c.selfId);
    if (remote) lastSpeaker = remote.participantId;
    markSpeaking();
    if (layout === "speaker" && !pinned) renderGrid();
  });
  c.on("audio_enabled", ({ participantId, enabled, reason }) => {
    if (participantId !== c.selfId || enabled) return;
    if (reason === "returned_to_main" || Date.now() - returnedToMainAt < 3_000) {
      notice("You were muted when you returned to the main room. Unmute to speak.", ["Unmute", () => c.setAudioEnabled(true)]);
    }
  });
  c.on("video_enabled", ({ participantId, enabled, reason }) => {
    if (participantId === c.selfId && !enabled && reason === "returned_to_main") {
      notice("Your camera was turned off when you returned to the main room.", ["Start video", () => c.setVideoEnabled(true)]);
    }
  });
  c.on("audio_enable_requested", ({ enable }) => {
    if (enable) notice("A host asks you to unmute.", ["Unmute", () => c.setAudioEnabled(true)]);
    else notice("A host muted you.");
  });
  c.on("video_enable_requested", ({ enable }) => {
    if (enable) notice("A host asks you to start your camera.", ["Start video", () => c.setVideoEnabled(true)]);
    else notice("A host turned your camera off.");
  });
  c.on("breakout_location_changed", ({ participantId, from, to }) => {
    if (participantId === c.selfId && from !== null && to === null) returnedToMainAt = Date.now();
  });
  c.on("breakout_move_requested", ({ sessionId, sessionName, deadline }) => {
    const go = ["Join now", () => c.command("breakout_join", { sessionId }).catch(report)];
    if (deadline === null) notice(`You are invited to the breakout room ${sessionName}.`, go);
    else countdownNotice(`You will be moved to the breakout room ${sessionName} in`, deadline, go, "move");
  });
  c.on("breakout_message", ({ senderName, message }) => {
    notice(`Message from ${senderName} to all breakout rooms: ${message}`);
    note(`${senderName} to all rooms: ${message}`, true);
  });
  c.on("breakout_return_requested", () =>
    notice("The host asks everybody to return to the main room.", ["Return now", () => c.command("breakout_leave").catch(report)]),
  );
  c.on("breakout_closing", ({ closingEndsAt }) => {
    if (c.location !== null) {
      countdownNotice("Breakout rooms are closing. You will return to the main room in", closingEndsAt, ["Return now", () => c.command("breakout_leave").catch(report)], "closing");
    }
    note("Breakout rooms are closing.", true);
  });
  c.on("breakout_ended", () => {
    note("Breakout rooms closed.");
    for (const t of document.querySelectorAll(".toast.help")) t.remove();
    if (["move", "closing"].includes($("#banner").dataset.kind)) hideBanner();
  });
  c.on("breakout_timer_warning", ({ secondsLeft }) => notice(`Breakout rooms close in ${Math.round(secondsLeft / 60) || 1} minute(s).`));
  c.on("breakout_help_requested", ({ displayName, sessionName, sessionId }) => {
    toast(`${displayName} asks for help in ${sessionName}.`, [["Go to the room", () => c.command("breakout_join", { sessionId }).catch(report)]], "help");
    note(`${displayName} asked for help in ${sessionName}.`, true);
  });
  c.on("media_error", ({ transport, error }) => notice(`Media problem (${transport === "publisher" ? "sending" : "receiving"}): ${error.message ?? error}`));
}

// ------------------------------------------------------------------ notices

/** One banner at the top of the stage; `action` is [label, fn]. */
function notice(text, action, kind = "notice") {
  clearInterval(countdownTimer);
  const banner = $("#banner");
  banner.dataset.kind = kind;
  banner.replaceChildren(el("span", { className: "text", textContent: text }));
  if (action) {
    const [label, fn] = action;
    banner.append(el("button", { textContent: label, className: "primary", onclick: () => { hideBanner(); fn(); } }));
  }
  banner.append(el("button", { textContent: "Dismiss", className: "close", onclick: hideBanner }));
  banner.hidden = false;
}

function hideBanner() {
  clearInterval(countdownTimer);
  $("#banner").hidden = true;
  $("#banner").dataset.kind = "";
}

/** A banner that counts down to `deadline` (an ISO time). */
function countdownNotice(text, deadline, action, kind) {
  notice(text, action, kind);
  const span = $("#banner .text");
  const end = Date.parse(deadline);
  const tick = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    span.textContent = `${text} ${formatSeconds(left)}.`;
    span.dataset.secondsLeft = String(left);
    if (left === 0) clearInterval(countdownTimer);
  };
  tick();
  countdownTimer = setInterval(tick, 250);
}

function formatSeconds(total) {
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m ? `${m}:${String(s).padStart(2, "0")}` : `${s} s`;
}

/** A card in the corner for hosts (knocks, help requests) that stays until acted on. */
function toast(text, actions = [], kind = "info") {
  const card = el("div", { className: `toast ${kind}` }, el("span", { textContent: text }));
  const close = () => card.remove();
  for (const [label, fn] of actions) {
    card.append(el("button", { textContent: label, onclick: () => { close(); fn(); } }));
  }
  card.append(el("button", { textContent: "Dismiss", className: "close", onclick: close }));
  $("#toasts").append(card);
  if (!actions.length) setTimeout(close, 8_000);
}

function note(text, highlight = false) {
  const item = el("li", { textContent: `${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} ${text}` });
  if (highlight) item.className = "highlight";
  $("#breakout-notes").prepend(item);
}

function report(error) {
  notice(error.code ? describeError(error) : String(error.message ?? error));
}

// ------------------------------------------------------------------ left / ended

const ENDED = {
  left: ["You left the meeting", ""],
  kicked: ["You were removed from the meeting", "A host removed you."],
  knock_rejected: ["You were not let in", "A host declined your request to join."],
  replaced: ["You joined from another tab", "This meeting is open in another tab or window."],
};

function showEnded(status, { code, message, reason } = {}) {
  // A host's end_meeting: `client_kicked {reason: end_meeting}`, then the close 4002.
  const meetingEnded = code === 4002 || reason === "end_meeting";
  clearInterval(countdownTimer);
  clearInterval(breakoutTimer);
  $("#breakout-timer").hidden = true;
  $("#location-label").textContent = "";
  client?.stopQualityMonitor();
  for (const t of tiles.values()) t.resize?.disconnect();
  tiles.clear();
  $("#grid").replaceChildren();
  $("#toasts").replaceChildren();
  hideBanner();
  let [title, text] = ENDED[status] ?? ENDED.left;
  if (status === "left" && lastJoin?.room) text = `You can rejoin ${lastJoin.room} while it is open.`;
  if (meetingEnded) [title, text] = ["The meeting has ended", "A host ended the meeting for everyone."];
  if (endedByMe && status === "left") [title, text] = ["You ended the meeting for everyone", "Everybody was disconnected. Rejoin starts the meeting again."];
  endedByMe = false;
  if (message) text = `${text} Message: ${message}`;
  $("#ended-title").textContent = title;
  $("#ended-text").textContent = text;
  $("#rejoin-button").hidden = status === "kicked" && !meetingEnded; // an ended meeting may start again
  $("#meeting-view").hidden = true;
  $("#join-view").hidden = true;
  $("#ended-view").hidden = false;
  if (status !== "replaced") forgetJoin();
}

$("#rejoin-button").onclick = () => {
  $("#ended-view").hidden = true;
  const settings = lastJoin ?? readForm();
  join({ ...settings, audio: client?.audioEnabled ?? settings.audio, video: client?.videoEnabled ?? settings.video }).catch((error) => {
    showPrejoin();
    showJoinError(error);
  });
};
$("#home-button").onclick = () => showPrejoin();

function showPrejoin() {
  $("#ended-view").hidden = true;
  $("#meeting-view").hidden = true;
  $("#join-view").hidden = false;
  $("#knock-panel").hidden = true;
  $("#status").textContent = STATUS_TEXT.ready;
  $("#status").dataset.status = "ready";
  $("#room-label").textContent = $("#location-label").textContent = "";
  $("#breakout-timer").hidden = true;
  openPreview();
}

// ------------------------------------------------------------------ render

function renderAll() {
  const here = client.location;
  const session = client.breakout?.sessions?.find((s) => s.id === here);
  $("#location-label").textContent = here === null ? "Main room" : `Breakout room: ${session?.name ?? here}`;
  $("#chat-form input").placeholder = here === null ? "Message everyone in the main room" : `Message everyone in ${session?.name ?? "this room"}`;
  renderGrid();
  renderPeople();
  renderKnockers();
  renderChat();
  renderBreakout();
}

// ------------------------------------------------------------------ video grid

/** The tiles we should show: everybody in our location (camera), plus screenshares. */
function wantedTiles() {
  const wanted = [];
  for (const p of client.participantsHere()) {
    // Only people who publish get a camera tile (a viewer does not see an empty one of itself).
    if (!PUBLISHING_ROLES.has(p.roleName)) continue;
    wanted.push({ key: `${p.id}/camera`, participantId: p.id, streamId: "camera" });
    for (const s of p.screenshares ?? []) {
      wanted.push({ key: `${p.id}/${s.streamId}`, participantId: p.id, streamId: s.streamId, screen: true });
    }
  }
  return wanted;
}

/** The tile on the main stage, or null for the plain grid. */
function focusKey(wanted) {
  if (pinned && wanted.some((w) => w.key === pinned)) return pinned;
  pinned = null;
  const screen = wanted.find((w) => w.screen);
  if (screen) return screen.key;
  if (layout !== "speaker" || wanted.length < 2) return null;
  const speaker = lastSpeaker && wanted.find((w) => w.participantId === lastSpeaker && !w.screen);
  if (speaker) return speaker.key;
  return (wanted.find((w) => w.participantId !== client.selfId) ?? wanted[0]).key;
}

function renderGrid() {
  if (!client) return;
  const grid = $("#grid");
  const wanted = wantedTiles();
  const keys = new Set(wanted.map((w) => w.key));
  for (const [k, tile] of tiles) {
    if (!keys.has(k)) {
      tile.resize?.disconnect();
      tile.root.remove();
      tiles.delete(k);
    }
  }
  const focus = focusKey(wanted);
  grid.className = focus ? "layout-stage" : "layout-grid";
  for (const w of wanted) {
    let tile = tiles.get(w.key);
    if (!tile) {
      tile = makeTile(w);
      tiles.set(w.key, tile);
      grid.append(tile.root);
    }
    const p = client.participants.get(w.participantId);
    const self = w.participantId === client.selfId;
    const stream = self
      ? (w.screen ? client.screen?.stream : client.localStream) ?? null
      : client.remoteStreams.get(w.key) ?? null;
    client.attachMedia(tile.video, stream);
    const videoOff = !w.screen && p && !p.isVideoEnabled;
    // The avatar stays until the first frame: a new subscription takes a moment.
    const hasVideo = !!stream?.getVideoTracks().length && tile.video.videoWidth > 0;
    tile.root.classList.toggle("no-media", !hasVideo);
    tile.root.classList.toggle("video-off", !!videoOff);
    tile.root.classList.toggle("focus", w.key === focus);
    tile.root.classList.toggle("self", self && !w.screen);
    tile.root.style.order = w.key === focus ? "-1" : "0";
    tile.name.textContent = `${p?.displayName ?? "Someone"}${self ? " (you)" : ""}${w.screen ? " is presenting" : ""}`;
    tile.avatar.textContent = initials(p?.displayName ?? "?");
    tile.muted.hidden = w.screen || !p || p.isAudioEnabled;
    tile.hand.hidden = w.screen || !p?.stickyReaction;
    tile.hand.textContent = p?.stickyReaction?.reaction === HAND ? `${HAND} Hand raised` : p?.stickyReaction ? `${p.stickyReaction.reaction} Reaction` : "";
    tile.reconnecting.hidden = p?.connection !== "reconnecting";
    tile.pin.textContent = pinned === w.key ? "Unpin" : "Pin";
    tile.pin.hidden = wanted.length < 2; // nothing to pin it against
  }
  // Keep the focus first so the filmstrip follows it.
  fitGrid();
  markSpeaking();
  renderQuality();
}

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] ?? "?").slice(0, 2)).toUpperCase();
}

/** Sizes the tiles: a fixed width (`tile=` / setTileSize), or the largest 16:9 tiles that fit. */
function fitGrid() {
  const grid = $("#grid");
  const count = grid.children.length;
  if (fixedTileWidth) {
    grid.style.setProperty("--tile-width", `${fixedTileWidth}px`);
    grid.classList.add("fixed");
    return;
  }
  if (grid.className.includes("layout-stage")) {
    grid.style.setProperty("--tile-width", "200px");
    return;
  }
  const gap = 8;
  const width = grid.clientWidth - 2 * 12;
  const height = grid.clientHeight - 2 * 12;
  if (!count || width <= 0 || height <= 0) return;
  let best = 0;
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const w = Math.min((width - (cols - 1) * gap) / cols, ((height - (rows - 1) * gap) / rows) * (16 / 9));
    best = Math.max(best, w);
  }
  grid.style.setProperty("--tile-width", `${Math.floor(best)}px`);
}
new ResizeObserver(() => fitGrid()).observe($("#grid"));

function makeTile({ key, participantId, streamId, screen }) {
  const self = participantId === client.selfId;
  const video = el("video", { autoplay: true, playsInline: true, muted: self });
  const avatar = el("div", { className: "avatar" });
  const name = el("span", { className: "name" });
  const muted = el("span", { className: "badge muted", textContent: "Muted" });
  const hand = el("span", { className: "badge hand" });
  const reconnecting = el("span", { className: "badge warn", textContent: "Reconnecting" });
  const quality = el("span", { className: "badge quality", hidden: true });
  const pin = el("button", { className: "pin", textContent: "Pin", title: "Show this on the main stage" });
  pin.onclick = () => {
    pinned = pinned === key ? null : key;
    renderGrid();
  };
  const root = el(
    "div",
    { className: `tile${screen ? " screen" : ""}` },
    video,
    avatar,
    pin,
    el("div", { className: "caption" }, name, el("span", { className: "badges" }, hand, muted, reconnecting, quality)),
  );
  root.dataset.participantId = participantId;
  root.dataset.streamId = streamId;
  root.dataset.key = key;
  const tile = { root, video, avatar, name, muted, hand, reconnecting, quality, pin, participantId, streamId };
  const framed = () => root.classList.toggle("no-media", !(video.srcObject?.getVideoTracks().length && video.videoWidth > 0));
  video.addEventListener("resize", framed);
  video.addEventListener("loadeddata", framed);
  video.addEventListener("emptied", framed);
  if (!self) {
    // Adaptive stream: the tile's size in device pixels is what we ask the SFU for.
    tile.resize = new ResizeObserver(([entry]) => {
      const dpr = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(entry.contentRect.width * dpr));
      const height = Math.max(1, Math.round(entry.contentRect.height * dpr));
      client.setSubscriptionPreference(participantId, streamId, { kind: "video", targetSize: { width, height } });
    });
    tile.resize.observe(video);
  }
  return tile;
}

function markSpeaking() {
  for (const tile of tiles.values()) tile.root.classList.toggle("speaking", speaking.has(tile.participantId) && tile.streamId === "camera");
}

const QUALITY_TEXT = { good: "Good connection", fair: "Fair connection", poor: "Poor connection", lost: "Connection lost" };
function renderQuality() {
  if (!client) return;
  for (const tile of tiles.values()) {
    if (tile.streamId !== "camera") continue;
    const q = client.quality.get(tile.participantId);
    const known = q && q.quality !== "unknown";
    tile.quality.hidden = !known;
    if (!known) continue;
    tile.quality.textContent = QUALITY_TEXT[q.quality] ?? q.quality;
    tile.quality.dataset.quality = q.quality;
    tile.quality.title = `loss ${q.lossPercent} %, jitter ${q.jitterMs} ms${q.rttMs != null ? `, round trip ${q.rttMs} ms` : ""}, ${q.kbps} kbit/s`;
  }
}

/** Sets the tile width in CSS pixels (tests call it); null fits the tiles to the window again. */
function setTileSize(width) {
  fixedTileWidth = width;
  $("#grid").classList.toggle("fixed", !!width);
  renderGrid();
}

function setLayout(next) {
  layout = next;
  $("#layout-button").textContent = layout === "speaker" ? "Grid view" : "Speaker view";
  renderGrid();
}

// ------------------------------------------------------------------ controls

$("#mic-button").onclick = () => client.setAudioEnabled(!client.audioEnabled).catch(report);
$("#cam-button").onclick = () => client.setVideoEnabled(!client.videoEnabled).catch(report);
$("#screen-button").onclick = () =>
  (client.screen ? client.stopScreenshare() : client.startScreenshare()).catch((error) => {
    if (error.name === "NotAllowedError") return; // the person cancelled the picker
    report(error);
  });
$("#hand-button").onclick = () => {
  const raised = !!client.self?.stickyReaction;
  client.command("set_sticky_reaction", { reaction: raised ? null : HAND }).then(() => {
    $("#hand-button").textContent = raised ? "Raise hand" : "Lower hand";
  }, report);
};
$("#layout-button").onclick = () => setLayout(layout === "speaker" ? "grid" : "speaker");
$("#leave-button").onclick = () => {
  forgetJoin();
  client.leave();
};
let endedByMe = false;
$("#end-button").onclick = () => {
  endedByMe = true;
  forgetJoin();
  client.command("end_meeting").catch((error) => {
    endedByMe = false;
    report(error);
  });
};
$("#knock-button").onclick = () => client.knock().catch(report);
$("#cancel-knock-button").onclick = () => client.cancelKnock().catch(report);
$("#lock-toggle").onchange = (event) => client.command("set_lock", { locked: event.target.checked }).catch(report);
$("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  const text = input.value.trim();
  if (!text) return;
  client.command("send_chat_message", { text, clientMsgId: randomId() }).then(() => (input.value = ""), report);
});

// ------------------------------------------------------------------ people, waiting room, chat

/** Session id each participant is assigned to (hosts see `assignedIds`). */
function assignments() {
  const map = new Map();
  for (const s of client.breakout?.sessions ?? []) {
    for (const id of s.assignedIds ?? []) map.set(id, s.id);
  }
  return map;
}

let peopleShown = null; // what the list shows now, to rebuild it only when that changes

function renderPeople() {
  const list = $("#people");
  const people = [...client.participants.values()];
  $("#people-count").textContent = `(${people.length})`;
  const sessions = client.breakout?.sessions ?? [];
  const assigned = assignments();
  // Rebuilding the list under the pointer loses a click (press on the old button, release on
  // the new one), so an event that changes nothing shown leaves the list alone.
  const shown = JSON.stringify([
    client.selfId,
    client.isHost,
    client.breakout?.state,
    sessions.map((s) => [s.id, s.name]),
    [...assigned],
    people.map((p) => [p.id, p.displayName, p.roleName, p.location, p.isAudioEnabled, p.stickyReaction?.reaction, p.connection]),
  ]);
  if (shown === peopleShown && list.isConnected) return;
  peopleShown = shown;
  list.replaceChildren(
    ...people.map((p) => {
      const where = p.location === null ? "main room" : sessions.find((s) => s.id === p.location)?.name ?? "a breakout room";
      const flags = [ROLE_NAMES[p.roleName] ?? p.roleName, where];
      if (PUBLISHING_ROLES.has(p.roleName) && !p.isAudioEnabled) flags.push("muted");
      if (p.stickyReaction) flags.push(`${p.stickyReaction.reaction} hand raised`);
      if (p.connection === "reconnecting") flags.push("reconnecting");
      const item = el(
        "li",
        {},
        el("span", { className: "name", textContent: `${p.displayName}${p.id === client.selfId ? " (you)" : ""}` }),
        el("span", { className: "meta", textContent: flags.join(" · ") }),
      );
      item.dataset.participantId = p.id;
      if (client.isHost && p.id !== client.selfId) {
        const actions = el("span", { className: "actions" });
        if (PUBLISHING_ROLES.has(p.roleName) && p.isAudioEnabled) {
          actions.append(el("button", { textContent: "Mute", onclick: () => client.command("request_audio_enable", { participantIds: [p.id], enable: false }).catch(report) }));
        }
        if (p.stickyReaction) {
          actions.append(el("button", { textContent: "Lower hand", onclick: () => client.command("clear_sticky_reaction", { participantId: p.id }).catch(report) }));
        }
        actions.append(el("button", { textContent: "Remove", className: "danger", onclick: () => client.command("kick_participant", { participantId: p.id }).catch(report) }));
        item.append(actions);
        if (sessions.length && ["enabled", "started", "ended"].includes(client.breakout?.state) && !["recorder", "streamer"].includes(p.roleName)) {
          const select = el("select", { title: `Breakout room for ${p.displayName}`, className: "assign" }, el("option", { value: "", textContent: "Not assigned" }));
          for (const s of sessions) select.append(el("option", { value: s.id, textContent: s.name }));
          select.value = assigned.get(p.id) ?? "";
          select.onchange = () => assign(p.id, select.value || null);
          item.append(el("label", { className: "assign-label" }, "Breakout room ", select));
        }
      }
      return item;
    }),
  );
}

function renderKnockers() {
  if (!client?.isHost) return;
  const knockers = [...client.knockers.values()];
  $("#knocker-count").textContent = knockers.length ? `(${knockers.length} waiting)` : "";
  $("#knockers").replaceChildren(
    ...knockers.map((k) =>
      el(
        "li",
        {},
        el("span", { textContent: `${k.displayName ?? "Someone"}${k.status === "on_hold" ? " (on hold)" : ""}` }),
        el("button", { textContent: "Accept", onclick: () => handleKnock(k.participantId, "accept") }),
        el("button", { textContent: "Hold", onclick: () => handleKnock(k.participantId, "hold") }),
        el("button", { textContent: "Deny", className: "danger", onclick: () => handleKnock(k.participantId, "reject") }),
      ),
    ),
  );
  if (!knockers.length) for (const t of document.querySelectorAll(".toast.knock")) t.remove();
}

function handleKnock(participantId, action) {
  client.command("handle_knock", { participantId, action }).catch(report);
}

function renderChat() {
  if (!client) return;
  const here = client.location ?? null;
  const list = $("#chat");
  list.replaceChildren(
    ...client.chat
      .filter((m) => m.broadcast || (m.scope ?? null) === here)
      .map((m) =>
        el(
          "li",
          { className: m.removed ? "removed" : "", title: m.timestamp ? new Date(m.timestamp).toLocaleTimeString() : "" },
          el("b", { textContent: `${m.senderName}: ` }),
          el("span", { textContent: m.removed ? "(message removed)" : m.text }),
        ),
      ),
  );
  list.scrollTop = list.scrollHeight;
}

// The live transcriber's latest line under the stage: who said what.
function renderCaptions(captions) {
  const last = captions[captions.length - 1];
  const box = $("#captions");
  box.hidden = !last;
  if (last) box.replaceChildren(el("b", { textContent: `${last.displayName}: ` }), el("span", { textContent: last.text }));
}

// ------------------------------------------------------------------ breakout

function assign(participantId, sessionId) {
  client.command("breakout_assign", { assignments: [{ sessionId, participantIds: [participantId] }] }).catch(report);
}

const hostCommand = (name, args, then) => () =>
  client.command(name, args?.() ?? {}).then((result) => then?.(result), report);
$("#bo-enable").onclick = hostCommand("breakout_enable");
$("#bo-create").onclick = hostCommand("breakout_create_sessions", () => ({ count: Number($("#bo-count").value) }));
$("#bo-auto").onclick = hostCommand("breakout_auto_assign", () => ({ reassignAll: true }));
$("#bo-start").onclick = hostCommand("breakout_start", () => ({ config: readBreakoutSettings() }));
$("#bo-return").onclick = hostCommand("breakout_ask_all_to_return");
// Closing counts down (the configured countdown) so people can finish their sentence.
$("#bo-end").onclick = hostCommand("breakout_end", () => ({}), ({ closingEndsAt }) => {
  note(closingEndsAt ? "Breakout rooms are closing." : "Breakout rooms closed.");
});
$("#bo-broadcast").onclick = () => {
  const message = $("#bo-message").value.trim();
  if (!message) return;
  client.command("breakout_broadcast", { message }).then(({ deliveredTo }) => {
    $("#bo-message").value = "";
    const n = Number(deliveredTo ?? 0);
    $("#bo-broadcast-note").textContent = `Sent to ${n} ${n === 1 ? "person" : "people"}.`;
  }, report);
};
$("#bo-save").onclick = () =>
  client.command("breakout_configure", { config: readBreakoutSettings({ whileStarted: ["started", "closing"].includes(client.breakout?.state) }) }).then(() => {
    $("#bo-settings-note").textContent = "Saved.";
    setTimeout(() => ($("#bo-settings-note").textContent = ""), 3_000);
  }, report);
$("#bo-leave").onclick = () => client.command("breakout_leave").catch(report);
$("#bo-help").onclick = () =>
  client.command("breakout_ask_for_help").then(() => {
    note("You asked a host for help.");
    notice("A host has been asked to help.");
  }, report);

/** The settings panel as a partial BreakoutConfig (while started only some may change). */
function readBreakoutSettings({ whileStarted = false } = {}) {
  const minutes = Number($("#bo-autoend").value);
  const config = {
    countdownTimer: clampNumber($("#bo-countdown").value, 0, 300),
    muteOnReturnToMain: $("#bo-mute").value,
    allowReturnToMain: $("#bo-allow-return").checked,
  };
  if (!whileStarted) {
    config.moveGracePeriod = clampNumber($("#bo-grace").value, 0, 120);
    config.automaticallyEndBreakoutsAfter = minutes > 0 ? clampNumber(minutes * 60, 300, 86_400) : null;
  }
  return config;
}
const clampNumber = (value, min, max) => Math.min(max, Math.max(min, Math.round(Number(value) || 0)));

/** Shows the current config in the settings panel (unless the host is editing it). */
function showBreakoutSettings(config) {
  if (!config || $("#bo-settings").contains(document.activeElement)) return;
  $("#bo-countdown").value = config.countdownTimer;
  $("#bo-grace").value = config.moveGracePeriod;
  $("#bo-autoend").value = config.automaticallyEndBreakoutsAfter ? Math.round(config.automaticallyEndBreakoutsAfter / 60) : 0;
  $("#bo-mute").value = config.muteOnReturnToMain;
  $("#bo-allow-return").checked = config.allowReturnToMain;
  const started = ["started", "closing"].includes(client.breakout?.state);
  $("#bo-grace").disabled = $("#bo-autoend").disabled = started;
}

const BREAKOUT_STATE_TEXT = { disabled: "off", enabled: "ready", started: "open", closing: "closing", ended: "closed" };

function renderBreakout() {
  if (!client) return;
  const view = client.breakout;
  const state = view?.state ?? "disabled";
  $("#breakout-state").textContent = `(${BREAKOUT_STATE_TEXT[state] ?? state})`;
  const running = state === "started" || state === "closing";
  // Only what the host can do now: preparing (create, assign, open) or running (return,
  // close, message); the settings in both.
  const preparing = ["enabled", "ended"].includes(state);
  $("#bo-enable").hidden = state !== "disabled";
  $("#bo-prepare").hidden = !preparing;
  $("#bo-start").disabled = !(view?.sessions?.length > 0);
  $("#bo-running").hidden = state !== "started";
  $("#bo-settings").hidden = !(preparing || state === "started");
  if (client.isHost) showBreakoutSettings(view?.config);
  const inSession = client.location !== null;
  $("#bo-leave").hidden = !inSession || (!client.isHost && view?.config?.allowReturnToMain === false);
  $("#bo-help").hidden = !inSession || client.isHost;
  const status = {
    disabled: client.isHost ? "Enable breakout rooms to split the meeting into small groups." : "No breakout rooms.",
    enabled: client.isHost ? "Create rooms, assign people, then open the rooms." : "The host is preparing breakout rooms.",
    started: inSession ? "You are in a breakout room." : "Breakout rooms are open.",
    closing: "Breakout rooms are closing.",
    ended: "Breakout rooms are closed.",
  }[state];
  $("#breakout-status").textContent = status ?? "";
  const names = (ids = []) => ids.map((id) => client.participants.get(id)?.displayName ?? "someone").join(", ");
  $("#sessions").replaceChildren(
    ...(view?.sessions ?? []).map((s) => {
      const item = el(
        "li",
        { className: s.current ? "current" : "" },
        el("b", { textContent: s.name }),
        el("span", { className: "meta", textContent: s.memberIds.length ? `${s.memberIds.length} in the room: ${names(s.memberIds)}` : "nobody in the room" }),
      );
      item.dataset.sessionId = s.id;
      if (s.current) item.append(el("span", { className: "badge", textContent: "You are here" }));
      if (client.isHost && s.assignedIds?.length) {
        item.append(el("div", { className: "meta", textContent: `Assigned: ${names(s.assignedIds)}` }));
      }
      if (running && !s.current && (s.allowed || client.isHost)) {
        item.append(el("button", { textContent: client.isHost ? "Visit" : "Join", onclick: () => client.command("breakout_join", { sessionId: s.id }).catch(report) }));
      }
      return item;
    }),
  );
  renderBreakoutTimer();
  if (client.isHost) renderPeople();
}

// The header chip: time until the rooms close (countdown) or end automatically.
let breakoutTimer = null;
function renderBreakoutTimer() {
  clearInterval(breakoutTimer);
  const view = client?.breakout;
  const chip = $("#breakout-timer");
  const target = view?.state === "closing" ? view.closingEndsAt : view?.state === "started" ? view.autoEndAt : null;
  if (!target) {
    chip.hidden = true;
    return;
  }
  const label = view.state === "closing" ? "Rooms close in" : "Rooms end in";
  const tick = () => {
    const left = Math.max(0, Math.ceil((Date.parse(target) - Date.now()) / 1000));
    chip.textContent = `${label} ${formatSeconds(left)}`;
    chip.dataset.secondsLeft = String(left);
  };
  tick();
  chip.hidden = false;
  breakoutTimer = setInterval(tick, 500);
}

// ------------------------------------------------------------------ start

window.sfuApp = {
  client: null,
  publish: { state: "none" },
  setTileSize,
  setLayout,
  pin: (key) => {
    pinned = key;
    renderGrid();
  },
  tiles: () => [...tiles.values()].map((t) => ({
    key: t.root.dataset.key,
    participantId: t.participantId,
    streamId: t.streamId,
    hasMedia: !!t.video.srcObject,
    videoWidth: t.video.videoWidth,
    videoHeight: t.video.videoHeight,
    focus: t.root.classList.contains("focus"),
    width: t.root.getBoundingClientRect().width,
    height: t.root.getBoundingClientRect().height,
  })),
};

// A reload keeps the meeting: the join is remembered with a fresh time as the page goes away.
window.addEventListener("pagehide", () => {
  if (client?.status === Status.CONNECTED && lastJoin) rememberJoin();
});

renderPreviewToggles();
const stored = (() => {
  try {
    return JSON.parse(sessionStorage.getItem(LAST_JOIN) ?? "null");
  } catch {
    return null;
  }
})();
const rejoining = stored && Date.now() - stored.at < REJOIN_WITHIN_MS;
if (params.get("autojoin") === "1") {
  // A reloaded autojoin page joins with the token it had (client.js resumes that person's
  // place), not with a new development token of a new identity.
  const wanted = readForm();
  const same = rejoining && ["room", "name", "role"].every((field) => stored[field] === wanted[field]);
  join(same ? { ...wanted, token: wanted.token || stored.token } : wanted).catch(showJoinError);
} else if (rejoining) {
  // A reload during a meeting: back in at once (client.js resumes the old place).
  $("#join-error").textContent = "Rejoining the meeting...";
  for (const field of ["room", "name", "role"]) form.elements[field].value = stored[field] ?? "";
  join(stored).catch((error) => {
    forgetJoin();
    showJoinError(error);
    openPreview();
  });
} else {
  if (!window.isSecureContext) $("#join-error").textContent = INSECURE_CONTEXT_HELP;
  openPreview();
}
