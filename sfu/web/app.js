// The demo page: a thin UI over client.js. URL parameters pre-fill the join form and
// `autojoin=1` joins at once (used by the browser tests):
//   /?room=demo&name=Ada&role=host&autojoin=1&capture=640x360&audio=1&video=1[&codec=h264]

import { SfuClient, Status, fetchDevToken } from "/client.js";

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

const params = new URLSearchParams(location.search);
const PUBLISHING_ROLES = new Set(["host", "visitor", "granted_visitor"]);
const HAND = "\u270b";

let client = null;
const tiles = new Map(); // tile key -> {root, video, label, participantId, streamId}
const speaking = new Set(); // participantIds of the current active speakers
let tileWidth = Number(params.get("tile") ?? 320);

// ------------------------------------------------------------------ join

const form = $("#join-form");
for (const field of ["room", "name", "role", "token"]) {
  if (params.has(field)) form.elements[field].value = params.get(field);
}
for (const field of ["audio", "video"]) {
  if (params.has(field)) form.elements[field].checked = params.get(field) !== "0";
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  join().catch((error) => showJoinError(error));
});
if (params.get("autojoin") === "1") join().catch((error) => showJoinError(error));

function showJoinError(error) {
  $("#join-error").textContent = error.code ?? error.message ?? String(error);
}

/** 32 hex digits; `crypto.randomUUID` exists only in secure contexts, this everywhere. */
function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
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
  "To only watch and listen, untick camera and microphone.";
if (!window.isSecureContext) $("#join-error").textContent = INSECURE_CONTEXT_HELP;

