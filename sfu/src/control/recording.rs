//! Cloud recording, live stream and live transcription state (spec §5.6, §8.6).
//!
//! Only the state lives here; the pipelines are services. Recording and streaming are
//! `Requested` until the recorder / streamer joins with its service role; transcription until
//! the shell reports it started ([`Room::handle_service_started`]). Captions of the shell's
//! transcriber go to the speaker's location ([`Room::handle_caption`]).

use crate::control::errors::error;
use crate::control::room::Needs;
use crate::control::wire_id::participant_to_wire;
use crate::control::{Effect, Room, Service};
use crate::core::ParticipantId;
use signalling_proto::{
    Caption, Empty, ErrorBody, ErrorCode, Event, LiveStreamStatus, LiveStreamView, RecordingStatus,
    RecordingView, Role, ServiceStarted, Timestamp, TranscriptionStarted, TranscriptionStatus,
    TranscriptionStopped, TranscriptionView,
};
use std::time::Instant;

/// The token identity (`sub`) of the server's own recorder (`room::recording`): refused
/// when no recording is requested, so a recorder whose join the stop overtook never appears.
pub(crate) const SERVER_RECORDER_IDENTITY: &str = "sfu-cloud-recorder";

/// The token identity of the server's own live transcriber (`signalling::transcription`):
/// the only `captioner` admitted, and only while a transcription is requested or running.
pub(crate) const SERVER_CAPTIONER_IDENTITY: &str = "sfu-live-transcriber";

/// The lifecycle shared by the three services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ServiceStatus {
    #[default]
    Idle,
    Requested,
    /// Recording / Streaming / Transcribing.
    Running,
    Error,
}

/// One service's state (spec §5.6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceState {
    pub status: ServiceStatus,
    pub started_at: Option<Timestamp>,
    pub error: Option<String>,
    pub initiator: Option<ParticipantId>,
    pub transcription_id: Option<String>,
}

impl ServiceState {
    pub(crate) fn is_active(&self) -> bool {
        matches!(
            self.status,
            ServiceStatus::Requested | ServiceStatus::Running
        )
    }

    pub(crate) fn recording_view(&self) -> Option<RecordingView> {
        let status = match self.status {
            ServiceStatus::Idle => return None,
            ServiceStatus::Requested => RecordingStatus::Requested,
            ServiceStatus::Running => RecordingStatus::Recording,
            ServiceStatus::Error => RecordingStatus::Error,
        };
        Some(RecordingView {
            status,
            started_at: self.started_at.clone(),
            error: self.error.clone(),
            initiator: self.initiator.map(participant_to_wire),
        })
    }

    pub(crate) fn live_stream_view(&self) -> Option<LiveStreamView> {
        let status = match self.status {
            ServiceStatus::Idle => return None,
            ServiceStatus::Requested => LiveStreamStatus::Requested,
            ServiceStatus::Running => LiveStreamStatus::Streaming,
            ServiceStatus::Error => LiveStreamStatus::Error,
        };
        Some(LiveStreamView {
            status,
            started_at: self.started_at.clone(),
            error: self.error.clone(),
            initiator: self.initiator.map(participant_to_wire),
        })
    }

    pub(crate) fn transcription_view(&self) -> Option<TranscriptionView> {
        let status = match self.status {
            ServiceStatus::Idle => return None,
            ServiceStatus::Requested => TranscriptionStatus::Requested,
            ServiceStatus::Running => TranscriptionStatus::Transcribing,
            ServiceStatus::Error => TranscriptionStatus::Error,
        };
        Some(TranscriptionView {
            status,
            started_at: self.started_at.clone(),
            error: self.error.clone(),
            transcription_id: self.transcription_id.clone(),
        })
    }
}

/// The service role that carries a service, if any.
pub(crate) fn service_role(service: Service) -> Option<Role> {
    match service {
        Service::CloudRecording => Some(Role::Recorder),
        Service::LiveStream => Some(Role::Streamer),
        Service::Transcription => Some(Role::Captioner),
    }
}

