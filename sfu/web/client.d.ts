// TypeScript declarations of client.js (the SFU browser client). docs/client.md is the API
// reference; signalling-proto/PROTOCOL.md defines the frames, and
// signalling-proto/schema/protocol.schema.json their exact shapes.

/** The connection statuses (spec §7.1). */
export declare const Status: Readonly<{
  READY: "ready";
  CONNECTING: "connecting";
  CONNECTED: "connected";
  ROOM_LOCKED: "room_locked";
  KNOCKING: "knocking";
  KNOCK_ON_HOLD: "knock_on_hold";
  KNOCK_REJECTED: "knock_rejected";
  KICKED: "kicked";
  LEAVING: "leaving";
  LEFT: "left";
  DISCONNECTED: "disconnected";
  RECONNECTING: "reconnecting";
}>;
export type StatusValue = (typeof Status)[keyof typeof Status];

/** One simulcast encoding of the camera. */
export interface CameraLayer {
  rid: "q" | "h" | "f";
  scaleResolutionDownBy: number;
  maxBitrate: number;
}
export declare const CAMERA_LAYERS: readonly CameraLayer[];

/** Every error code of PROTOCOL.md §8. */
export type ErrorCode =
  | "invalid_request" | "unknown_command" | "invalid_argument" | "not_connected" | "forbidden"
  | "invalid_target" | "participant_not_found" | "participant_waiting" | "knock_not_found"
  | "message_not_found" | "stream_not_found" | "session_not_found" | "room_not_found"
  | "invalid_credential" | "room_locked" | "room_full" | "max_viewer_limit_reached"
  | "unique_role_already_in_room" | "kicked_from_room" | "room_not_locked" | "already_knocking"
  | "resume_failed" | "rate_limited" | "policy_violation" | "breakouts_disabled"
  | "breakout_not_active" | "breakout_already_started" | "breakout_closing" | "breakout_active"
  | "no_sessions" | "too_many_sessions" | "duplicate_name" | "session_full"
  | "not_allowed_in_session" | "join_later_not_allowed" | "return_not_allowed" | "not_in_session"
  | "role_not_movable" | "client_unsupported" | "auto_end_not_armed" | "no_host_present"
  | "edit_locked" | "edit_lock_token_mismatch" | "edit_lock_not_held" | "revision_conflict"
  | "already_recording" | "not_recording" | "already_streaming" | "not_streaming"
  | "already_transcribing" | "not_transcribing" | "already_screensharing" | "screenshare_busy"
  | "server_draining" | "wrong_node" | "placement_unavailable" | "internal_error";

/** A sentence for people, per error code. */
export declare const ERROR_MESSAGES: Readonly<Record<ErrorCode, string>>;
/** A sentence for people, per WebSocket close code the server uses. */
export declare const CLOSE_MESSAGES: Readonly<Record<number, string>>;

/** An error body as the server sends it (PROTOCOL.md §2). */
export interface ErrorBody {
  code: ErrorCode | string;
  message?: string;
  details?: Record<string, unknown>;
}

/** A sentence for an error, an error body or a bare code; other errors give their message. */
export declare function describeError(error: SfuError | ErrorBody | Error | string | null | undefined): string;

/** A failed command. */
export declare class SfuError extends Error {
  constructor(command: string, error: ErrorBody);
  readonly name: "SfuError";
  /** The command that failed. */
  readonly command: string;
  readonly code: ErrorCode | string;
  readonly details?: Record<string, unknown>;
  /** {@link describeError} of this error. */
  readonly description: string;
}

/** A tiny event emitter; `on` returns a function that removes the listener. */
export declare class Emitter {
  on(name: string, fn: (value: any) => void): () => void;
  once(name: string, fn: (value: any) => void): () => void;
  off(name: string, fn: (value: any) => void): void;
  emit(name: string, value?: unknown): void;
  /** The next value of `name` for which `predicate` holds; rejects after `timeoutMs`. */
  waitFor<T = any>(name: string, predicate?: (value: T) => boolean, timeoutMs?: number): Promise<T>;
}

/** `ws(s)://<this page's host>/rtc`. */
export declare function defaultUrl(): string;

/** A token from `GET /dev/token` (development mode only). */
export declare function fetchDevToken(options: {
  room: string;
  identity: string;
  role?: Role;
  name?: string;
  /** Server origin, e.g. "http://127.0.0.1:7880"; default: this page's. */
  base?: string;
}): Promise<string>;

