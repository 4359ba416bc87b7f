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
import { BASE, PHASE, OUT, CHROMIUM, FLAGS, join, framesDecoded, assert, eventually } from "./path-pages.js";

const WANTED = PHASE === "relay" ? "relay" : "host";

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
  await breakoutRound(host, guest);
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
