// TURN in a real browser: headless chromium joins through coturn's relay (issue 14).
//
//   node tests/browser/turn.js --base http://127.0.0.1:7880 --phase direct|relay --out DIR
//
// scripts/browser-turn-test runs it twice inside a network namespace, as an unprivileged user
// whose UDP to the SFU's media port an nftables rule drops in the second phase: `direct` (no
// rule) must pick a host candidate, `relay` (rule on) must connect through a relay candidate
// of a real coturn, asserted from getStats (the selected pair's local candidate), and media
// must reach the second page either way. Two pages at a time (DECISIONS.md §17). Each phase
// writes its join times to DIR/turn-<phase>.json for benches/RESULTS.md.

import { writeFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { breakoutRound } from "./breakout-round.js";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const BASE = option("base", "http://127.0.0.1:7880");
const PHASE = option("phase", "direct");
const OUT = option("out", "target/browser");
const CHROMIUM = option("chromium", process.env.CHROMIUM ?? "/usr/bin/chromium");
const WANTED = PHASE === "relay" ? "relay" : "host";
const FLAGS = [
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
  ...(process.env.CHROMIUM_EXTRA_FLAGS ?? "").split(" ").filter(Boolean),
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(what, fn, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
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

/**
 * Opens the demo page and waits for its publisher transport to connect; resolves with the
 * page and the join time (navigation start to a connected publisher transport, in ms).
 */
async function join(browser, { room, name, role }) {
  const context = await browser.newContext({ viewport: { width: 960, height: 540 } });
  // Record what ICE gathers and every candidate error, to explain a failed phase.
  await context.addInitScript(() => {
    window.__iceLog = [];
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = function (config) {
      const pc = new Native(config);
      window.__iceLog.push(`config ${JSON.stringify({ ...config, iceServers: config?.iceServers?.map((s) => s.urls) })}`);
      pc.addEventListener("icecandidate", (e) => window.__iceLog.push(`candidate ${e.candidate?.candidate ?? "end"}`));
      pc.addEventListener("icecandidateerror", (e) => window.__iceLog.push(`error ${e.url} ${e.errorCode} ${e.errorText}`));
      return pc;
    };
    window.RTCPeerConnection.prototype = Native.prototype;
  });
  const page = await context.newPage();
  page.on("pageerror", (error) => console.log(`  [${name}] page error: ${error.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || process.env.PAGE_LOG) console.log(`  [${name}] ${m.type()}: ${m.text()}`);
  });
  const query = new URLSearchParams({ room, name, role, capture: "640x360", autojoin: "1" });
  await page.goto(`${BASE}/?${query}`);
  try {
    await page.waitForFunction(() => window.sfuApp.client?.publisherPc?.connectionState === "connected", null, {
      polling: 10,
      timeout: 30_000,
    });
  } catch (error) {
    const log = await page.evaluate(() => {
      const pc = window.sfuApp.client?.publisherPc;
      const pick = (sdp) => (sdp ?? "").split("\r\n").filter((l) => /^a=(setup|fingerprint|ice-lite|candidate|tls-id)|^m=/.test(l));
      return [...window.__iceLog, `state ice=${pc?.iceConnectionState} dtls=${pc?.sctp?.transport?.state ?? "-"} conn=${pc?.connectionState}`,
        ...pick(pc?.localDescription?.sdp).map((l) => `local ${l}`), ...pick(pc?.remoteDescription?.sdp).map((l) => `remote ${l}`)];
    });
    throw new Error(`${name}'s publisher transport did not connect: ${error.message}\n    ${log.join("\n    ")}`);
  }
  const joinMs = await page.evaluate(() => performance.now());
  const iceServers = await page.evaluate(() => window.sfuApp.client.joinedIceServers);
  return { page, context, name, joinMs, iceServers };
}

/** The local and remote candidate types of each transport's selected pair, from getStats. */
const selectedPairs = (p) =>
  p.page.evaluate(async () => {
    const out = {};
    for (const [which, pc] of Object.entries({ publisher: window.sfuApp.client.publisherPc, subscriber: window.sfuApp.client.subscriberPc })) {
      if (!pc) continue;
      const stats = [...(await pc.getStats()).values()];
      const byId = new Map(stats.map((s) => [s.id, s]));
      const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
      const pair = transport && byId.get(transport.selectedCandidatePairId);
      if (!pair) continue;
      const local = byId.get(pair.localCandidateId);
      const remote = byId.get(pair.remoteCandidateId);
      out[which] = { local: local?.candidateType, remote: remote?.candidateType, relayProtocol: local?.relayProtocol ?? null, state: pair.state };
    }
    return out;
  });

/** Video frames the page decoded from remote streams. */
const framesDecoded = (p) =>
  p.page.evaluate(async () => {
    const { subscriber } = await window.sfuApp.client.stats();
    return subscriber.filter((s) => s.type === "inbound-rtp" && s.kind === "video").reduce((n, s) => n + (s.framesDecoded ?? 0), 0);
  });

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
let failed = false;
try {
  const room = `turn-${PHASE}`;
  const host = await join(browser, { room, name: "Hana", role: "host" });
  const guest = await join(browser, { room, name: "Gus", role: "visitor" });
  assert(host.iceServers.length === 1 && host.iceServers[0].urls[0].startsWith("turn:"), `iceServers from join_room: ${JSON.stringify(host.iceServers)}`);
  assert(/^\d+:/.test(host.iceServers[0].username ?? ""), `TURN REST username: ${host.iceServers[0].username}`);
  // Media crosses the chosen path both ways: the guest decodes the host's camera and back.
  await eventually("the guest decodes the host's video", async () => (await framesDecoded(guest)) > 30);
  await eventually("the host decodes the guest's video", async () => (await framesDecoded(host)) > 30);
  for (const p of [host, guest]) {
    const pairs = await eventually(`${p.name}'s two selected pairs`, async () => {
      const pairs = await selectedPairs(p);
      return pairs.publisher && pairs.subscriber ? pairs : null;
    });
    console.log(`  ${p.name}: join ${p.joinMs.toFixed(0)} ms, selected pairs ${JSON.stringify(pairs)}`);
    assert(pairs.publisher.local === WANTED, `${p.name} publisher pair local type ${pairs.publisher.local}, wanted ${WANTED}`);
    assert(pairs.subscriber.local === WANTED, `${p.name} subscriber pair local type ${pairs.subscriber.local}, wanted ${WANTED}`);
  }
  await breakoutRound(host, guest, { eventually, framesDecoded, assert, sleep });
  for (const p of [host, guest]) {
    const pairs = await selectedPairs(p);
    assert(pairs.publisher?.local === WANTED && pairs.subscriber?.local === WANTED, `${p.name} pairs after the breakout ${JSON.stringify(pairs)}`);
  }
  writeFileSync(path.join(OUT, `turn-${PHASE}.json`), JSON.stringify({ phase: PHASE, joinMs: [host.joinMs, guest.joinMs] }));
  console.log(`PASS turn ${PHASE}: both pages connected over ${WANTED} candidates, exchanged video, and the guest's breakout move and return kept it flowing`);
} catch (error) {
  failed = true;
  console.log(`FAIL turn ${PHASE}: ${error.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
