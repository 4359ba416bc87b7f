//! The room's machines under the actor: the server's own cloud recorder and transcriber are
//! started and stopped on the rules' `StartService` / `StopService` effects, and report back
//! into the room's inbox under a generation number, so reports of a replaced one are ignored.

use std::time::Instant;

use tracing::info;

use super::RoomActor;
use crate::control::Service;
use crate::room::handle::RoomInput;
use crate::room::recording::RecorderEvent;
use crate::room::transcription::TranscriberEvent;
use crate::webhook::WebhookEvent;

impl RoomActor {
    /// What the recorder reports: its start, or a failure (the room stops the recording).
    pub(super) fn handle_recorder(&mut self, now: Instant, event: RecorderEvent) {
        match event {
            RecorderEvent::Started => {
                self.room
                    .handle_service_started(now, Service::CloudRecording, None);
            }
            RecorderEvent::Failed(reason) => {
                self.recorder = None;
                self.room
                    .handle_service_failed(now, Service::CloudRecording, reason);
            }
        }
    }

    /// What the transcriber reports: its start (the engine can run), a caption for the
    /// speaker's location, or a failure (the error event; the room removes the captioner).
    pub(super) fn handle_transcriber(&mut self, now: Instant, event: TranscriberEvent) {
        match event {
            TranscriberEvent::Started { transcription_id } => {
                self.room.handle_service_started(
                    now,
                    Service::Transcription,
                    Some(transcription_id),
                );
            }
            TranscriberEvent::Caption {
                speaker,
                stream,
                text,
                started_at,
            } => {
                let millis = started_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                self.room.handle_caption(
                    now,
                    &speaker,
                    stream,
                    text,
                    signalling_proto::Timestamp::from_unix_millis(millis),
                );
            }
            TranscriberEvent::Failed(reason) => {
                self.transcriber = None;
                self.room
                    .handle_service_failed(now, Service::Transcription, reason);
            }
        }
    }

    /// A service the rules ask for: the webhook hears of it, and the server's own recorder or
    /// transcriber, where there is one, starts reporting into this room's inbox.
    pub(super) fn start_service(&mut self, service: Service, target_id: Option<String>) {
        self.outbox.push(match service {
            Service::CloudRecording => WebhookEvent::RecordingRequested,
            Service::LiveStream => WebhookEvent::LiveStreamRequested {
                target_id: target_id.clone(),
            },
            Service::Transcription => WebhookEvent::TranscriptionRequested,
        });
        if let (Service::CloudRecording, Some(service)) = (service, &self.registry.recorder) {
            self.recorder_generation += 1;
            let generation = self.recorder_generation;
            let inbox = self.inbox.clone();
            let tell = move |event| {
                let inbox = inbox.clone();
                // A stopped room has nobody left to tell.
                tokio::spawn(async move {
                    let _ = inbox.send(RoomInput::Recorder { generation, event }).await;
                });
            };
            self.recorder = Some(service.start(&self.name, tell));
            info!("cloud recorder started");
        } else if let (Service::Transcription, Some(service)) =
            (service, &self.registry.transcriber)
        {
            self.transcriber_generation += 1;
            let generation = self.transcriber_generation;
            let inbox = self.inbox.clone();
            let tell = move |event: TranscriberEvent| {
                let input = RoomInput::Transcriber { generation, event };
                if matches!(
                    input,
                    RoomInput::Transcriber {
                        event: TranscriberEvent::Caption { .. },
                        ..
                    }
                ) {
                    // A caption the busy room has no room for is dropped, not queued without
                    // bound.
                    let _ = inbox.try_send(input);
                } else {
                    // A stopped room has nobody left to tell.
                    let inbox = inbox.clone();
                    tokio::spawn(async move {
                        let _ = inbox.send(input).await;
                    });
                }
            };
            self.transcriber = Some(service.start(&self.name, tell));
        } else {
            info!(
                ?service,
                ?target_id,
                "service start requested (no service here)"
            );
        }
    }

    /// A service the rules stopped: a recorder closes its files first.
    pub(super) async fn stop_service(&mut self, service: Service) {
        self.outbox.push(match service {
            Service::CloudRecording => WebhookEvent::RecordingStopped,
            Service::LiveStream => WebhookEvent::LiveStreamStopped,
            Service::Transcription => WebhookEvent::TranscriptionStopped,
        });
        if service == Service::CloudRecording {
            // The stop event follows this effect: it goes out once the files are closed.
            if let Some(recorder) = self.recorder.take() {
                recorder.stop().await;
            }
        }
        if service == Service::Transcription {
            // Dropping the handle makes the transcriber leave; captions still on their way
            // find the transcription stopped and are not sent.
            self.transcriber = None;
        }
        info!(?service, "service stopped");
    }
}