impl Room {
    pub(crate) fn service_state(&mut self, service: Service) -> &mut ServiceState {
        match service {
            Service::CloudRecording => &mut self.state.recording,
            Service::LiveStream => &mut self.state.live_stream,
            Service::Transcription => &mut self.state.transcription,
        }
    }

    /// `start_cloud_recording`, `start_live_stream`, `start_live_transcription` (spec §8.6).
    pub(crate) fn start_service(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        service: Service,
        target_id: Option<String>,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.service_state(service).is_active() {
            return Err(match service {
                Service::CloudRecording => error(ErrorCode::AlreadyRecording, "already recording"),
                Service::LiveStream => error(ErrorCode::AlreadyStreaming, "already streaming"),
                Service::Transcription => {
                    error(ErrorCode::AlreadyTranscribing, "already transcribing")
                }
            });
        }
        *self.service_state(service) = ServiceState {
            status: ServiceStatus::Requested,
            initiator: Some(caller),
            ..ServiceState::default()
        };
        self.pending
            .push(Effect::StartService { service, target_id });
        if service == Service::CloudRecording {
            let everyone = self.everyone();
            self.send(everyone, Event::CloudRecordingRequested(Empty {}));
        }
        // A service client that is already in the room (it joined before the request) counts
        // as started at once, unless the shell's own recorder reports the start.
        if let Some(role) = self.admission_starts(service) {
            if self.state.participants.values().any(|p| p.role == role) {
                self.service_running(now, service, None);
            }
        }
        Ok(Empty {})
    }

    /// `stop_cloud_recording`, `stop_live_stream`, `stop_live_transcription` (spec §8.6): the
    /// recorder / streamer is removed.
    pub(crate) fn stop_service(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        service: Service,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if !self.service_state(service).is_active() {
            return Err(match service {
                Service::CloudRecording => error(ErrorCode::NotRecording, "not recording"),
                Service::LiveStream => error(ErrorCode::NotStreaming, "not streaming"),
                Service::Transcription => error(ErrorCode::NotTranscribing, "not transcribing"),
            });
        }
        self.stop_service_now(now, service);
        self.remove_service_clients(now, service);
        Ok(Empty {})
    }

    /// The service role whose admission means the service is running: none for
    /// transcription, and none for recording when the shell's recorder reports its start.
    pub(crate) fn admission_starts(&self, service: Service) -> Option<Role> {
        // The transcriber reports its start when its engine runs, not when it joins.
        if service == Service::Transcription
            || (service == Service::CloudRecording && self.recorder_reports_start)
        {
            return None;
        }
        service_role(service)
    }

    /// The shell runs a recorder that reports `Recording` when its first bytes are on disk
    /// (spec §8.6 "when the recorder is admitted" becomes "when it records").
    pub fn set_recorder_reports_start(&mut self, on: bool) {
        self.recorder_reports_start = on;
    }

    /// Every client of `service`'s role (the recorder, the captioner) leaves.
    fn remove_service_clients(&mut self, now: Instant, service: Service) {
        let Some(role) = service_role(service) else {
            return;
        };
        let clients: Vec<ParticipantId> = self
            .state
            .participants
            .values()
            .filter(|p| p.role == role)
            .map(|p| p.id)
            .collect();
        for id in clients {
            self.remove_service_client(now, id);
        }
    }

    /// Back to idle with the stop event to everyone; the service is told to stop.
    pub(crate) fn stop_service_now(&mut self, now: Instant, service: Service) {
        let old = std::mem::take(self.service_state(service));
        self.pending.push(Effect::StopService { service });
        let event = match service {
            Service::CloudRecording => Event::CloudRecordingStopped(Empty {}),
            Service::LiveStream => Event::LiveStreamStopped(Empty {}),
            Service::Transcription => Event::LiveTranscriptionStopped(TranscriptionStopped {
                transcription_id: old.transcription_id.unwrap_or_default(),
                ended_at: self.timestamp(now),
            }),
        };
        let everyone = self.everyone();
        self.send(everyone, event);
    }

