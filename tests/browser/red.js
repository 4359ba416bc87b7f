// Redundant audio (RFC 2198 RED) in a real browser (issue 13, goal 4): headless chromium
// publishes its fake microphone with RED, the SFU forwards the RED packets as they are, and
// the audio a second page decodes survives packet loss that a page without RED conceals.
//
//   node tests/browser/red.js --base http://127.0.0.1:7880 --out DIR
//
// scripts/browser-red-test runs it inside a network namespace that has only `lo`, against a
// fresh `sfu`, with an nftables rule dropping 10 % of the UDP the SFU sends (random). Chromium
// offers `red/48000/2` on its audio m-line by itself and sends RED once the server's answer
// accepts it (Opus listed first, as the server answers). One guest accepts RED (Chromium's own
// answer), the other
// answers without it (its page takes RED out of its answers), so it gets plain Opus, the
// primary block of each packet. Chromium's stats name the primary codec (Opus) either way, so
// RED shows in what it does: asserted are RED in the server's answer to the host and in both
// sides of the RED guest's subscriber negotiation, none in the plain guest's answer, both
// decoding the audio, and the RED guest concealing well under half of what the plain one
// conceals (RED fills a single lost packet from the next one; Opus without it has no repair).

import { chromium } from "playwright-core";

import { BASE, CHROMIUM, FLAGS, join, assert, eventually } from "./path-pages.js";

/** The audio m-line of an SDP and whether it maps a RED payload type. */
const audioRed = (sdp) => {
  const section = (sdp ?? "").split(/\r\n(?=m=)/).find((s) => s.startsWith("m=audio") && !s.startsWith("m=audio 0 "));
  return Boolean(section && /a=rtpmap:\d+ red\/48000\/2/i.test(section));
};

/** Takes RED out of each audio m-line of the answers this page creates (a client without RED). */
const refuseRedInAnswers = () => {
  const native = RTCPeerConnection.prototype.createAnswer;
  RTCPeerConnection.prototype.createAnswer = async function () {
    const answer = await native.apply(this, arguments);
    const sections = answer.sdp.split(/\r\n(?=m=)/).map((section) => {
      const red = section.match(/a=rtpmap:(\d+) red\/48000\/2/i);
      if (!section.startsWith("m=audio") || !red) return section;
      return section
        .split("\r\n")
        .filter((l) => !l.startsWith(`a=rtpmap:${red[1]} `) && !l.startsWith(`a=fmtp:${red[1]} `))
        .map((l) => (l.startsWith("m=audio") ? l.split(" ").filter((pt, i) => i < 3 || pt !== red[1]).join(" ") : l))
        .join("\r\n");
    });
    return { type: answer.type, sdp: sections.join("\r\n") };
  };
};

/** The codec mime type of the page's audio RTP stream of `type` (inbound-rtp or outbound-rtp). */
const audioStream = (p, which, type) =>
  p.page.evaluate(
    async ([which, type]) => {
      const stats = (await window.sfuApp.client.stats())[which];
      const byId = new Map(stats.map((s) => [s.id, s]));
      const s = stats.find((s) => s.type === type && s.kind === "audio" && (s.packetsReceived ?? s.packetsSent ?? 0) > 0);
      if (!s) return null;
      return {
        mimeType: byId.get(s.codecId)?.mimeType ?? null,
        packets: s.packetsReceived ?? s.packetsSent,
        samples: s.totalSamplesReceived ?? null,
        concealed: s.concealedSamples ?? null,
        lost: s.packetsLost ?? null,
      };
    },
    [which, type],
  );

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
let failed = false;
try {
  const room = "red";
  const host = await join(browser, { room, name: "Hana", role: "host" });
  const redGuest = await join(browser, { room, name: "Gus", role: "visitor" });
  const plainGuest = await join(browser, { room, name: "Pia", role: "visitor", initScript: refuseRedInAnswers });
  const sdp = (p, which) =>
    p.page.evaluate((which) => {
      const pc = window.sfuApp.client[which];
      return { local: pc?.localDescription?.sdp, remote: pc?.remoteDescription?.sdp };
    }, which);
  const hostPublisher = await sdp(host, "publisherPc");
  assert(audioRed(hostPublisher.local), "the host's offer has no red/48000/2 on its audio m-line");
  assert(audioRed(hostPublisher.remote), "the server's answer to the host does not accept RED");
  const subscriberSdp = (p) =>
    eventually(`${p.name}'s subscriber negotiation with audio`, async () => {
      const d = await sdp(p, "subscriberPc");
      return audioRed(d.remote) ? d : null;
    });
  assert(audioRed((await subscriberSdp(redGuest)).local), "the RED guest's answer does not accept RED");
  assert(!audioRed((await subscriberSdp(plainGuest)).local), "the plain guest's answer still has RED");
  // Both decode audio; then 10 s of it under the 10 % loss.
  const audio = (p) => audioStream(p, "subscriber", "inbound-rtp");
  for (const p of [redGuest, plainGuest]) {
    await eventually(`${p.name} decoding audio`, async () => ((await audio(p))?.samples ?? 0) > 48_000);
  }
  const before = [await audio(redGuest), await audio(plainGuest)];
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const after = [await audio(redGuest), await audio(plainGuest)];
  const during = (i) => ({
    packets: after[i].packets - before[i].packets,
    lost: after[i].lost - before[i].lost,
    samples: after[i].samples - before[i].samples,
    concealed: after[i].concealed - before[i].concealed,
  });
  const [red, plain] = [during(0), during(1)];
  const share = (w) => w.concealed / Math.max(1, w.samples);
  console.log(`  10 s under loss: RED guest ${JSON.stringify(red)} (${(100 * share(red)).toFixed(2)} % concealed); plain guest ${JSON.stringify(plain)} (${(100 * share(plain)).toFixed(2)} % concealed)`);
  for (const [name, w] of [["RED", red], ["plain", plain]]) {
    assert(w.samples > 8 * 48_000, `the ${name} guest decoded ${w.samples} samples in 10 s`);
  }
  // The loss really hit both (the check can fail for the right reason), and RED repaired it.
  assert(plain.lost > 0.04 * (plain.packets + plain.lost), `the plain guest lost only ${plain.lost} packets: is the loss rule on?`);
  assert(share(red) < 0.5 * share(plain), "the RED guest concealed as much as the plain one: RED did not reach it");
  console.log("PASS red: RED negotiated on both transports, and the RED guest concealed well under half of what the plain guest did under 10 % loss");
} catch (error) {
  failed = true;
  console.log(`FAIL red: ${error.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
