// ICE-TCP in a real browser (issue 14): headless chromium joins, publishes and receives over
// the SFU's passive TCP candidate when it cannot send UDP to the media port.
//
//   node tests/browser/tcp.js --base http://127.0.0.1:7880 --phase udp|tcp --out DIR
//
// scripts/browser-tcp-test runs it twice inside a network namespace, as an unprivileged user
// whose UDP to the SFU's media port an nftables rule drops in the second phase: `udp` (no
// rule) must select a UDP pair, `tcp` (rule on) must select a TCP pair (the browser's active
// candidate to the server's passive one), asserted from getStats (the selected pair's local
// and remote candidates), and video must cross both ways either way, also after the guest
// moves into a breakout room and back. Two pages at a time
// (DECISIONS.md §17). Each phase writes its join times to DIR/tcp-<phase>.json.

import { writeFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { breakoutRound } from "./breakout-round.js";
import { BASE, PHASE, OUT, CHROMIUM, FLAGS, join, framesDecoded, assert, eventually } from "./path-pages.js";

const WANTED = PHASE === "tcp" ? "tcp" : "udp";

/** The local and remote candidates of each transport's selected pair, from getStats. */
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
      out[which] = {
        local: { type: local?.candidateType, protocol: local?.protocol, tcpType: local?.tcpType ?? null },
        remote: { type: remote?.candidateType, protocol: remote?.protocol, port: remote?.port },
        state: pair.state,
      };
    }
    return out;
  });

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
let failed = false;
try {
  const room = `tcp-${PHASE}`;
  const host = await join(browser, { room, name: "Hana", role: "host" });
  const guest = await join(browser, { room, name: "Gus", role: "visitor" });
  // No TURN server is configured: the TCP phase has no way in but ICE-TCP.
  assert((host.iceServers ?? []).length === 0, `iceServers from join_room: ${JSON.stringify(host.iceServers)}`);
  // Media crosses the chosen path both ways: the guest decodes the host's camera and back.
  await eventually("the guest decodes the host's video", async () => (await framesDecoded(guest)) > 30);
  await eventually("the host decodes the guest's video", async () => (await framesDecoded(host)) > 30);
  for (const p of [host, guest]) {
    const pairs = await eventually(`${p.name}'s two selected pairs`, async () => {
      const pairs = await selectedPairs(p);
      return pairs.publisher && pairs.subscriber ? pairs : null;
    });
    console.log(`  ${p.name}: join ${p.joinMs.toFixed(0)} ms, selected pairs ${JSON.stringify(pairs)}`);
    for (const which of ["publisher", "subscriber"]) {
      const pair = pairs[which];
      assert(pair.local.protocol === WANTED && pair.remote.protocol === WANTED, `${p.name} ${which} pair ${JSON.stringify(pair)}, wanted ${WANTED}`);
      assert(pair.remote.type === "host", `${p.name} ${which} pair remote ${JSON.stringify(pair.remote)}, wanted the SFU's host candidate`);
      if (WANTED === "tcp") assert(pair.local.tcpType === "active", `${p.name} ${which} local ${JSON.stringify(pair.local)}, wanted an active TCP candidate`);
    }
  }
  await breakoutRound(host, guest);
  // The move and the return renegotiated only the subscriber transports: still the same kind of pair.
  for (const p of [host, guest]) {
    const pairs = await selectedPairs(p);
    for (const which of ["publisher", "subscriber"]) {
      assert(pairs[which]?.local.protocol === WANTED, `${p.name} ${which} pair after the breakout ${JSON.stringify(pairs[which])}`);
    }
  }
  writeFileSync(path.join(OUT, `tcp-${PHASE}.json`), JSON.stringify({ phase: PHASE, joinMs: [host.joinMs, guest.joinMs] }));
  console.log(`PASS tcp ${PHASE}: both pages connected over ${WANTED} pairs, exchanged video, and the guest's breakout move and return kept it flowing`);
} catch (error) {
  failed = true;
  console.log(`FAIL tcp ${PHASE}: ${error.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
