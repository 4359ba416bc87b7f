// Browser tests of issue 19's last parts, registered by run.js where they belong in its
// sequence: a page reloaded inside a breakout group (PROTOCOL.md §4.3, `resume` with
// `newTransports`), a viewer's page, and the "meeting ended" screen of a page whose host
// ended the meeting for everyone. `t` carries run.js's helpers and shared state.

/**
 * Ada and Bob in one breakout group; Ada's page reloads. She comes back as the same
 * participant in the same group, both decode each other's video again, the host's media (in
 * the main room) stays away, and Bob's page never saw her leave, join or move.
 */
export function registerReloadInBreakout(t) {
  const { test, state, command, selfId, eventually, assert, receives, stoppedReceiving, shot, mediaWorks, requireBreakouts } = t;
  test("a page reloaded in a breakout group keeps its id, its group and the others' video", async () => {
    await requireBreakouts();
    const { host, ada, bob } = state;
    const cleared = await command(host, "breakout_clear_sessions");
    assert(cleared.ok, `clear sessions: ${cleared.code} ${cleared.message}`);
    const created = await command(host, "breakout_create_sessions", { count: 1 });
    assert(created.ok, `create sessions: ${created.code} ${created.message}`);
    const group = created.result.sessions[0].id;
    const assigned = await command(host, "breakout_assign", { assignments: [{ sessionId: group, participantIds: [ada.id, bob.id] }] });
    assert(assigned.ok, `assign: ${assigned.code} ${assigned.message}`);
    const started = await command(host, "breakout_start", { config: { moveGracePeriod: 0, autoMoveAssigned: true } });
    assert(started.ok, `start: ${started.code} ${started.message}`);
    for (const p of [ada, bob]) {
      await eventually(`${p.name} in the group`, () => p.page.evaluate((s) => window.sfuApp.client.location === s, group));
    }
    const media = await mediaWorks();
    if (media) {
      await receives(ada, bob.id, "Ada decodes Bob in the group");
      await receives(bob, ada.id, "Bob decodes Ada in the group");
    }

    // Ada mutes herself before the reload: the server keeps the flag, the new page follows it.
    await ada.page.click("#mic-button");
    await eventually("Ada muted", () => host.page.evaluate((id) => window.sfuApp.client.participants.get(id)?.isAudioEnabled === false, ada.id));
    const bobFramesBefore = bob.received.length;
    const adaSentBefore = ada.sent.length;
    await ada.page.reload();
    await eventually("Ada connected after the reload", () => ada.page.evaluate(() => window.sfuApp.client?.status === "connected"));
    assert((await selfId(ada)) === ada.id, "the same participant id after the reload");
    const where = await ada.page.evaluate(() => ({ location: window.sfuApp.client.location, label: document.querySelector("#location-label")?.textContent ?? "" }));
    assert(where.location === group, `Ada is back in ${where.location}, not in her group ${group}`);
    const resume = ada.sent.slice(adaSentBefore).find((f) => f.name === "resume");
    assert(resume?.args?.newTransports === true, "the reloaded page sent resume with newTransports");
    assert(!ada.sent.slice(adaSentBefore).some((f) => f.name === "join_room"), "the reloaded page did not join afresh");
    await eventually("Ada's grid holds Ada and Bob only", () =>
      ada.page.evaluate(([a, b]) => {
        const ids = window.sfuApp.tiles().map((x) => x.participantId).sort();
        return JSON.stringify(ids) === JSON.stringify([a, b].sort());
      }, [ada.id, bob.id]),
    );
    const mic = await ada.page.evaluate(() => ({ enabled: window.sfuApp.client.audioEnabled, track: window.sfuApp.client.localStream?.getAudioTracks()[0]?.enabled, button: document.querySelector("#mic-button").textContent }));
    assert(mic.enabled === false && mic.track === false && mic.button === "Unmute", `Ada is still muted after the reload: ${JSON.stringify(mic)}`);
    await ada.page.click("#mic-button");
    await eventually("Ada unmuted after the reload", () => bob.page.evaluate((id) => window.sfuApp.client.participants.get(id)?.isAudioEnabled === true, ada.id));
    if (media) {
      await receives(ada, bob.id, "Ada decodes Bob again after her reload");
      await receives(bob, ada.id, "Bob decodes Ada again after her reload");
      await stoppedReceiving(ada, host.id);
    }
    console.log(`    Ada's group label after the reload: "${where.label}"`);
    await shot(ada, "reload-in-breakout");
    // What Bob's page was told meanwhile: PROTOCOL.md §4.3 allows connection changes and
    // media renegotiation, never a leave, a join or a move of Ada.
    const aboutAda = bob.received
      .slice(bobFramesBefore)
      .filter((f) => f.type === "event" && [f.data?.clientId, f.data?.client?.id, f.data?.participantId].includes(ada.id))
      .map((f) => f.name);
    const churn = aboutAda.filter((n) => ["client_left", "new_client", "breakout_location_changed"].includes(n));
    assert(churn.length === 0, `Bob saw ${churn.join(", ")} for Ada`);
    console.log(`    Bob's events about Ada during the reload: ${JSON.stringify([...new Set(aboutAda)])}`);

    const ended = await command(host, "breakout_end", { immediate: true });
    assert(ended.ok, `end: ${ended.code}`);
    for (const p of [ada, bob]) {
      await eventually(`${p.name} back in the main room`, () => p.page.evaluate(() => window.sfuApp.client.location === null));
      // Returning mutes non-hosts (muteOnReturnToMain "audio"): unmute for the tests after.
      await eventually(`${p.name} muted on return`, () => p.page.evaluate(() => !window.sfuApp.client.audioEnabled));
      await p.page.click("#mic-button");
      await eventually(`${p.name} unmuted`, () => p.page.evaluate(() => window.sfuApp.client.audioEnabled));
    }
  });
}

