// Real-browser tests of the SFU: headless Debian chromium (playwright-core) opens the demo page
// served by the `sfu` binary and joins one room with up to three pages (DECISIONS.md §17).
//
//   node tests/browser/run.js --server target/debug/sfu [--out target/browser] [--strict] [--only NAME] [--web sfu/web]
//
// Run it through scripts/browser-test, which installs what is missing, builds the server and
// runs this inside a network namespace that has only `lo` (testing/REAL-PEERS.md).
//
// Tests that need a server feature which is not there yet (the media path: `publish_tracks` /
// `publisher_offer` answer an error; breakout sessions: `breakout_enable` answers
// `internal_error`) are reported PENDING with the server's answer, not failed. `--strict` (or
// BROWSER_TEST_STRICT=1) turns PENDING into failure once those features have landed.

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { registerReloadInBreakout, registerViewerAndMeetingEnded } from "./reload-viewer.js";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SERVER = option("server", "target/debug/sfu");
const OUT = option("out", "target/browser");
const CHROMIUM = option("chromium", process.env.CHROMIUM ?? "/usr/bin/chromium");
const STRICT = args.includes("--strict") || process.env.BROWSER_TEST_STRICT === "1";
const ONLY = option("only", null);
// --web DIR: the pages load sfu/web's files from DIR instead of the copies built into the
// binary, so a change to the page is tried without rebuilding the server.
const WEB_DIR = option("web", null);

// testing/REAL-PEERS.md, plus autoplay (remote <video> elements play without a gesture).
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
  "--autoplay-policy=no-user-gesture-required",
  // Chromium caps simulcast by input size (640x360 -> 2 layers: q and h; f never sends) unless
  // this legacy limit is off. The fake camera is 640x360 (DECISIONS.md §17); a 720p camera
  // sends all three without the flag.
  "--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/",
];

// The fake microphone's default is a 20 ms beep twice a second, which no speaker detector
// should call speech. Feed it a voice-like sound instead: a 220 Hz tone whose loudness rises
// and falls four times a second (syllables), looped by chromium.
function writeVoiceWav(file) {
  const rate = 48_000;
  const seconds = 4;
  const samples = rate * seconds;
  const data = Buffer.alloc(44 + samples * 2);
  data.write("RIFF", 0);
  data.writeUInt32LE(36 + samples * 2, 4);
  data.write("WAVEfmt ", 8);
  data.writeUInt32LE(16, 16); // fmt chunk size
  data.writeUInt16LE(1, 20); // PCM
  data.writeUInt16LE(1, 22); // mono
  data.writeUInt32LE(rate, 24);
  data.writeUInt32LE(rate * 2, 28);
  data.writeUInt16LE(2, 32);
  data.writeUInt16LE(16, 34);
  data.write("data", 36);
  data.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    const envelope = 0.35 + 0.25 * Math.sin(2 * Math.PI * 4 * t);
    const value = envelope * Math.sin(2 * Math.PI * 220 * t);
    data.writeInt16LE(Math.round(value * 32_767), 44 + i * 2);
  }
  writeFileSync(file, data);
}

