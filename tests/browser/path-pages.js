// What the network-path browser tests (tcp.js, turn.js) share: their command line
// (`--base`, `--phase`, `--out`, `--chromium`), Chromium's flags, and the helpers that open the
// demo page and read its media.

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
export const BASE = option("base", "http://127.0.0.1:7880");
export const PHASE = option("phase", "direct");
export const OUT = option("out", "target/browser");
export const CHROMIUM = option("chromium", process.env.CHROMIUM ?? "/usr/bin/chromium");
export const FLAGS = [
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function eventually(what, fn, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
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
 * `initScript` runs in the page before its own scripts (red.js changes the answers it applies).
 */
export async function join(browser, { room, name, role, base = BASE, initScript }) {
  const context = await browser.newContext({ viewport: { width: 960, height: 540 } });
  if (initScript) await context.addInitScript(initScript);
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
  await page.goto(`${base}/?${query}`);
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

/** Video frames the page decoded from remote streams. */
export const framesDecoded = (p) =>
  p.page.evaluate(async () => {
    const { subscriber } = await window.sfuApp.client.stats();
    return subscriber.filter((s) => s.type === "inbound-rtp" && s.kind === "video").reduce((n, s) => n + (s.framesDecoded ?? 0), 0);
  });

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
