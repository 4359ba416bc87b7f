//! An in-process `sfu` on 127.0.0.1:0 for the end-to-end tests, stopped by [`Server::stop`].
#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use loadtest::{Participant, ParticipantConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Server {
    /// `ws://127.0.0.1:PORT`, the load tester's `--url`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start() -> Self {
        let config = sfu::Config::ephemeral();
        let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sfu::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            url: format!("ws://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    pub async fn join(&self, room: &str, identity: &str, subscribe: bool) -> Participant {
        Participant::join(ParticipantConfig {
            subscribe,
            ..ParticipantConfig::new(&self.url, room, identity)
        })
        .await
        .unwrap_or_else(|e| panic!("{identity} joins: {e}"))
    }

    /// Asks the server to stop and waits up to 10 s for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}