/** Splits `<participantId>-<streamId>`: a fallback only, prefer the msid of subscriptions_changed. */
export declare function parseMsid(msid: string | null | undefined): { participantId: string; streamId: string } | null;

export type Role = "host" | "visitor" | "viewer" | "recorder" | "streamer" | "assistant" | "captioner" | "granted_visitor" | "granted_viewer";

/** What a join token says (its signature is not checked: only the server can). */
export interface TokenClaims {
  room: string | null;
  identity: string | null;
  role: Role | null;
  name: string | null;
  externalId: string | null;
  expiresAt: Date | null;
}
/** Reads the claims of a pasted join token; throws an Error with a readable message on a non-token. */
export declare function decodeToken(token: string): TokenClaims;

export interface DeviceInfo {
  deviceId: string;
  label: string;
}
export interface DeviceList {
  cameras: DeviceInfo[];
  microphones: DeviceInfo[];
  speakers: DeviceInfo[];
}
/** The devices of this browser (labels are placeholders until camera/microphone access was given once). */
export declare function listDevices(): Promise<DeviceList>;
/** Whether media elements can choose their speaker (`setSinkId`). */
export declare function canChooseSpeaker(): boolean;

export type Quality = "good" | "fair" | "poor" | "lost" | "unknown";
export interface QualitySample {
  quality: Quality;
  lossPercent: number;
  jitterMs: number;
  rttMs: number | null;
  kbps: number;
}
/** The rating rule of the quality monitor. */
export declare function rateQuality(sample: { packets: number; lossFraction: number; jitterMs: number }): Exclude<Quality, "lost">;

export interface ChosenDevices {
  cameraId: string | null;
  microphoneId: string | null;
  speakerId: string | null;
}

export interface SfuClientOptions {
  /** `[a-z0-9-]{1,64}` */
  roomName: string;
  credential?: { token: string } | { roomKey: string } | { grant: string };
  displayName?: string;
  externalId?: string;
  /** Signalling URL; default {@link defaultUrl}. */
  url?: string;
  capabilities?: { breakouts?: boolean; screenshare?: boolean };
  /** Initial microphone and camera flags (PROTOCOL.md §4.1); default both true. */
  media?: { audio?: boolean; video?: boolean };
  /** Resume after a lost socket (default true). */
  reconnect?: boolean;
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Keep the resume token in sessionStorage (true) or this Storage, so a reloaded page resumes
   * its place (same id and location) with new media transports. */
  persist?: boolean | Storage;
  /** Devices to start with. */
  devices?: Partial<ChosenDevices>;
  /** After `room_locked`, knock at once. */
  autoKnock?: boolean;
}

/** The participant view of the server (PROTOCOL.md §7 `ParticipantView`). */
export interface Participant {
  id: string;
  displayName: string;
  roleName: Role;
  externalId: string | null;
  isDialIn: boolean;
  /** Present (true) only for a program in the meeting (role `assistant`). */
  isAssistant?: true;
  isAudioEnabled: boolean;
  isVideoEnabled: boolean;
  screenshares: { streamId: string; hasAudioTrack: boolean }[];
  stickyReaction: { reaction: string; at?: string } | null;
  connection: "connected" | "reconnecting";
  location: string | null;
  monitoring: string | null;
}

/** A `caption` event: one line the live transcriber heard a speaker of our location say. */
export interface Caption {
  participantId: string;
  streamId: string;
  displayName: string;
  text: string;
  /** When the transcribed audio started. */
  startedAt: string;
  transcriptionId?: string;
}

/** What a client emits besides the server's events (which it re-emits under their own names). */
export interface SfuClientEvents {
  status: { status: StatusValue; code?: number; reason?: string; message?: string; error?: string | null; resumed?: boolean };
  /** `RoomJoined`; after a reload that took the stored place back, the room state with
   * `resumeToken` and `resumed: true` (PROTOCOL.md §4.3). */
  joined: any;
  resumed: any;
  roster: Map<string, Participant>;
  knockers: Map<string, any>;
  breakout: any;
  location: string | null;
  chat: any[];
  /** The latest captions (the last 5), newest last. */
  captions: Caption[];
  caption: Caption;
  stream: { participantId: string; streamId: string; stream: MediaStream; track: MediaStreamTrack; kind: "audio" | "video" };
  stream_removed: { participantId: string; streamId: string };
  subscriptions: Map<string, { participantId: string; streamId: string; kinds: ("audio" | "video")[] }>;
  local_stream: MediaStream | null;
  local_media: { audio: boolean; video: boolean };
  local_media_error: { kind: "audio" | "video"; error: Error };
  devices_changed: ChosenDevices;
  quality: Map<string, QualitySample>;
  screenshare: { streamId: string; stream: MediaStream } | null;
  published: any[];
  transport_state: { transport: "publisher" | "subscriber"; state: RTCPeerConnectionState };
  subscriber_negotiated: { version: number };
  media_error: { transport: "publisher" | "subscriber"; error: Error };
  event: { name: string; seq?: number; ts?: string; data: any };
}