async function join() {
  $("#join-error").textContent = "";
  if (!window.isSecureContext && (form.elements.audio.checked || form.elements.video.checked)) {
    throw new Error(INSECURE_CONTEXT_HELP);
  }
  const room = form.elements.room.value.trim();
  const name = form.elements.name.value.trim() || "Guest";
  const role = form.elements.role.value;
  const audio = form.elements.audio.checked;
  const video = form.elements.video.checked;
  let token = form.elements.token.value.trim();
  if (!token) {
    const identity = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${randomId().slice(0, 8)}`;
    token = await fetchDevToken({ room, identity, role, name });
  }
  client = new SfuClient({
    roomName: room,
    credential: { token },
    displayName: name,
    media: { audio, video },
    iceTransportPolicy: params.get("relay") === "1" ? "relay" : "all",
  });
  window.sfuApp.client = client;
  wire(client);
  try {
    await client.join();
  } catch (error) {
    if (error.code === "room_locked") return; // the knock panel takes over
    throw error;
  }
}

async function startMedia() {
  const publishing = PUBLISHING_ROLES.has(client.roleName);
  $("#mic-button").disabled = $("#cam-button").disabled = $("#screen-button").disabled = !publishing;
  if (!publishing || !(client.audioEnabled || client.videoEnabled)) return;
  const [width, height] = (params.get("capture") ?? "1280x720").split("x").map(Number);
  window.sfuApp.publish = { state: "pending" };
  try {
    await client.publishCamera({
      videoCodec: params.get("codec") === "h264" ? "video/H264" : "video/VP8",
      constraints: {
        audio: client.options.media.audio,
        video: client.options.media.video ? { width: { ideal: width }, height: { ideal: height } } : false,
      },
    });
    window.sfuApp.publish = { state: "ok" };
  } catch (error) {
    window.sfuApp.publish = { state: "failed", error: error.code ?? error.message };
    notice(`publishing failed: ${error.command ? `${error.command}: ` : ""}${error.code ?? error.message}`);
  }
}

// ------------------------------------------------------------------ client events

function wire(c) {
  c.on("status", ({ status, message }) => {
    const badge = $("#status");
    badge.textContent = status.replaceAll("_", " ");
    badge.dataset.status = status;
    const knocking = [Status.ROOM_LOCKED, Status.KNOCKING, Status.KNOCK_ON_HOLD, Status.KNOCK_REJECTED].includes(status);
    $("#knock-panel").hidden = !knocking;
    $("#knock-button").hidden = status !== Status.ROOM_LOCKED;
    $("#cancel-knock-button").hidden = ![Status.KNOCKING, Status.KNOCK_ON_HOLD].includes(status);
    $("#knock-text").textContent = {
      room_locked: "The room is locked. Ask the host to let you in.",
      knocking: "Waiting for a host to let you in...",
      knock_on_hold: `On hold${message ? `: ${message}` : ""}`,
      knock_rejected: `A host declined${message ? `: ${message}` : ""}.`,
    }[status] ?? "";
    if ([Status.KICKED, Status.LEFT].includes(status)) {
      notice(status === Status.KICKED ? "You were removed from the meeting." : "You left the meeting.");
      for (const t of tiles.values()) t.root.remove();
      tiles.clear();
    }
  });
  c.on("joined", (joined) => {
    $("#join-view").hidden = true;
    $("#meeting-view").hidden = false;
    $("#room-label").textContent = `room ${joined.room.name}`;
    document.body.classList.toggle("is-host", c.isHost);
    for (const node of document.querySelectorAll(".host-only")) node.hidden = !c.isHost;
    $("#lock-toggle").checked = joined.room.isLocked;
    renderAll();
    startMedia();
  });
  c.on("resumed", () => renderAll());
  c.on("roster", () => {
    renderGrid();
    renderPeople();
  });
  c.on("location", () => {
    renderAll();
  });
  c.on("local_stream", () => renderGrid());
  c.on("local_media", ({ audio, video }) => {
    setToggle($("#mic-button"), audio, "Mute", "Unmute");
    setToggle($("#cam-button"), video, "Stop video", "Start video");
  });
  c.on("stream", () => renderGrid());
  c.on("stream_removed", () => renderGrid());
  c.on("screenshare", (screen) => {
    $("#screen-button").textContent = screen ? "Stop sharing" : "Share screen";
    renderGrid();
  });
  c.on("knockers", renderKnockers);
  c.on("room_locked", ({ isLocked }) => ($("#lock-toggle").checked = isLocked));
  c.on("chat", renderChat);
  c.on("breakout", renderBreakout);
  // The server sends the whole list each time it changes (and an empty one when everyone is
  // quiet), so the list replaces the previous one.
  c.on("active_speakers_changed", ({ speakers }) => {
    speaking.clear();
    for (const { participantId } of speakers) speaking.add(participantId);
    markSpeaking();
  });
  c.on("audio_enable_requested", ({ enable }) => {
    if (enable) notice("A host asks you to unmute.", () => c.setAudioEnabled(true));
    else notice("A host muted you.");
  });
  c.on("video_enable_requested", ({ enable }) => {
    if (enable) notice("A host asks you to start your camera.", () => c.setVideoEnabled(true));
  });
  c.on("breakout_move_requested", ({ sessionId, sessionName, deadline }) => {
    if (deadline === null) notice(`You are invited to ${sessionName}.`, () => c.command("breakout_join", { sessionId }));
    else note(`Moving you to ${sessionName}...`);
  });
  c.on("breakout_message", ({ senderName, message }) => note(`${senderName} (to all sessions): ${message}`, true));
  c.on("breakout_return_requested", () =>
    notice("The host asks everybody to return to the main room.", () => c.command("breakout_leave")),
  );
  c.on("breakout_closing", ({ countdownSeconds }) => note(`Breakout rooms close in ${countdownSeconds} s.`, true));
  c.on("breakout_ended", () => note("Breakout rooms ended."));
  c.on("breakout_timer_warning", ({ secondsLeft }) => note(`Breakout rooms end in ${secondsLeft} s.`, true));
  c.on("breakout_help_requested", ({ displayName, sessionName }) => note(`${displayName} asks for help in ${sessionName}.`, true));
  c.on("media_error", ({ transport, error }) => notice(`${transport} transport: ${error.message ?? error}`));
}

function setToggle(button, on, onText, offText) {
  button.dataset.on = String(on);
  button.textContent = on ? onText : offText;
}

function notice(text, action) {
  const banner = $("#banner");
  banner.replaceChildren(el("span", { textContent: text }));
  if (action) {
    banner.append(el("button", { textContent: "OK", onclick: () => { banner.hidden = true; action(); } }));
  }
  banner.append(el("button", { textContent: "\u00d7", className: "close", onclick: () => (banner.hidden = true) }));
  banner.hidden = false;
}

function note(text, highlight = false) {
  const item = el("li", { textContent: `${new Date().toLocaleTimeString()} ${text}` });
  if (highlight) item.className = "highlight";
  $("#breakout-notes").prepend(item);
}

function renderAll() {
  const here = client.location;
  const session = client.breakout?.sessions?.find((s) => s.id === here);
  $("#location-label").textContent = here === null ? "main room" : `breakout: ${session?.name ?? here}`;
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
    if (!["host", "visitor", "granted_visitor"].includes(p.roleName) && p.id !== client.selfId) continue;
    wanted.push({ key: `${p.id}/camera`, participantId: p.id, streamId: "camera" });
    for (const s of p.screenshares ?? []) {
      wanted.push({ key: `${p.id}/${s.streamId}`, participantId: p.id, streamId: s.streamId, screen: true });
    }
  }
  return wanted;
}

function renderGrid() {
  if (!client) return;
  const grid = $("#grid");
  grid.style.setProperty("--tile-width", `${tileWidth}px`);
  const wanted = wantedTiles();
  const keys = new Set(wanted.map((w) => w.key));
  for (const [k, tile] of tiles) {
    if (!keys.has(k)) {
      tile.resize?.disconnect();
      tile.root.remove();
      tiles.delete(k);
    }
  }
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
    if (tile.video.srcObject !== stream) {
      tile.video.srcObject = stream;
      if (stream) tile.video.play().catch(() => {});
    }
    tile.root.classList.toggle("no-media", !stream);
    tile.root.classList.toggle("video-off", !w.screen && p && !p.isVideoEnabled);
    const flags = [];
    if (p && !w.screen && !p.isAudioEnabled) flags.push("muted");
    if (p?.stickyReaction) flags.push(p.stickyReaction.reaction);
    if (p?.connection === "reconnecting") flags.push("reconnecting");
    tile.label.textContent = `${p?.displayName ?? w.participantId}${self ? " (you)" : ""}${w.screen ? " - screen" : ""}`;
    tile.flags.textContent = flags.join(" ");
  }
  markSpeaking();
}

function makeTile({ key, participantId, streamId, screen }) {
  const self = participantId === client.selfId;
  const video = el("video", { autoplay: true, playsInline: true, muted: self });
  const label = el("span", { className: "name" });
  const flags = el("span", { className: "flags" });
  const root = el("div", { className: `tile${screen ? " screen" : ""}` }, video, el("div", { className: "caption" }, label, flags));
  root.dataset.participantId = participantId;
  root.dataset.streamId = streamId;
  root.dataset.key = key;
  const tile = { root, video, label, flags, participantId, streamId };
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
  for (const tile of tiles.values()) tile.root.classList.toggle("speaking", speaking.has(tile.participantId));
}

/** Sets the tile width in CSS pixels (the slider; tests call it). */
function setTileSize(width) {
  tileWidth = width;
  $("#tile-size").value = String(width);
  renderGrid();
}

// ------------------------------------------------------------------ controls

$("#mic-button").onclick = () => client.setAudioEnabled(!client.audioEnabled).catch(report);
$("#cam-button").onclick = () => client.setVideoEnabled(!client.videoEnabled).catch(report);
$("#screen-button").onclick = () =>
  (client.screen ? client.stopScreenshare() : client.startScreenshare()).catch(report);
$("#hand-button").onclick = () => {
  const raised = !!client.self?.stickyReaction;
  client.command("set_sticky_reaction", { reaction: raised ? null : HAND }).then(() => {
    $("#hand-button").textContent = raised ? "Raise hand" : "Lower hand";
  }, report);
};
$("#tile-size").oninput = (event) => setTileSize(Number(event.target.value));
$("#leave-button").onclick = () => client.leave();
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

function report(error) {
  notice(error.code ? `${error.command}: ${error.code}` : String(error.message ?? error));
}

// ------------------------------------------------------------------ people, waiting room, chat

function renderPeople() {
  const list = $("#people");
  const people = [...client.participants.values()];
  $("#people-count").textContent = `(${people.length})`;
  const sessions = client.breakout?.sessions ?? [];
  list.replaceChildren(
    ...people.map((p) => {
      const where = p.location === null ? "main" : sessions.find((s) => s.id === p.location)?.name ?? p.location;
      const item = el(
        "li",
        {},
        el("span", { className: "name", textContent: `${p.displayName}${p.id === client.selfId ? " (you)" : ""}` }),
        el("span", { className: "meta", textContent: ` ${p.roleName} · ${where}${p.isAudioEnabled ? "" : " · muted"}${p.stickyReaction ? ` ${p.stickyReaction.reaction}` : ""}` }),
      );
      item.dataset.participantId = p.id;
      if (client.isHost && p.id !== client.selfId) {
        item.append(
          el("button", { textContent: "Mute", onclick: () => client.command("request_audio_enable", { participantIds: [p.id], enable: false }).catch(report) }),
          el("button", { textContent: "Kick", className: "danger", onclick: () => client.command("kick_participant", { participantId: p.id }).catch(report) }),
        );
        if (p.stickyReaction) {
          item.append(el("button", { textContent: "Lower hand", onclick: () => client.command("clear_sticky_reaction", { participantId: p.id }).catch(report) }));
        }
        if (sessions.length && ["enabled", "started", "ended"].includes(client.breakout?.state)) {
          const select = el("select", { title: "breakout assignment" }, el("option", { value: "", textContent: "unassigned" }));
          for (const s of sessions) select.append(el("option", { value: s.id, textContent: s.name }));
          select.value = p.breakoutAssigned ?? "";
          select.onchange = () => assign(p.id, select.value || null);
          item.append(select);
        }
      }
      return item;
    }),
  );
}

function renderKnockers() {
  if (!client?.isHost) return;
  $("#knockers").replaceChildren(
    ...[...client.knockers.values()].map((k) =>
      el(
        "li",
        {},
        el("span", { textContent: `${k.displayName ?? "Someone"} ${k.status === "on_hold" ? "(on hold)" : ""}` }),
        el("button", { textContent: "Accept", onclick: () => handleKnock(k.participantId, "accept") }),
        el("button", { textContent: "Hold", onclick: () => handleKnock(k.participantId, "hold") }),
        el("button", { textContent: "Reject", className: "danger", onclick: () => handleKnock(k.participantId, "reject") }),
      ),
    ),
  );
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
          { className: m.removed ? "removed" : "" },
          el("b", { textContent: `${m.senderName}: ` }),
          el("span", { textContent: m.removed ? "(removed)" : m.text }),
        ),
      ),
  );
  list.scrollTop = list.scrollHeight;
}

// ------------------------------------------------------------------ breakout

function assign(participantId, sessionId) {
  client.command("breakout_assign", { assignments: [{ sessionId, participantIds: [participantId] }] }).catch(report);
}

const hostCommand = (name, args) => () => client.command(name, args?.() ?? {}).catch(report);
$("#bo-enable").onclick = hostCommand("breakout_enable");
$("#bo-create").onclick = hostCommand("breakout_create_sessions", () => ({ count: Number($("#bo-count").value) }));
$("#bo-auto").onclick = hostCommand("breakout_auto_assign", () => ({ reassignAll: true }));
$("#bo-start").onclick = hostCommand("breakout_start");
$("#bo-return").onclick = hostCommand("breakout_ask_all_to_return");
$("#bo-end").onclick = hostCommand("breakout_end", () => ({ immediate: true }));
$("#bo-broadcast").onclick = hostCommand("breakout_broadcast", () => ({ message: $("#bo-message").value.trim() }));
$("#bo-leave").onclick = () => client.command("breakout_leave").catch(report);
$("#bo-help").onclick = () => client.command("breakout_ask_for_help").then(() => note("A host has been asked to help."), report);

function renderBreakout() {
  if (!client) return;
  const view = client.breakout;
  const state = view?.state ?? "disabled";
  $("#breakout-state").textContent = `(${state})`;
  const running = state === "started" || state === "closing";
  $("#bo-enable").disabled = state !== "disabled";
  $("#bo-create").disabled = $("#bo-auto").disabled = !["enabled", "started", "ended"].includes(state);
  $("#bo-start").disabled = !["enabled", "ended"].includes(state) || !(view?.sessions?.length > 0);
  $("#bo-return").disabled = $("#bo-end").disabled = $("#bo-broadcast").disabled = state !== "started";
  const inSession = client.location !== null;
  $("#bo-leave").hidden = !inSession || (!client.isHost && view?.config?.allowReturnToMain === false);
  $("#bo-help").hidden = !inSession || client.isHost;
  const names = (ids = []) => ids.map((id) => client.participants.get(id)?.displayName ?? id).join(", ");
  $("#sessions").replaceChildren(
    ...(view?.sessions ?? []).map((s) => {
      const item = el(
        "li",
        { className: s.current ? "current" : "" },
        el("b", { textContent: s.name }),
        el("span", { className: "meta", textContent: ` ${s.memberIds.length} in${s.memberIds.length ? `: ${names(s.memberIds)}` : ""}` }),
      );
      item.dataset.sessionId = s.id;
      if (client.isHost && s.assignedIds?.length) {
        item.append(el("div", { className: "meta", textContent: `assigned: ${names(s.assignedIds)}` }));
      }
      if (running && !s.current && (s.allowed || client.isHost)) {
        item.append(el("button", { textContent: client.isHost ? "Visit" : "Join", onclick: () => client.command("breakout_join", { sessionId: s.id }).catch(report) }));
      }
      return item;
    }),
  );
  if (client.isHost) renderPeople();
}

// ------------------------------------------------------------------ for tests and the console

window.sfuApp = {
  client: null,
  publish: { state: "none" },
  setTileSize,
  tiles: () => [...tiles.values()].map((t) => ({
    key: t.root.dataset.key,
    participantId: t.participantId,
    streamId: t.streamId,
    hasMedia: !!t.video.srcObject,
    videoWidth: t.video.videoWidth,
    videoHeight: t.video.videoHeight,
  })),
};
