// A web app's use of client.js, type-checked against client.d.ts by
// `tsc --noEmit --strict` (scripts/browser-test). It is never run: it fails to compile when a
// declaration is missing, misspelt or has the wrong shape for ordinary use.

import {
  CAMERA_LAYERS,
  CLOSE_MESSAGES,
  ERROR_MESSAGES,
  SfuClient,
  SfuError,
  Status,
  canChooseSpeaker,
  decodeToken,
  defaultUrl,
  describeError,
  fetchDevToken,
  listDevices,
  parseMsid,
  rateQuality,
} from "../../sfu/web/client.js";
import type {
  DeviceList,
  ErrorCode,
  Participant,
  Quality,
  QualitySample,
  Role,
  SfuClientOptions,
  StatusValue,
  SubscriptionPreference,
  TokenClaims,
} from "../../sfu/web/client.js";

export async function meeting(video: HTMLVideoElement): Promise<void> {
  const claims: TokenClaims = decodeToken("a.b.c");
  const role: Role = claims.role ?? "visitor";
  const token = await fetchDevToken({ room: "standup-42", identity: "ada-1", role, name: "Ada" });
  const options: SfuClientOptions = {
    roomName: claims.room ?? "standup-42",
    credential: { token },
    displayName: claims.name ?? "Ada",
    url: defaultUrl(),
    capabilities: { breakouts: true, screenshare: true },
    media: { audio: true, video: false },
    persist: true,
    devices: { cameraId: null },
  };
  const client = new SfuClient(options);
  const off = client.on("status", ({ status, resumed }) => {
    const now: StatusValue = status;
    if (now === Status.CONNECTED && resumed) console.log("resumed");
  });
  client.on("roster", (people: Map<string, Participant>) => {
    for (const p of people.values()) console.log(p.displayName, p.location, p.stickyReaction?.reaction);
  });
  client.on("stream", ({ participantId, streamId, stream, kind }) => {
    if (kind === "video") client.attachMedia(video, stream);
    client.setSubscriptionPreference(participantId, streamId, { targetSize: { width: 640, height: 360 } });
  });
  client.on("quality", (quality: Map<string, QualitySample>) => {
    const rated: Quality | undefined = quality.get("p1")?.quality;
    console.log(rated);
  });
  const stored = client.storedSession();
  if (stored) console.log(stored.resumeToken, stored.lastSeq, stored.selfId);
  try {
    await client.join();
  } catch (error) {
    if (error instanceof SfuError) {
      const code: ErrorCode | string = error.code;
      console.log(code, error.description, describeError(error));
    }
    throw error;
  }
  const devices: DeviceList = await listDevices();
  await client.openLocalMedia({ audio: true, video: true, width: 1280, height: 720 });
  await client.publishCamera({ videoCodec: "video/VP8" });
  await client.setCamera(devices.cameras[0]?.deviceId ?? null);
  if (canChooseSpeaker()) await client.setSpeaker(devices.speakers[0]?.deviceId ?? null);
  await client.setAudioEnabled(false);
  const pause: SubscriptionPreference = { kind: "video", paused: true, maxLayer: null };
  client.setSubscriptionPreference("p1", "camera", pause);
  const here: Participant[] = client.participantsHere();
  const state = await client.command<{ selfId: string }>("get_room_state");
  console.log(here.length, state.selfId, client.self?.isAudioEnabled, client.isHost, client.location);
  client.startQualityMonitor(2_000);
  const measured = await client.measureQuality();
  console.log(measured.size, rateQuality({ packets: 10, lossFraction: 0, jitterMs: 1 }));
  const msid = parseMsid("p1-camera");
  console.log(msid?.participantId, CAMERA_LAYERS[0].rid, ERROR_MESSAGES.room_full, CLOSE_MESSAGES[4002]);
  const screen = await client.startScreenshare();
  console.log(screen.id);
  await client.stopScreenshare();
  off();
  await client.leave();
}
