// A browser joins a cluster through the wrong node (issue 17): two `sfu` nodes on one Redis;
// the host's page joins through node A and its room is placed on one of the nodes; the
// guest's page is then served by the *other* node, so its join_room is answered wrong_node.
// client.js must follow it by itself: the guest ends up in the room on the owner's node and
// both pages decode each other's video.
//
//   node tests/browser/cluster.js --base http://127.0.0.1:7880 --other http://127.0.0.1:7890
//
// scripts/browser-cluster-test starts Redis and the two nodes in a loopback-only network
// namespace and runs it.

import { chromium } from "playwright-core";

import { BASE, CHROMIUM, FLAGS, join, framesDecoded, assert, eventually } from "./path-pages.js";

const args = process.argv.slice(2);
const OTHER = args[args.indexOf("--other") + 1];
const wsOf = (base) => `${base.replace(/^http/, "ws")}/rtc`;

const metric = async (base, name) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : NaN;
};

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
let failed = false;
try {
  const room = "cluster-room";
  const host = await join(browser, { room, name: "Hana", role: "host", base: BASE });
  const hostUrl = await host.page.evaluate(() => window.sfuApp.client.url);
  const owner = hostUrl === wsOf(BASE) ? BASE : OTHER;
  assert(hostUrl === wsOf(owner), `the host's page uses ${hostUrl}, neither node's /rtc`);
  const wrong = owner === BASE ? OTHER : BASE;
  console.log(`  room placed on ${owner}; the guest's page comes from ${wrong}`);

  const guest = await join(browser, { room, name: "Gus", role: "visitor", base: wrong });
  const guestUrl = await guest.page.evaluate(() => window.sfuApp.client.url);
  assert(guestUrl === wsOf(owner), `the guest's client.js followed wrong_node to ${wsOf(owner)}, uses ${guestUrl}`);
  const status = await guest.page.evaluate(() => window.sfuApp.client.status);
  assert(status === "connected", `guest status ${status}`);
  await eventually("the guest decodes the host's video", async () => (await framesDecoded(guest)) > 30);
  await eventually("the host decodes the guest's video", async () => (await framesDecoded(host)) > 30);
  // The servers agree: one room with both on the owner, none on the other, one redirect.
  assert((await metric(owner, "sfu_participants")) === 2, "two participants on the owner");
  assert((await metric(wrong, "sfu_rooms")) === 0, "no room on the other node");
  assert((await metric(wrong, "sfu_cluster_redirects_total")) >= 1, "the other node answered wrong_node");
  console.log(`PASS cluster: the guest joined through ${wrong}, followed wrong_node to ${owner}, and both pages decode each other`);
} catch (error) {
  failed = true;
  console.log(`FAIL cluster: ${error.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