export interface SubscriptionPreference {
  kind?: "audio" | "video";
  targetSize?: { width: number; height: number };
  maxLayer?: { spatial: number; temporal?: number } | null;
  paused?: boolean;
  priority?: number;
}

export declare class SfuClient extends Emitter {
  constructor(options: SfuClientOptions);
  readonly options: Required<Pick<SfuClientOptions, "url" | "capabilities" | "media" | "reconnect" | "iceServers" | "iceTransportPolicy">> & SfuClientOptions;
  status: StatusValue;
  error: string | null;
  selfId: string | null;
  roleName: Role | null;
  resumeToken: string | null;
  /** The signalling URL in use: `options.url`, or the room's node after a `wrong_node`. */
  url: string;
  lastSeq: number;
  room: any;
  participants: Map<string, Participant>;
  knockers: Map<string, any>;
  breakout: any;
  location: string | null;
  chat: any[];
  /** The latest captions of the live transcriber in our location (the last 5), newest last. */
  captions: Caption[];
  subscriptions: Map<string, { participantId: string; streamId: string; kinds: ("audio" | "video")[] }>;
  /** Remote streams by `${participantId}/${streamId}`. */
  remoteStreams: Map<string, MediaStream>;
  localStream: MediaStream | null;
  screen: { streamId: string; stream: MediaStream; transceivers: RTCRtpTransceiver[] } | null;
  publisherPc: RTCPeerConnection | null;
  subscriberPc: RTCPeerConnection | null;
  audioEnabled: boolean;
  videoEnabled: boolean;
  joinedIceServers: RTCIceServer[];
  devices: ChosenDevices;
  captureSize: { width: number; height: number };
  quality: Map<string, QualitySample>;
  readonly self: Participant | undefined;
  readonly isHost: boolean;

  on<K extends keyof SfuClientEvents>(name: K, fn: (value: SfuClientEvents[K]) => void): () => void;
  on(name: string, fn: (value: any) => void): () => void;

  /** Sends one command; resolves with its result, rejects with {@link SfuError}. */
  command<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Opens the socket and joins; with `persist`, first resumes the place a previous page of
   * this tab left (`resume` with `newTransports`), joining afresh only if that fails. */
  join(): Promise<any>;
  knock(): Promise<void>;
  cancelKnock(): Promise<void>;
  leave(): Promise<void>;
  /** The session a previous page of this tab left (with `persist`). */
  storedSession(): {
    resumeToken: string;
    lastSeq: number;
    selfId: string | null;
    url?: string;
    iceServers?: RTCIceServer[];
    credentialKey?: string;
    savedAt: number;
  } | null;

  openLocalMedia(options?: { audio?: boolean; video?: boolean; width?: number; height?: number }): Promise<MediaStream>;
  closeLocalMedia(): void;
  publishCamera(options?: {
    audio?: boolean;
    video?: boolean;
    constraints?: MediaStreamConstraints;
    stream?: MediaStream;
    videoCodec?: "video/VP8" | "video/H264";
  }): Promise<MediaStream>;
  setCamera(deviceId: string | null): Promise<MediaStreamTrack | null>;
  setMicrophone(deviceId: string | null): Promise<MediaStreamTrack | null>;
  setSpeaker(deviceId: string | null): Promise<boolean>;
  attachMedia(element: HTMLMediaElement, stream: MediaStream | null): void;
  setAudioEnabled(enabled: boolean): Promise<unknown>;
  setVideoEnabled(enabled: boolean): Promise<unknown>;
  startScreenshare(options?: { stream?: MediaStream }): Promise<MediaStream>;
  stopScreenshare(): Promise<void>;

  setSubscriptionPreference(participantId: string, streamId: string, preference: SubscriptionPreference): void;
  startQualityMonitor(intervalMs?: number): void;
  stopQualityMonitor(): void;
  measureQuality(): Promise<Map<string, QualitySample>>;

  participantsHere(): Participant[];
  stats(): Promise<{ publisher: any[]; subscriber: any[] }>;
}