class Pending extends Error {}

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(what, fn, { timeoutMs = 15_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Starts the server on ephemeral ports and resolves with its base URL once it is bound. */
function startServer() {
  // `wc -c` as the live transcription engine: each utterance's caption is its Ogg/Opus size.
  const child = spawn(SERVER, ["--http-port", "0", "--rtc-port", "0", "--transcription-command", "wc -c"], {
    // RUST_LOG only when the caller sets one: the server's own default is what operators run
    // (and the log is checked for error lines at the end).
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not bind:\n${log.join("")}`)), 30_000);
    const onData = (chunk) => {
      const text = chunk.toString().replace(/\x1b\[[0-9;]*m/g, "");
      log.push(text);
      if (process.env.SERVER_LOG) process.stderr.write(`[sfu] ${text}`);
      const bound = /HTTP listener bound.*?addr=(\S+)/.exec(text);
      if (bound) {
        clearTimeout(timer);
        resolve({ child, base: `http://${bound[1]}`, log });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${log.join("")}`)));
  });
}

/** A browser context with a 1280x720 window (and the page's files from --web when given). */
async function newContext(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  if (WEB_DIR) {
    const types = { html: "text/html", js: "text/javascript", css: "text/css" };
    await context.route(/\/(index\.html|app\.js|client\.js|style\.css)?(\?.*)?$/, (route) => {
      const file = new URL(route.request().url()).pathname.slice(1) || "index.html";
      route.fulfill({ body: readFileSync(path.join(WEB_DIR, file)), contentType: types[file.split(".").pop()] });
    });
  }
  return context;
}

/** Opens the demo page in its own browser context and joins `room`. */
async function openPage(browser, base, { room, name, role = "visitor", capture = "640x360", tile = null, codec = "vp8" }) {
  const context = await newContext(browser);
  const page = await context.newPage();
  const sent = []; // signalling frames the page sent, parsed
  const received = []; // and the frames it received
  const keep = (list) => ({ payload }) => {
    try {
      list.push(JSON.parse(payload));
    } catch {
      /* not JSON */
    }
  };
  page.on("websocket", (ws) => {
    ws.on("framesent", keep(sent));
    ws.on("framereceived", keep(received));
  });
  page.on("pageerror", (error) => console.log(`  [${name}] page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" || process.env.PAGE_LOG) console.log(`  [${name}] ${message.type()}: ${message.text()}`);
  });
  const query = new URLSearchParams({ room, name, role, capture, autojoin: "1", codec });
  if (tile) query.set("tile", String(tile)); // a fixed tile width; without it the grid fits the window
  await page.goto(`${base}/?${query}`);
  await eventually(`${name} connected`, () => page.evaluate(() => window.sfuApp.client?.status === "connected"));
  return { page, context, name, sent, received };
}

const selfId = (p) => p.page.evaluate(() => window.sfuApp.client.selfId);
const command = (p, name, commandArgs = {}) =>
  p.page.evaluate(
    ([n, a]) => window.sfuApp.client.command(n, a).then(
      (result) => ({ ok: true, result }),
      (error) => ({ ok: false, code: error.code, message: error.message }),
    ),
    [name, commandArgs],
  );

/** Per remote stream (`participantId/streamId`) of a page: its inbound-rtp counters. */
const remoteMedia = (p) =>
  p.page.evaluate(async () => {
    const c = window.sfuApp.client;
    const { subscriber } = await c.stats();
    const out = {};
    for (const [k, stream] of c.remoteStreams) {
      const entry = (out[k] = {});
      for (const track of stream.getTracks()) {
        const s = subscriber.find((r) => r.type === "inbound-rtp" && r.trackIdentifier === track.id);
        if (!s) continue;
        entry[track.kind] = {
          framesDecoded: s.framesDecoded ?? 0,
          frameWidth: s.frameWidth ?? 0,
          frameHeight: s.frameHeight ?? 0,
          packetsReceived: s.packetsReceived ?? 0,
          totalSamplesReceived: s.totalSamplesReceived ?? 0,
          bytesReceived: s.bytesReceived ?? 0,
          mimeType: subscriber.find((r) => r.id === s.codecId)?.mimeType ?? null,
        };
      }
    }
    return out;
  });

/** The publisher's outbound video encodings by rid. */
const outboundLayers = (p) =>
  p.page.evaluate(async () => {
    const { publisher } = await window.sfuApp.client.stats();
    return publisher
      .filter((r) => r.type === "outbound-rtp" && r.kind === "video")
      .map((r) => ({ rid: r.rid ?? null, bytesSent: r.bytesSent ?? 0, framesEncoded: r.framesEncoded ?? 0, frameWidth: r.frameWidth ?? 0, frameHeight: r.frameHeight ?? 0 }));
  });

/** Waits until `from` decodes growing video and audio from participant `pid`'s camera. */
async function receives(from, pid, what = `${from.name} decodes ${pid}`) {
  const k = `${pid}/camera`;
  const before = (await remoteMedia(from))[k];
  let now;
  try {
    await eventually(what, async () => {
      now = (await remoteMedia(from))[k];
      return (
        now?.video?.framesDecoded > (before?.video?.framesDecoded ?? 0) + 5 &&
        now?.audio?.totalSamplesReceived > (before?.audio?.totalSamplesReceived ?? 0)
      );
    }, { timeoutMs: 20_000, intervalMs: 500 });
  } catch (error) {
    throw new Error(`${error.message}; ${k} before ${JSON.stringify(before)} now ${JSON.stringify(now)}`);
  }
}

/** True once `from` has no growing video from `pid` (stream removed or frozen for 2 s). */
async function stoppedReceiving(from, pid) {
  const k = `${pid}/camera`;
  await eventually(`${from.name} stops receiving ${pid}`, async () => {
    const a = (await remoteMedia(from))[k];
    if (!a) return true;
    await sleep(2_000);
    const b = (await remoteMedia(from))[k];
    return !b || (b.video?.framesDecoded ?? 0) === (a.video?.framesDecoded ?? 0);
  });
}

/** Saves a screenshot of `p`'s page as OUT/<name>.png: each flow leaves one to look at. */
async function shot(p, name) {
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  await p.page.screenshot({ path: file });
  console.log(`    saved ${file}`);
}

const visibleText = (p, selector) =>
  p.page.evaluate((sel) => {
    const node = document.querySelector(sel);
    return node && !node.closest("[hidden]") ? node.textContent : null;
  }, selector);

// ------------------------------------------------------------------ the tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const state = {};

/** Whether the server's media path works (the host's publish succeeded). */
async function mediaWorks() {
  if (state.media === undefined) {
    const publish = await eventually("host publish attempt settles", () =>
      state.host.page.evaluate(() => (["ok", "failed"].includes(window.sfuApp.publish.state) ? window.sfuApp.publish : null)),
    );
    state.media = publish.state === "ok" ? true : publish.error;
  }
  return state.media === true;
}

async function requireMedia() {
  if (!(await mediaWorks())) throw new Pending(`the server's media path answers: ${state.media}`);
}

async function requireBreakouts() {
  if (state.breakouts === undefined) {
    const enabled = await command(state.host, "breakout_enable");
    state.breakouts = enabled.ok ? true : enabled.message;
  }
  if (state.breakouts !== true) throw new Pending(`breakouts: ${state.breakouts}`);
}

test("three pages join one room and see each other", async () => {
  const room = `browser-${Date.now().toString(36)}`;
  state.room = room;
  state.host = await openPage(state.browser, state.base, { room, name: "Hana", role: "host" });
  state.ada = await openPage(state.browser, state.base, { room, name: "Ada" });
  state.bob = await openPage(state.browser, state.base, { room, name: "Bob", tile: 640 });
  for (const p of [state.host, state.ada, state.bob]) {
    p.id = await selfId(p);
    await eventually(`${p.name} sees three participants`, () =>
      p.page.evaluate(() => document.querySelectorAll("#people li").length === 3),
    );
  }
  const status = await state.ada.page.getAttribute("#status", "data-status");
  const text = await state.ada.page.textContent("#status");
  assert(status === "connected" && text === "Connected", `status badge says ${status} / ${text}`);
});

test("chat reaches everybody in the room", async () => {
  await state.ada.page.fill("#chat-form input", "hello from Ada");
  await state.ada.page.click("#chat-form button");
  for (const p of [state.host, state.bob, state.ada]) {
    await eventually(`${p.name} shows the message`, () =>
      p.page.evaluate(() => [...document.querySelectorAll("#chat li")].some((li) => li.textContent === "Ada: hello from Ada")),
    );
  }
});

test("a raised hand shows on the other pages", async () => {
  await state.bob.page.click("#hand-button");
  await eventually("host sees Bob's hand", () =>
    state.host.page.evaluate((id) => document.querySelector(`#people li[data-participant-id="${id}"]`)?.textContent.includes("\u270b"), state.bob.id),
  );
  await state.bob.page.click("#hand-button");
  await eventually("Bob's hand lowered", () =>
    state.host.page.evaluate((id) => !document.querySelector(`#people li[data-participant-id="${id}"]`)?.textContent.includes("\u270b"), state.bob.id),
  );
});

test("live captions show under the stage", async () => {
  await requireMedia();
  // The engine (`wc -c`) answers each utterance with its size in bytes; the fake microphone
  // never pauses, so the first utterance ends at its 10 s maximum.
  await state.host.page.evaluate(() => window.sfuApp.client.command("start_live_transcription"));
  for (const p of [state.ada, state.bob]) {
    await eventually(
      `${p.name} shows a caption`,
      () => p.page.evaluate(() => /^\S.*: \d+$/.test(document.querySelector("#captions:not([hidden])")?.textContent ?? "")),
      { timeoutMs: 30_000 },
    );
  }
  await shot(state.ada, "captions");
  await state.host.page.evaluate(() => window.sfuApp.client.command("stop_live_transcription"));
});

test("the publisher offers VP8 simulcast q/h/f and announces its tracks", async () => {
  const host = state.host;
  const sdp = await eventually("publisher offer set", () =>
    host.page.evaluate(() => window.sfuApp.client.publisherPc?.localDescription?.sdp),
  );
  const video = sdp.split(/\r\nm=/).find((m) => m.startsWith("video"));
  assert(video, "offer has a video m-section");
  assert(/a=simulcast:send q;h;f/.test(video), "a=simulcast:send q;h;f");
  for (const rid of ["q", "h", "f"]) assert(new RegExp(`a=rid:${rid} send`).test(video), `a=rid:${rid} send`);
  const firstPt = video.split("\r\n")[0].split(" ")[3];
  assert(new RegExp(`a=rtpmap:${firstPt} VP8/90000`).test(video), `VP8 preferred (first payload type ${firstPt})`);
  const publish = await eventually("publish_tracks sent", () => host.sent.find((f) => f.name === "publish_tracks"));
  const tracks = publish.args.tracks;
  const camera = tracks.find((t) => t.source === "camera");
  assert(tracks.some((t) => t.source === "microphone"), `microphone announced: ${JSON.stringify(tracks)}`);
  assert(camera && camera.mid, "camera announced with its mid");
  const layers = camera.layers.map((l) => `${l.rid}:${l.width}x${l.height}`).join(" ");
  assert(layers === "q:160x90 h:320x180 f:640x360", `camera layers ${layers}`);
});

test("every page decodes the others' video and audio", async () => {
  await requireMedia();
  const pages = [state.host, state.ada, state.bob];
  for (const from of pages) {
    for (const other of pages) if (other !== from) await receives(from, other.id);
  }
});

test("the publisher sends three simulcast layers q/h/f", async () => {
  await requireMedia();
  // Each layer must be seen sending (bytesSent growing). Polled rather than sampled once: on a
  // loaded 2-core machine chromium's CPU adaptation may pause the top layer for a while.
  const first = await outboundLayers(state.host);
  const grew = new Set();
  await eventually("all three layers sending", async () => {
    for (const layer of await outboundLayers(state.host)) {
      const before = first.find((l) => l.rid === layer.rid)?.bytesSent ?? 0;
      if (layer.bytesSent > before) grew.add(layer.rid);
    }
    return ["q", "h", "f"].every((rid) => grew.has(rid));
  }, { timeoutMs: 30_000, intervalMs: 500 });
});

test("shrinking a tile lowers the received resolution", async () => {
  await requireMedia();
  // Bob's tiles are 640 px wide: the full layer (640x360 from a 640x360 camera).
  const k = `${state.host.id}/camera`;
  const big = await eventually("Bob receives the full layer", async () => {
    const m = (await remoteMedia(state.bob))[k];
    return m?.video?.frameWidth >= 640 ? m.video.frameWidth : null;
  }, { timeoutMs: 20_000 });
  await state.bob.page.evaluate(() => window.sfuApp.setTileSize(160));
  const small = await eventually("Bob receives a lower layer", async () => {
    const m = (await remoteMedia(state.bob))[k];
    return m?.video?.frameWidth && m.video.frameWidth < big ? m.video.frameWidth : null;
  }, { timeoutMs: 20_000 });
  console.log(`    received width ${big} -> ${small}`);
  await state.bob.page.evaluate(() => window.sfuApp.setTileSize(320));
});

test("active speakers light up their tiles", async () => {
  await requireMedia();
  // The fake microphone plays a voice-like sound: the SFU reports its level
  // (active_speakers_changed).
  await eventually("a speaking tile on the host's page", () =>
    state.host.page.evaluate(() => document.querySelectorAll(".tile.speaking").length > 0),
  );
});

test("a screenshot of the running meeting", async () => {
  mkdirSync(OUT, { recursive: true });
  // Give remote video a moment to render when media flows.
  await sleep(state.media === true ? 1_500 : 200);
  const file = path.join(OUT, "meeting.png");
  await state.host.page.screenshot({ path: file });
  console.log(`    saved ${file}`);
});

test("the grid fills the stage; the speaker view and a pin put one person on the main stage", async () => {
  const host = state.host;
  // Three people in a 1280x720 window: the tiles share the stage's width, each the same size,
  // larger than the fixed 320 px of the old page, and all inside the stage.
  const fit = await eventually("tiles fitted to the stage", () =>
    host.page.evaluate(() => {
      const grid = document.querySelector("#grid").getBoundingClientRect();
      const tiles = window.sfuApp.tiles();
      if (tiles.length !== 3) return null;
      const inside = [...document.querySelectorAll("#grid .tile")].every((t) => {
        const r = t.getBoundingClientRect();
        return r.left >= grid.left - 1 && r.right <= grid.right + 1 && r.top >= grid.top - 1 && r.bottom <= grid.bottom + 1;
      });
      const widths = tiles.map((t) => Math.round(t.width));
      return inside && widths.every((w) => w === widths[0] && w > 320) ? { widths, grid: Math.round(grid.width) } : null;
    }),
  );
  console.log(`    tile widths ${fit.widths.join(", ")} in a ${fit.grid} px stage`);
  if (await mediaWorks()) {
    // Connection quality per remote tile, from the subscriber's statistics.
    await eventually("quality badges on the remote tiles", () =>
      host.page.evaluate(() =>
        [...document.querySelectorAll("#grid .tile")].filter((t) => !t.classList.contains("self")).every((t) => {
          const badge = t.querySelector(".badge.quality");
          return badge && !badge.hidden && /connection/.test(badge.textContent);
        }),
      ),
    );
  }
  await sleep(state.media === true ? 1_000 : 100);
  await shot(host, "grid");
  await host.page.click("#layout-button");
  const focus = await eventually("one tile on the main stage", () =>
    host.page.evaluate(() => {
      const tiles = window.sfuApp.tiles();
      const focus = tiles.filter((t) => t.focus);
      const others = tiles.filter((t) => !t.focus);
      return focus.length === 1 && others.every((t) => t.width < focus[0].width / 2) ? focus[0] : null;
    }),
  );
  assert(focus.participantId !== state.host.id, "the speaker view shows someone else, not yourself");
  assert((await host.page.textContent("#layout-button")) === "Grid view", "the layout button offers the grid back");
  await sleep(state.media === true ? 800 : 100);
  await shot(host, "speaker-view");
  // Pin Bob: his tile takes the stage whoever speaks.
  await host.page.hover(`#grid .tile[data-key="${state.bob.id}/camera"]`);
  await host.page.click(`#grid .tile[data-key="${state.bob.id}/camera"] .pin`);
  await eventually("Bob pinned on the main stage", () =>
    host.page.evaluate((k) => window.sfuApp.tiles().find((t) => t.focus)?.key === k, `${state.bob.id}/camera`),
  );
  assert((await host.page.textContent(`#grid .tile[data-key="${state.bob.id}/camera"] .pin`)) === "Unpin", "a pinned tile offers Unpin");
  await host.page.click(`#grid .tile[data-key="${state.bob.id}/camera"] .pin`);
  await host.page.click("#layout-button");
  await eventually("back to the grid", () => host.page.evaluate(() => window.sfuApp.tiles().every((t) => !t.focus)));
});

test("the host mutes a participant", async () => {
  await state.host.page.click(`#people li[data-participant-id="${state.ada.id}"] button:text('Mute')`);
  await eventually("Ada's microphone is off", () =>
    state.ada.page.evaluate(() => !window.sfuApp.client.audioEnabled && document.querySelector("#mic-button").dataset.on === "false"),
  );
  await eventually("the host's list shows Ada muted", () =>
    state.host.page.evaluate((id) => document.querySelector(`#people li[data-participant-id="${id}"]`)?.textContent.includes("muted"), state.ada.id),
  );
  if (await mediaWorks()) {
    // A mute removes only the audio kind (subscriptions_changed): Ada's video keeps coming.
    const k = `${state.ada.id}/camera`;
    const before = (await remoteMedia(state.bob))[k]?.video?.framesDecoded ?? 0;
    await eventually("Bob still decodes the muted Ada's video", async () => (await remoteMedia(state.bob))[k]?.video?.framesDecoded > before + 5);
  }
  await state.ada.page.click("#mic-button");
  await eventually("Ada unmuted herself", () =>
    state.host.page.evaluate((id) => !document.querySelector(`#people li[data-participant-id="${id}"]`)?.textContent.includes("muted"), state.ada.id),
  );
});

test("a screenshare shows as a tile on the other pages", async () => {
  const started = await state.host.page.evaluate(async () => {
    try {
      // A canvas stands in for the screen: headless chromium has no screen to capture.
      const canvas = Object.assign(document.createElement("canvas"), { width: 640, height: 360 });
      const g = canvas.getContext("2d");
      setInterval(() => {
        g.fillStyle = `hsl(${(Date.now() / 20) % 360} 60% 40%)`;
        g.fillRect(0, 0, 640, 360);
      }, 50);
      await window.sfuApp.client.startScreenshare({ stream: canvas.captureStream(10) });
      return "ok";
    } catch (error) {
      return error.command === "start_screenshare" ? `start_screenshare: ${error.code}` : "ok";
    }
  });
  assert(started === "ok", started);
  await eventually("Ada shows the host's screen tile", () =>
    state.ada.page.evaluate((id) => window.sfuApp.tiles().some((t) => t.participantId === id && t.streamId.startsWith("ss-")), state.host.id),
  );
  if (await mediaWorks()) {
    const ss = await state.ada.page.evaluate((id) => window.sfuApp.tiles().find((t) => t.participantId === id && t.streamId.startsWith("ss-")).key, state.host.id);
    await eventually("Ada decodes the screen", async () => (await remoteMedia(state.ada))[ss]?.video?.framesDecoded > 5);
  }
  // A screenshare takes the main stage, the cameras move to the strip below it.
  await eventually("the screen is on Ada's main stage", () =>
    state.ada.page.evaluate(() => window.sfuApp.tiles().find((t) => t.focus)?.streamId.startsWith("ss-")),
  );
  assert(/is presenting/.test(await state.ada.page.textContent("#grid .tile.focus .name")), "the stage says who presents");
  await sleep(state.media === true ? 800 : 100);
  await shot(state.ada, "screenshare");
  await state.host.page.evaluate(() => window.sfuApp.client.stopScreenshare());
  await eventually("the screen tile goes away", () =>
    state.ada.page.evaluate(() => !window.sfuApp.tiles().some((t) => t.streamId.startsWith("ss-"))),
  );
});

test("a lost socket resumes as the same participant", async () => {
  const ada = state.ada;
  await ada.page.evaluate(() => {
    window.statuses = [];
    window.sfuApp.client.on("status", ({ status }) => window.statuses.push(status));
    window.sfuApp.client.ws.close(); // not 1000: the client treats it as a lost transport
  });
  await eventually("Ada connected again", () => ada.page.evaluate(() => window.statuses.at(-1) === "connected"));
  const statuses = await ada.page.evaluate(() => window.statuses);
  assert(JSON.stringify(statuses) === JSON.stringify(["disconnected", "reconnecting", "connected"]), `statuses ${statuses}`);
  assert((await selfId(ada)) === ada.id, "same participant id after resume");
  const resumed = ada.sent.filter((f) => f.name === "resume");
  assert(resumed.length === 1 && typeof resumed[0].args.lastSeq === "number", "one resume with lastSeq");
  await eventually("the host sees Ada connected", () =>
    state.host.page.evaluate((id) => window.sfuApp.client.participants.get(id)?.connection === "connected", ada.id),
  );
  await ada.page.fill("#chat-form input", "back again");
  await ada.page.click("#chat-form button");
  await eventually("Bob gets Ada's chat after the resume", () =>
    state.bob.page.evaluate(() => [...document.querySelectorAll("#chat li")].some((li) => li.textContent === "Ada: back again")),
  );
  if (await mediaWorks()) await receives(state.bob, ada.id, "Bob decodes Ada after her resume");
});

test("a reloaded page takes its own place back: the same id, no ghost, no second copy", async () => {
  const ada = state.ada;
  const before = ada.id;
  // The host watches the roster the whole time: it must never hold two Adas.
  await state.host.page.evaluate(() => {
    window.maxPeople = 0;
    window.sfuApp.client.on("roster", (people) => (window.maxPeople = Math.max(window.maxPeople, people.size)));
  });
  const hostFramesBefore = state.host.received.length;
  const reloadedAt = Date.now();
  await ada.page.reload();
  await eventually("Ada connected after the reload", () => ada.page.evaluate(() => window.sfuApp.client?.status === "connected"));
  // PROTOCOL.md §4.3: `resume` with `newTransports` keeps the participant.
  const after = await selfId(ada);
  const resumeAnswer = ada.received.filter((f) => f.type === "response").slice(-3);
  assert(after === before, `the same participant id after the reload: ${before} then ${after}; sent ${JSON.stringify(ada.sent.slice(-4).map((f) => [f.name, f.args?.newTransports]))}, answers ${JSON.stringify(resumeAnswer).slice(0, 600)}`);
  await eventually("the host's roster holds one Ada, connected", () =>
    state.host.page.evaluate((id) => {
      const people = [...window.sfuApp.client.participants.values()];
      return people.filter((p) => p.displayName === "Ada").length === 1 && people.find((p) => p.id === id)?.connection === "connected";
    }, before),
    { timeoutMs: 10_000 },
  );
  const tookMs = Date.now() - reloadedAt;
  const maxPeople = await state.host.page.evaluate(() => window.maxPeople);
  assert(maxPeople <= 3, `the host saw ${maxPeople} participants during the reload`);
  const churn = state.host.received.slice(hostFramesBefore).filter((f) => ["client_left", "new_client"].includes(f.name));
  assert(churn.length === 0, `the host saw ${churn.map((f) => f.name).join(", ")} during the reload`);
  const resume = ada.sent.filter((f) => f.name === "resume").at(-1);
  assert(resume?.args?.newTransports === true, "the reloaded page resumed its stored session with new transports");
  console.log(`    back as the same participant in ${tookMs} ms (the grace is 30 s)`);
  await eventually("everybody sees three participants", async () => {
    for (const p of [state.host, state.ada, state.bob]) {
      if (!(await p.page.evaluate(() => document.querySelectorAll("#people li").length === 3))) return false;
    }
    return true;
  });
  if (await mediaWorks()) {
    await receives(state.bob, ada.id, "Bob decodes Ada after her reload");
    await receives(ada, state.bob.id, "Ada decodes Bob after her reload");
  }
});

test("breakout groups separate media and ending brings everybody back", async () => {
  await requireBreakouts();
  const created = await command(state.host, "breakout_create_sessions", { count: 2 });
  assert(created.ok, `create sessions: ${created.code}`);
  const [s1, s2] = created.result.sessions.map((s) => s.id);
  const assigned = await command(state.host, "breakout_assign", {
    assignments: [
      { sessionId: s1, participantIds: [state.ada.id] },
      { sessionId: s2, participantIds: [state.bob.id] },
    ],
  });
  assert(assigned.ok, `assign: ${assigned.code}`);
  // Started through the panel's button, with an immediate move.
  const started = await command(state.host, "breakout_start", { config: { moveGracePeriod: 0, autoMoveAssigned: true } });
  assert(started.ok, `start: ${started.code} ${started.message}`);
  await eventually("Ada in session 1", () => state.ada.page.evaluate((s) => window.sfuApp.client.location === s, s1));
  await eventually("Bob in session 2", () => state.bob.page.evaluate((s) => window.sfuApp.client.location === s, s2));
  // The grid swaps without a reload: Ada sees only herself.
  await eventually("Ada's grid holds only Ada", () =>
    state.ada.page.evaluate((id) => {
      const keys = window.sfuApp.tiles().map((t) => t.participantId);
      return keys.length === 1 && keys[0] === id;
    }, state.ada.id),
  );
  if (await mediaWorks()) {
    await stoppedReceiving(state.ada, state.bob.id);
    await stoppedReceiving(state.bob, state.ada.id);
    await stoppedReceiving(state.ada, state.host.id);
  }
  const ended = await command(state.host, "breakout_end", { immediate: true });
  assert(ended.ok, `end: ${ended.code}`);
  await eventually("Ada back in the main room", () => state.ada.page.evaluate(() => window.sfuApp.client.location === null));
  await eventually("Bob back in the main room", () => state.bob.page.evaluate(() => window.sfuApp.client.location === null));
  await eventually("Ada's grid holds three tiles again", () => state.ada.page.evaluate(() => window.sfuApp.tiles().length === 3));
  // Spec §11.9: returning to the main room mutes non-hosts (muteOnReturnToMain "audio");
  // each unmutes herself to be heard again.
  for (const p of [state.ada, state.bob]) {
    await eventually(`${p.name} muted on return`, () => p.page.evaluate(() => !window.sfuApp.client.audioEnabled));
    await p.page.click("#mic-button");
    await eventually(`${p.name} unmuted`, () => p.page.evaluate(() => window.sfuApp.client.audioEnabled));
  }
  if (await mediaWorks()) {
    await receives(state.ada, state.bob.id, "Ada decodes Bob again");
    await receives(state.bob, state.ada.id, "Bob decodes Ada again");
  } else {
    await requireMedia();
  }
});

// Issue 19's reload and viewer tests live in reload-viewer.js; these are run.js's helpers.
const helpers = () => ({ test, state, openPage, command, selfId, eventually, assert, receives, stoppedReceiving, shot, visibleText, mediaWorks, requireBreakouts });
registerReloadInBreakout(helpers());

test("breakouts from the panel: settings, assignment, countdowns, broadcast, help, closing", async () => {
  await requireBreakouts();
  const host = state.host;
  const ada = state.ada;
  const cleared = await command(host, "breakout_clear_sessions");
  assert(cleared.ok, `clear sessions: ${cleared.code}`);
  await host.page.fill("#bo-count", "2");
  await host.page.click("#bo-create");
  await eventually("two rooms listed", () => host.page.evaluate(() => document.querySelectorAll("#sessions li").length === 2));
  // Settings: a short move grace and closing countdown, so the countdowns are seen here.
  await host.page.click("#bo-settings summary");
  await host.page.fill("#bo-countdown", "6");
  await host.page.fill("#bo-grace", "30");
  await host.page.fill("#bo-autoend", "10");
  await host.page.selectOption("#bo-mute", "audio");
  await host.page.click("#bo-save");
  await eventually("settings saved", () => host.page.evaluate(() => {
    const c = window.sfuApp.client.breakout.config;
    return c.countdownTimer === 6 && c.moveGracePeriod === 30 && c.automaticallyEndBreakoutsAfter === 600 && c.muteOnReturnToMain === "audio";
  }));
  // Assign Ada to the first room with her dropdown: it then shows that room, not "Not assigned".
  const [first, second] = await host.page.evaluate(() => window.sfuApp.client.breakout.sessions.map((s) => s.id));
  const adaSelect = `#people li[data-participant-id="${ada.id}"] select.assign`;
  await host.page.selectOption(adaSelect, first);
  const bobSelect = `#people li[data-participant-id="${state.bob.id}"] select.assign`;
  await host.page.selectOption(bobSelect, second);
  await eventually("the dropdowns show the assignments", () =>
    host.page.evaluate(([a, b, s1, s2]) => document.querySelector(a)?.value === s1 && document.querySelector(b)?.value === s2, [adaSelect, bobSelect, first, second]),
  );
  await host.page.click("#bo-settings summary"); // closed again, so the panel shows the rooms
  await host.page.evaluate(() => document.querySelector("#people-panel").scrollIntoView());
  await shot(host, "breakout-host-panel");
  await host.page.click("#bo-start");
  // Ada has 30 s to accept the move: a banner counts down and offers to go now.
  await eventually("Ada sees the move countdown", async () => /moved to the breakout room .* in \d+ s/.test((await visibleText(ada, "#banner .text")) ?? ""));
  await eventually("the header counts down to the automatic end", async () => /Rooms end in \d+:\d\d/.test((await visibleText(ada, "#breakout-timer")) ?? ""));
  await shot(ada, "breakout-move-countdown");
  await ada.page.click("#banner button:text('Join now')");
  await eventually("Ada in the first room", () => ada.page.evaluate((s) => window.sfuApp.client.location === s, first));
  await state.bob.page.evaluate((s) => window.sfuApp.client.command("breakout_join", { sessionId: s }), second);
  await eventually("Bob in the second room", () => state.bob.page.evaluate((s) => window.sfuApp.client.location === s, second));
  assert(/Breakout room/.test(await ada.page.textContent("#location-label")), "the header says where Ada is");
  // A broadcast reaches both rooms; the host is told how many it reached.
  await host.page.fill("#bo-message", "Five minutes left");
  await host.page.click("#bo-broadcast");
  await eventually("the host sees how many got it", async () => /^Sent to \d+ (people|person)\.$/.test((await visibleText(host, "#bo-broadcast-note")) ?? ""));
  console.log(`    ${await host.page.textContent("#bo-broadcast-note")}`);
  await eventually("Ada sees the broadcast", async () => /Five minutes left/.test((await visibleText(ada, "#banner .text")) ?? ""));
  // Ada asks for help: the host gets an alert with a way to go there.
  await ada.page.click("#bo-help");
  await eventually("the host is alerted", () =>
    host.page.evaluate(() => [...document.querySelectorAll("#toasts .toast.help")].some((t) => /Ada asks for help/.test(t.textContent))),
  );
  await shot(host, "breakout-help-alert");
  await shot(ada, "breakout-in-room");
  // Closing counts down (6 s) instead of ending at once; then everybody is back, muted.
  await host.page.click("#bo-end");
  await eventually("Ada sees the closing countdown", async () => /return to the main room in \d+ s/.test((await visibleText(ada, "#banner .text")) ?? ""));
  assert(await ada.page.evaluate((s) => window.sfuApp.client.location === s, first), "Ada is still in her room during the countdown");
  await eventually("the header shows the closing countdown", async () => /Rooms close in/.test((await visibleText(ada, "#breakout-timer")) ?? ""));
  await shot(ada, "breakout-closing");
  await eventually("Ada back in the main room", () => ada.page.evaluate(() => window.sfuApp.client.location === null), { timeoutMs: 20_000 });
  await eventually("Ada is told she was muted on return", async () => /muted when you returned/.test((await visibleText(ada, "#banner .text")) ?? ""));
  await shot(ada, "breakout-muted-on-return");
  for (const p of [ada, state.bob]) {
    await eventually(`${p.name} muted on return`, () => p.page.evaluate(() => !window.sfuApp.client.audioEnabled));
    await p.page.click("#mic-button");
    await eventually(`${p.name} unmuted`, () => p.page.evaluate(() => window.sfuApp.client.audioEnabled));
  }
});

test("a locked room: Bob knocks and the host lets him in", async () => {
  await state.bob.page.click("#leave-button");
  await eventually("Bob left", () => state.bob.page.evaluate(() => window.sfuApp.client.status === "left"));
  await state.host.page.check("#lock-toggle");
  await eventually("host sees the room locked", () => state.host.page.evaluate(() => window.sfuApp.client.room.isLocked));
  const query = new URLSearchParams({ room: state.room, name: "Bob", role: "visitor", capture: "640x360", autojoin: "1" });
  await state.bob.page.goto(`${state.base}/?${query}`);
  await eventually("Bob sees the room is locked", () => state.bob.page.evaluate(() => window.sfuApp.client?.status === "room_locked"));
  await state.bob.page.click("#knock-button");
  await eventually("Bob knocking", () => state.bob.page.evaluate(() => window.sfuApp.client.status === "knocking"));
  await eventually("the host's waiting room lists Bob", () =>
    state.host.page.evaluate(() => [...document.querySelectorAll("#knockers li")].some((li) => li.textContent.includes("Bob"))),
  );
  await eventually("the host is alerted to the knock", () =>
    state.host.page.evaluate(() => [...document.querySelectorAll("#toasts .toast.knock")].some((t) => /Bob asks to join/.test(t.textContent))),
  );
  await shot(state.host, "knock-alert");
  await shot(state.bob, "knocking");
  await state.host.page.click("#knockers li button:text('Accept')");
  await eventually("Bob admitted", () => state.bob.page.evaluate(() => window.sfuApp.client.status === "connected"));
  state.bob.id = await selfId(state.bob);
  await eventually("everybody sees three participants", async () => {
    for (const p of [state.host, state.ada, state.bob]) {
      if (!(await p.page.evaluate(() => document.querySelectorAll("#people li").length === 3))) return false;
    }
    return true;
  });
});

test("the host kicks a participant", async () => {
  await state.host.page.click(`#people li[data-participant-id="${state.bob.id}"] button:text('Remove')`);
  await eventually("Bob kicked", () => state.bob.page.evaluate(() => window.sfuApp.client.status === "kicked"));
  assert((await visibleText(state.bob, "#ended-title")) === "You were removed from the meeting", "Bob is told he was removed");
  await eventually("the host's list drops Bob", () => state.host.page.evaluate(() => document.querySelectorAll("#people li").length === 2));
});

test("an H264 simulcast publisher reaches the others", async () => {
  await requireMedia();
  // Bob was kicked: a third page publishes H264 simulcast instead of VP8. The knock test
  // left the room locked.
  await state.host.page.uncheck("#lock-toggle");
  await eventually("host sees the room unlocked", () => state.host.page.evaluate(() => !window.sfuApp.client.room.isLocked));
  const carl = await openPage(state.browser, state.base, { room: state.room, name: "Carl", codec: "h264" });
  carl.id = await selfId(carl);
  const codecs = await carl.page.evaluate(() => RTCRtpSender.getCapabilities("video").codecs.map((c) => c.mimeType));
  console.log(`    Carl can send ${[...new Set(codecs)].join(", ")}`);
  try {
    const rids = await eventually("Carl sends H264 simulcast layers", async () => {
      const layers = await outboundLayers(carl);
      const sending = layers.filter((l) => l.bytesSent > 0).map((l) => l.rid).sort();
      return sending.length >= 2 ? sending : null;
    });
    console.log(`    Carl sends rids ${JSON.stringify(rids)}`);
    await receives(state.host, carl.id, "the host decodes Carl's H264 video");
    const media = (await remoteMedia(state.host))[`${carl.id}/camera`];
    assert(media?.video?.mimeType === "video/H264", `host receives ${media?.video?.mimeType}`);
  } finally {
    await carl.context.close();
  }
});

test("the pre-join screen: camera preview, device pickers, a pasted token, the room name", async () => {
  const context = await newContext(state.browser);
  const p = { page: await context.newPage(), name: "Dora", context };
  p.page.on("pageerror", (error) => console.log(`  [Dora] page error: ${error.message}`));
  try {
    await p.page.goto(`${state.base}/?capture=640x360`);
    await eventually("the preview shows the camera", () => p.page.evaluate(() => document.querySelector("#preview").videoWidth > 0));
    const pickers = await eventually("device pickers filled", () =>
      p.page.evaluate(() => {
        const count = (kind) => document.querySelectorAll(`#pre-devices select[data-kind="${kind}"] option`).length;
        return count("camera") >= 1 && count("microphone") >= 1 ? { cameras: count("camera"), microphones: count("microphone"), speakers: count("speaker") } : null;
      }),
    );
    console.log(`    pickers: ${JSON.stringify(pickers)}`);
    // Switching the camera before joining reopens the preview with that device.
    const cameras = await p.page.evaluate(() => [...document.querySelectorAll('#pre-devices select[data-kind="camera"] option')].map((o) => o.value));
    await p.page.selectOption('#pre-devices select[data-kind="camera"]', cameras.at(-1));
    await eventually("the preview uses the chosen camera", () =>
      p.page.evaluate((id) => document.querySelector("#preview").srcObject?.getVideoTracks()[0]?.getSettings().deviceId === id, cameras.at(-1)),
    );
    await shot(p, "prejoin");
    // A room name the server refuses is explained in words (no browser pattern popup).
    await p.page.fill("#join-form input[name=room]", "Team Standup");
    await p.page.fill("#join-form input[name=name]", "Dora");
    await p.page.click("#join-button");
    await eventually("the room-name rule is explained", async () => /lowercase letters/.test((await p.page.textContent("#join-error")) ?? ""));
    // A pasted token fills in the room, role and name it was made for.
    const room = `prejoin-${Date.now().toString(36)}`;
    const token = await p.page.evaluate(async (r) => (await (await fetch(`/dev/token?room=${r}&identity=dora-1&role=host&name=Dora%20M`)).json()).token, room);
    await p.page.fill("#join-form input[name=name]", "");
    await p.page.fill("#join-form textarea[name=token]", token);
    assert((await p.page.inputValue("#join-form input[name=room]")) === room, "the room comes from the token");
    assert((await p.page.inputValue("#join-form select[name=role]")) === "host", "the role comes from the token");
    assert((await p.page.inputValue("#join-form input[name=name]")) === "Dora M", "the name comes from the token");
    assert(/as host \(Dora M\)/.test(await p.page.textContent("#token-info")), "the page says what the token is for");
    await shot(p, "prejoin-token");
    // Camera off before joining: the meeting starts with the camera flag off.
    await p.page.click("#pre-cam");
    assert(await p.page.isVisible("#preview-off"), "the preview says the camera is off");
    await p.page.click("#join-button");
    await eventually("Dora joined", () => p.page.evaluate(() => window.sfuApp.client?.status === "connected"));
    await eventually("Dora's camera is off, her microphone on", () =>
      p.page.evaluate(() => !window.sfuApp.client.videoEnabled && window.sfuApp.client.audioEnabled && document.querySelector("#cam-button").textContent === "Start video"),
    );
    // The preview's camera is what the meeting publishes: the chosen device.
    await eventually("the published camera is the chosen one", () =>
      p.page.evaluate((id) => window.sfuApp.client.localStream?.getVideoTracks()[0]?.getSettings().deviceId === id, cameras.at(-1)),
    );
    await shot(p, "alone-in-meeting");
    // Switching the camera during the meeting replaces the sent track in place.
    await p.page.click("#devices-panel summary");
    await p.page.selectOption('#meeting-devices select[data-kind="camera"]', cameras[0]);
    await eventually("the sender carries the new camera", () =>
      p.page.evaluate((id) => {
        const sender = window.sfuApp.client.publisherPc?.getSenders().find((s) => s.track?.kind === "video");
        return sender?.track?.getSettings().deviceId === id && sender.track.readyState === "live";
      }, cameras[0]),
    );
    // Leaving shows a clear screen with Rejoin, which brings her back.
    await p.page.click("#leave-button");
    await eventually("the left screen", async () => (await visibleText(p, "#ended-title")) === "You left the meeting");
    await shot(p, "left");
    await p.page.click("#rejoin-button");
    await eventually("Dora rejoined", () => p.page.evaluate(() => window.sfuApp.client?.status === "connected" && !document.querySelector("#meeting-view").hidden));
    // A reload (no autojoin in this URL) brings her straight back, as one participant.
    await p.page.reload();
    await eventually("Dora back after the reload", () => p.page.evaluate(() => window.sfuApp.client?.status === "connected" && !document.querySelector("#meeting-view").hidden));
    await eventually("one Dora in her roster", () =>
      p.page.evaluate(() => [...window.sfuApp.client.participants.values()].filter((x) => x.displayName === "Dora M").length === 1),
    );
    // The host ends the meeting for everybody: the page says so and offers to start it again.
    await p.page.click("#end-button");
    await eventually("the ended screen", async () => (await visibleText(p, "#ended-title")) === "You ended the meeting for everyone");
    assert(await p.page.isVisible("#rejoin-button"), "an ended meeting offers Rejoin");
    await shot(p, "meeting-ended");
  } finally {
    await context.close();
  }
});

registerViewerAndMeetingEnded(helpers());

// ------------------------------------------------------------------ runner

async function main() {
  const server = await startServer();
  state.base = server.base;
  console.log(`server at ${server.base}`);
  mkdirSync(OUT, { recursive: true });
  const voice = path.resolve(OUT, "voice.wav");
  writeVoiceWav(voice);
  const flags = [...CHROMIUM_FLAGS, `--use-file-for-fake-audio-capture=${voice}`];
  // A page served by the test (--web) counts as public for Local Network Access and may not
  // reach 127.0.0.1; the server's own page may.
  if (WEB_DIR) flags.push("--disable-features=LocalNetworkAccessChecks");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: flags, headless: true });
  state.browser = browser;
  const results = [];
  for (const { name, fn } of tests) {
    if (ONLY && !ONLY.split(",").some((o) => name.includes(o)) && tests[0].name !== name) continue; // the first test sets up the meeting
    const start = Date.now();
    try {
      await fn();
      results.push({ name, outcome: "PASS" });
    } catch (error) {
      const outcome = error instanceof Pending ? "PENDING" : "FAIL";
      results.push({ name, outcome, reason: error.message });
    }
    const r = results.at(-1);
    console.log(`${r.outcome.padEnd(7)} ${name} (${((Date.now() - start) / 1000).toFixed(1)} s)${r.reason ? `\n        ${r.reason}` : ""}`);
    if (r.outcome === "FAIL" && state.host && name.startsWith("three pages")) break;
  }
  await browser.close().catch(() => {});
  // Every page has joined, moved, left or closed by now: none of that is an error, so the
  // server's log has no ERROR line (a browser's SCTP ABORT on close was logged as one).
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const errors = server.log.join("").split("\n").filter((line) => /\bERROR\b/.test(line));
  results.push({
    name: "the server logs no error while pages join, move, leave and close",
    outcome: errors.length === 0 ? "PASS" : "FAIL",
    reason: errors.length ? `${errors.length} error lines, first:\n        ${errors.slice(0, 3).join("\n        ")}` : undefined,
  });
  const last = results.at(-1);
  console.log(`${last.outcome.padEnd(7)} ${last.name}${last.reason ? `\n        ${last.reason}` : ""}`);
  server.child.kill("SIGTERM");
  const count = (o) => results.filter((r) => r.outcome === o).length;
  console.log(`\n${count("PASS")} passed, ${count("FAIL")} failed, ${count("PENDING")} pending${STRICT ? " (strict: pending fails)" : ""}`);
  const failed = count("FAIL") > 0 || (STRICT && count("PENDING") > 0);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
