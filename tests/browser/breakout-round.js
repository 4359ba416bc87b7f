// The breakout round the network-path browser tests (tcp.js, turn.js) run after their pages
// connect: a meeting with breakouts over the path the phase forces (issue 14).

import { assert, eventually, framesDecoded, sleep } from "./path-pages.js";

/** Sends a command as `p`; resolves with `{ ok, result }` or `{ ok: false, code, message }`. */
const command = (p, name, commandArgs = {}) =>
  p.page.evaluate(
    ([n, a]) => window.sfuApp.client.command(n, a).then(
      (result) => ({ ok: true, result }),
      (error) => ({ ok: false, code: error.code, message: error.message }),
    ),
    [name, commandArgs],
  );

/**
 * A breakout round on the same transports: the guest moves into a breakout room (the host's
 * video stops reaching it), then everybody comes back and the video flows again, all over the
 * pairs the phase selected.
 */
export async function breakoutRound(host, guest) {
  const enabled = await command(host, "breakout_enable");
  assert(enabled.ok, `breakout_enable: ${enabled.code} ${enabled.message}`);
  const created = await command(host, "breakout_create_sessions", { count: 1 });
  assert(created.ok, `create sessions: ${created.code} ${created.message}`);
  const session = created.result.sessions[0].id;
  const guestId = await guest.page.evaluate(() => window.sfuApp.client.selfId);
  const assigned = await command(host, "breakout_assign", { assignments: [{ sessionId: session, participantIds: [guestId] }] });
  assert(assigned.ok, `assign: ${assigned.code} ${assigned.message}`);
  const started = await command(host, "breakout_start", { config: { moveGracePeriod: 0, autoMoveAssigned: true } });
  assert(started.ok, `start: ${started.code} ${started.message}`);
  await eventually("the guest in the breakout room", () => guest.page.evaluate((s) => window.sfuApp.client.location === s, session));
  await eventually("the host's video stops reaching the guest", async () => {
    const before = await framesDecoded(guest);
    await sleep(2_000);
    return (await framesDecoded(guest)) === before;
  });
  const ended = await command(host, "breakout_end", { immediate: true });
  assert(ended.ok, `end: ${ended.code} ${ended.message}`);
  await eventually("the guest back in the main room", () => guest.page.evaluate(() => window.sfuApp.client.location === null));
  const back = await framesDecoded(guest);
  await eventually("the guest decodes the host's video again", async () => (await framesDecoded(guest)) > back + 30);
}