/**
 * A room of its own with a host and a viewer: the viewer's page has no publishing controls and
 * no tile of its own, shows and decodes the host; when the host ends the meeting for
 * everyone, the viewer's page says so and offers Rejoin.
 */
export function registerViewerAndMeetingEnded(t) {
  const { test, state, openPage, selfId, eventually, assert, receives, shot, visibleText, mediaWorks } = t;
  test("a viewer sees the others without publishing controls, then the meeting ended by the host", async () => {
    const room = `viewer-${Date.now().toString(36)}`;
    const hope = await openPage(state.browser, state.base, { room, name: "Hope", role: "host" });
    let vera;
    try {
      vera = await openPage(state.browser, state.base, { room, name: "Vera", role: "viewer" });
      const hopeId = await selfId(hope);
      const veraId = await selfId(vera);
      const controls = await vera.page.evaluate(() =>
        Object.fromEntries(
          ["#mic-button", "#cam-button", "#screen-button"].map((id) => {
            const button = document.querySelector(id);
            return [id, !!button && !button.hidden && button.offsetParent !== null];
          }),
        ),
      );
      assert(Object.values(controls).every((shown) => !shown), `the viewer's toolbar shows ${JSON.stringify(controls)}`);
      assert(await vera.page.isVisible("#leave-button"), "the viewer can leave");
      const publishing = await vera.page.evaluate(() => ({
        local: !!window.sfuApp.client.localStream?.getTracks().length,
        publisher: !!window.sfuApp.client.publisherPc,
        role: window.sfuApp.client.roleName,
      }));
      assert(publishing.role === "viewer" && !publishing.local && !publishing.publisher, `the viewer publishes nothing: ${JSON.stringify(publishing)}`);
      assert(!vera.sent.some((f) => ["publisher_offer", "publish_tracks"].includes(f.name)), "the viewer sent no publisher offer");
      await eventually("the viewer's grid shows the host only", () =>
        vera.page.evaluate((id) => {
          const ids = window.sfuApp.tiles().map((x) => x.participantId);
          return ids.length === 1 && ids[0] === id;
        }, hopeId),
      );
      await eventually("the host's list shows the viewer", () =>
        hope.page.evaluate((id) => !!document.querySelector(`#people li[data-participant-id="${id}"]`), veraId),
      );
      if (await mediaWorks()) await receives(vera, hopeId, "the viewer decodes the host");
      await shot(vera, "viewer");

      await hope.page.click("#end-button");
      try {
        await eventually("the viewer's ended screen", async () => (await visibleText(vera, "#ended-title")) === "The meeting has ended");
      } catch (error) {
        const seen = await vera.page.evaluate(() => ({ status: window.sfuApp.client.status, title: document.querySelector("#ended-title")?.textContent }));
        const last = vera.received.slice(-3).map((f) => f.name ?? f.type);
        throw new Error(`${error.message}; the viewer's page: ${JSON.stringify(seen)}, last frames ${JSON.stringify(last)}`);
      }
      const text = await visibleText(vera, "#ended-text");
      assert(/ended the meeting for everyone/.test(text ?? ""), `the ended screen says why: ${text}`);
      assert(await vera.page.isVisible("#rejoin-button"), "an ended meeting offers Rejoin");
      assert((await vera.page.textContent("#status")) === "Meeting ended", "the status badge says the meeting ended");
      assert(await vera.page.evaluate(() => document.querySelector("#meeting-view").hidden), "the meeting view is gone");
      await shot(vera, "meeting-ended-guest");
    } finally {
      await vera?.context.close();
      await hope.context.close();
    }
  });
}