    /// Requested → running, with the started event (spec §8.6).
    pub(crate) fn service_running(
        &mut self,
        now: Instant,
        service: Service,
        transcription_id: Option<String>,
    ) {
        if self.service_state(service).status != ServiceStatus::Requested {
            return;
        }
        let started_at = self.timestamp(now);
        let state = self.service_state(service);
        state.status = ServiceStatus::Running;
        state.started_at = Some(started_at.clone());
        state.transcription_id = transcription_id.clone();
        let event = match service {
            Service::CloudRecording => Event::CloudRecordingStarted(ServiceStarted {
                started_at: Some(started_at),
                error: None,
            }),
            Service::LiveStream => Event::LiveStreamStarted(ServiceStarted {
                started_at: Some(started_at),
                error: None,
            }),
            Service::Transcription => Event::LiveTranscriptionStarted(TranscriptionStarted {
                transcription_id,
                started_at: Some(started_at),
                error: None,
            }),
        };
        let everyone = self.everyone();
        self.send(everyone, event);
    }

    /// The shell reports that a service started (transcription; recording and streaming also
    /// start when their client joins).
    pub fn handle_service_started(
        &mut self,
        now: Instant,
        service: Service,
        transcription_id: Option<String>,
    ) {
        self.service_running(now, service, transcription_id);
        self.settle(now, true);
    }

    /// The shell's transcriber heard `speaker` say `text` on `stream` (audio that started at
    /// `started_at`): a `caption` to everyone in the speaker's location now, scoped like that
    /// location's chat. A speaker who left, or a transcription no longer running, gets none.
    pub fn handle_caption(
        &mut self,
        now: Instant,
        speaker: &signalling_proto::ParticipantId,
        stream: signalling_proto::StreamId,
        text: String,
        started_at: Timestamp,
    ) -> bool {
        if self.state.transcription.status != ServiceStatus::Running {
            return false;
        }
        let Some(p) = crate::control::wire_id::participant_from_wire(speaker)
            .and_then(|id| self.state.participants.get(&id))
        else {
            return false;
        };
        let (location, display_name) = (p.location, p.display_name.clone());
        let audience: Vec<ParticipantId> = self
            .state
            .participants
            .values()
            .filter(|q| q.location == location && q.role != Role::Captioner)
            .map(|q| q.id)
            .collect();
        let event = Event::Caption(Caption {
            participant_id: speaker.clone(),
            stream_id: stream,
            display_name,
            text,
            started_at,
            transcription_id: self.state.transcription.transcription_id.clone(),
        });
        self.send(audience, event);
        self.settle(now, true);
        true
    }

    /// The shell reports that a service failed: `Error {error}` and the started event with
    /// `{error}` (spec §8.6).
    pub fn handle_service_failed(&mut self, now: Instant, service: Service, reason: String) {
        if self.service_state(service).is_active() {
            let state = self.service_state(service);
            state.status = ServiceStatus::Error;
            state.error = Some(reason.clone());
            state.started_at = None;
            let event = match service {
                Service::CloudRecording => Event::CloudRecordingStarted(ServiceStarted {
                    started_at: None,
                    error: Some(reason),
                }),
                Service::LiveStream => Event::LiveStreamStarted(ServiceStarted {
                    started_at: None,
                    error: Some(reason),
                }),
                Service::Transcription => Event::LiveTranscriptionStarted(TranscriptionStarted {
                    transcription_id: None,
                    started_at: None,
                    error: Some(reason),
                }),
            };
            let everyone = self.everyone();
            self.send(everyone, event);
            // A failed recorder records nothing more: it leaves (its files are closed).
            self.remove_service_clients(now, service);
        }
        self.settle(now, true);
    }
}
