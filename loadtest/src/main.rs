//! `loadtest`: many synthetic participants against one SFU, with a live progress line, a final
//! table and a JSON report (issue 6, PERFORMANCE.md, DECISIONS.md §20).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use loadtest::cpu::{self, MachineTicks};
use loadtest::impair_relay::{ImpairmentConfig, ScheduleClock};
use loadtest::location::GroupNumbers;
use loadtest::prom_text::SfuSample;
use loadtest::report::{self, ImpairmentRun, RunResult};
use loadtest::{ClientError, Participant, ParticipantConfig, PublisherConfig, SubscriberConfig};
use serde_json::json;
use signalling_proto::{
    Command, CommandResult, CreateSessionsArgs, Layer, Location, MoveArgs, RevisionArgs, SessionId,
    StartArgs, StreamId, SubscriptionPreference,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Layout {
    /// The first publisher at the top layer, the others at the lowest.
    Speaker,
    /// Every publisher at the middle layer.
    Grid,
}

/// Load test for the SFU: N publishers, M subscribers, optional breakout groups.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version)]
struct Args {
    /// Signalling URL of the SFU.
    #[arg(long, default_value = "ws://127.0.0.1:7880")]
    url: String,
    #[arg(long, default_value = "load")]
    room: String,
    /// Publishers of camera (VP8) + microphone.
    #[arg(long, default_value_t = 1)]
    video_publishers: u32,
    /// Publishers of a microphone only.
    #[arg(long, default_value_t = 0)]
    audio_publishers: u32,
    /// Receive-only participants.
    #[arg(long, default_value_t = 3)]
    subscribers: u32,
    /// Breakout groups (0: everybody in the main room). Needs a server with breakouts.
    #[arg(long, default_value_t = 0)]
    groups: u32,
    /// Measured duration after everybody joined: 30s, 2m, 500ms.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Three simulcast encodings q/h/f (the default).
    #[arg(long, overrides_with = "no_simulcast")]
    simulcast: bool,
    /// One video encoding per publisher.
    #[arg(long)]
    no_simulcast: bool,
    #[arg(long, value_enum, default_value_t = Layout::Speaker)]
    layout: Layout,
    /// Joins per second: 10/s or 10.
    #[arg(long, default_value = "10/s", value_parser = parse_rate)]
    join_rate: f64,
    /// Move one participant to the next group this often (needs --groups >= 2).
    #[arg(long, value_parser = parse_duration)]
    move_every: Option<Duration>,
    /// Drop this percentage of received packets before counting (client-side, seeded).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Network impairment of the subscribers' paths, emulated by a seeded UDP relay per
    /// subscriber, on a schedule from the start of the measured window, e.g.
    /// "free for 10s, then cap=300kbit for 20s, then free" or "loss=5%". Keys: loss=P%,
    /// burst=P%/LEN, delay=D, jitter=D, reorder=P%[/D], cap=RATE, queue=D (README).
    #[arg(long)]
    impair: Option<loadtest::impairment::Schedule>,
    /// Impair the publishers' transports too, with the same schedule (their media is the
    /// `up` direction: use --impair-direction up or both).
    #[arg(long)]
    impair_publishers: bool,
    /// Which subscribers are impaired: all, indices and ranges (0-3,7), or a share (25%).
    #[arg(long, default_value = "all")]
    impair_subscribers: loadtest::impairment::SubscriberSet,
    /// What the subscribers offer for congestion control and repair: twcc-rtx (a browser's
    /// set), twcc-no-rtx, or none (no TWCC, NACK or REMB).
    #[arg(long, default_value = "twcc-rtx")]
    feedback: loadtest::Feedback,
    /// Which direction of an impaired subscriber's path: down (SFU -> subscriber), up or both.
    #[arg(long, default_value = "down")]
    impair_direction: loadtest::impairment::Direction,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The SFU's Prometheus endpoint, read when the measured window starts and ends
    /// (default: `/metrics` of the node that runs the room: the host and port of `--url`, or in
    /// a cluster the node `wrong_node` sent the joins to; `none` to skip).
    #[arg(long)]
    sfu_metrics_url: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    loadtest::impairment::parse_duration(text)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let n: f64 = text
        .trim()
        .trim_end_matches("/s")
        .parse()
        .map_err(|_| format!("bad rate {text:?} (e.g. 10/s)"))?;
    if n > 0.0 {
        Ok(n)
    } else {
        Err("the join rate must be positive".into())
    }
}

/// A participant of the run with its load-test role.
struct Member {
    name: String,
    participant: Participant,
    /// Load-test group index (0-based) when groups are used.
    group: Option<u32>,
    /// Publisher number and whether it sends video.
    publishes: Option<(u32, bool)>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => {}
        Err(error) => {
            eprintln!("loadtest: {error}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<(), ClientError> {
    let simulcast = !args.no_simulcast;
    let config_json = json!({
        "url": args.url, "room": args.room, "video_publishers": args.video_publishers,
        "audio_publishers": args.audio_publishers, "subscribers": args.subscribers,
        "groups": args.groups, "duration_s": args.duration.as_secs_f64(), "simulcast": simulcast,
        "layout": format!("{:?}", args.layout).to_lowercase(), "join_rate": args.join_rate,
        "move_every_s": args.move_every.map(|d| d.as_secs_f64()), "loss_pct": args.loss,
        "seed": args.seed, "impair": args.impair.as_ref().map(|s| s.to_string()),
        "impair_subscribers": format!("{:?}", args.impair_subscribers),
        "impair_direction": format!("{:?}", args.impair_direction).to_lowercase(),
        "impair_publishers": args.impair_publishers,
        "feedback": format!("{:?}", args.feedback),
    });
    let schedule_clock = ScheduleClock::default();
    let schedule = args.impair.clone().map(Arc::new);
    let mut impaired = HashSet::new();
    let groups = GroupNumbers::default();
    let mut failures = Vec::new();

    // The host drives breakouts; it neither publishes nor subscribes.
    let mut host = None;
    let mut sessions: Vec<SessionId> = Vec::new();
    if args.groups > 0 {
        let mut config = ParticipantConfig::new(&args.url, &args.room, "lt-host");
        config.role = "host".into();
        config.subscribe = false;
        config.groups = Arc::clone(&groups);
        let h = Participant::join(config).await?;
        sessions = create_groups(&h, args.groups, &groups).await.map_err(|e| {
            ClientError::Protocol(format!(
                "--groups {}: the server refused breakouts: {e}",
                args.groups
            ))
        })?;
        host = Some(h);
    }

    let join_gap = Duration::from_secs_f64(1.0 / args.join_rate);
    let mut members: Vec<Member> = Vec::new();
    let total = args.video_publishers + args.audio_publishers + args.subscribers;
    for i in 0..total {
        let joined_before = Instant::now();
        let (name, publishes) = if i < args.video_publishers {
            (format!("pub-{i}"), Some((i, true)))
        } else if i < args.video_publishers + args.audio_publishers {
            (format!("apub-{i}"), Some((i, false)))
        } else {
            (
                format!("sub-{}", i - args.video_publishers - args.audio_publishers),
                None,
            )
        };
        let mut config = ParticipantConfig::new(&args.url, &args.room, &name);
        config.subscribe = publishes.is_none();
        let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(i));
        let subscriber_index = i.saturating_sub(args.video_publishers + args.audio_publishers);
        // A participant's impairment applies to its downlink as a subscriber, or to its
        // uplink as a publisher with `--impair-publishers`.
        let impaired_here = match publishes {
            None => args
                .impair_subscribers
                .contains(subscriber_index, args.subscribers),
            Some(_) => args.impair_publishers,
        };
        let own_impairment = schedule.as_ref().filter(|_| impaired_here).map(|schedule| {
            impaired.insert(name.clone());
            ImpairmentConfig {
                schedule: Arc::clone(schedule),
                direction: args.impair_direction,
                seed,
                clock: schedule_clock.clone(),
            }
        });
        let (impairment, publisher_impairment) = match publishes {
            None => (own_impairment, None),
            Some(_) => (None, own_impairment),
        };
        config.subscriber = SubscriberConfig {
            loss_pct: args.loss,
            seed,
            impairment,
            feedback: args.feedback,
        };
        config.groups = Arc::clone(&groups);
        let group = (args.groups > 0).then_some(i % args.groups.max(1));
        let result = async {
            let mut participant = Participant::join(config).await?;
            // Into its group before it publishes: a main room holding everyone until the
            // last join would measure a 60-person meeting, not six groups of ten.
            if let (Some(host), Some(g)) = (&host, group) {
                move_to(host, &participant, &sessions[g as usize]).await?;
            }
            if let Some((number, video)) = publishes {
                let mut publisher = match (video, simulcast) {
                    (false, _) => PublisherConfig::audio_only(number),
                    (true, true) => PublisherConfig::simulcast(number),
                    (true, false) => PublisherConfig::single_layer(number),
                };
                publisher.impairment = publisher_impairment;
                participant.publish(&publisher).await?;
            }
            Ok::<_, ClientError>(participant)
        }
        .await;
        match result {
            Ok(participant) => members.push(Member {
                name,
                participant,
                group,
                publishes,
            }),
            Err(error) => {
                eprintln!("{name}: {error}");
                failures.push(format!("{name}: {error}"));
            }
        }
        let spent = joined_before.elapsed();
        if spent < join_gap {
            tokio::time::sleep(join_gap - spent).await;
        }
    }
    if members.iter().all(|m| m.publishes.is_some()) && args.subscribers > 0 {
        return Err(ClientError::Protocol(format!(
            "no subscriber could join: {}",
            failures.first().cloned().unwrap_or_default()
        )));
    }

    // A cluster runs the room on one node: the joins that reached another were sent there
    // (wrong_node). Say which node each participant ended up on.
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for member in &members {
        *per_node.entry(member.participant.node_url()).or_default() += 1;
    }
    for (node, count) in &per_node {
        eprintln!("node {node}: {count} participants");
    }
    // Each node's own figures for the `nodes` of the report (not with --sfu-metrics-url none).
    let scrape_nodes = args.sfu_metrics_url.as_deref() != Some("none");
    let mut nodes: Vec<report::NodeRun> = Vec::new();
    for (node, count) in &per_node {
        let url = format!("{}/metrics", loadtest::http_get::http_base(node));
        let sfu_before = if scrape_nodes {
            SfuSample::scrape(&url).await.ok()
        } else {
            None
        };
        nodes.push(report::NodeRun {
            url: (*node).to_owned(),
            participants: *count as u64,
            subscribers: members
                .iter()
                .filter(|m| m.publishes.is_none() && m.participant.node_url() == *node)
                .map(|m| m.name.clone())
                .collect(),
            sfu_before,
            sfu_after: None,
        });
    }
    // The server measured is the one that runs the room, which in a cluster need not be the
    // one `--url` names.
    let room_node = members
        .first()
        .map_or(args.url.as_str(), |member| member.participant.node_url());
    let metrics_url = match args.sfu_metrics_url.as_deref() {
        Some("none") => None,
        Some(url) => Some(url.to_owned()),
        None => Some(format!(
            "{}/metrics",
            loadtest::http_get::http_base(room_node)
        )),
    };

    apply_layout(&members, args.layout).await;

    // Measure from here: everybody joined (and moved), so the server's CPU for joins (DTLS,
    // negotiation) is not divided by the steady-state packets.
    let sfu_before = match &metrics_url {
        Some(url) => Some(SfuSample::scrape(url).await?),
        None => None,
    };
    let (video_sent_at_start, video_received_at_start) = video_snapshot(&members);
    let cpu_before = cpu::process_cpu_seconds();
    let ticks_before = MachineTicks::read();
    let started = Instant::now();
    schedule_clock.start(started);
    let mut last_progress = (Instant::now(), 0u64);
    let mut next_move = args.move_every.map(|every| started + every);
    let mut mover = 0usize;
    while started.elapsed() < args.duration {
        tokio::time::sleep(
            Duration::from_secs(1).min(args.duration.saturating_sub(started.elapsed())),
        )
        .await;
        let (tracks, packets, lost) = progress(&members);
        let pps = (packets - last_progress.1) as f64 / last_progress.0.elapsed().as_secs_f64();
        last_progress = (Instant::now(), packets);
        eprint!(
            "\r[{:>5.1}s] tracks up {tracks:>4} | {pps:>8.0} pkt/s | loss {:>5.2}%   ",
            started.elapsed().as_secs_f64(),
            if packets + lost == 0 {
                0.0
            } else {
                100.0 * lost as f64 / (packets + lost) as f64
            }
        );
        if let (Some(at), Some(host), Some(every)) = (next_move, &host, args.move_every) {
            if Instant::now() >= at && sessions.len() >= 2 {
                let candidates: Vec<usize> = (0..members.len())
                    .filter(|&i| members[i].publishes.is_none())
                    .collect();
                if !candidates.is_empty() {
                    let i = candidates[mover % candidates.len()];
                    mover += 1;
                    let to = (members[i].group.unwrap_or(0) + 1) % sessions.len() as u32;
                    let moved =
                        move_to(host, &members[i].participant, &sessions[to as usize]).await;
                    match moved {
                        Ok(_) => members[i].group = Some(to),
                        Err(error) => eprintln!("\nmove {}: {error}", members[i].name),
                    }
                }
                next_move = Some(at + every);
            }
        }
    }
    eprintln!();
    let duration = started.elapsed();
    let client_cpu = match (cpu_before, cpu::process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let machine_busy = match (ticks_before, MachineTicks::read()) {
        (Some(a), Some(b)) => b.busy_since(&a),
        _ => None,
    };
    let sfu_after = match &metrics_url {
        Some(url) => SfuSample::scrape(url).await.ok(),
        None => None,
    };
    for node in nodes.iter_mut().filter(|node| node.sfu_before.is_some()) {
        let url = format!("{}/metrics", loadtest::http_get::http_base(&node.url));
        node.sfu_after = SfuSample::scrape(&url).await.ok();
    }

    let now = Instant::now();
    let mut result = RunResult {
        config: config_json,
        duration,
        tracks_expected: expected_tracks(&members),
        sfu_before,
        sfu_after,
        client_cpu_seconds: client_cpu,
        machine_busy,
        failures,
        video_sent_at_start,
        video_received_at_start,
        window_start: Some(started),
        window_end: Some(now),
        impairment: args.impair.clone().map(|schedule| ImpairmentRun {
            schedule,
            downlink: args.impair_direction.down(),
            subscribers: impaired,
        }),
        requested_spatial: requested_layers(&members, args.layout, simulcast),
        layer_bps: if simulcast {
            PublisherConfig::simulcast(0)
        } else {
            PublisherConfig::single_layer(0)
        }
        .video
        .iter()
        .map(|l| l.bitrate_bps)
        .collect(),
        nodes,
        ..RunResult::default()
    };
    // Publisher number -> its final group, to tell a track that ended with a move.
    let group_of: HashMap<u32, Option<u32>> = members
        .iter()
        .filter_map(|p| p.publishes.map(|(number, _)| (number, p.group)))
        .collect();
    for m in &members {
        if let Some(counters) = m.participant.send_counters() {
            use std::sync::atomic::Ordering::Relaxed;
            result.packets_sent += counters.packets();
            result.video_packets_sent += counters.video_packets.load(Relaxed);
            result.late_frames += counters.late_frames.load(Relaxed);
            result.write_errors += counters.write_errors.load(Relaxed);
        }
        if let Some(mut stats) = m.participant.subscriber_stats() {
            stats.finish(now, |publisher| {
                group_of.get(&publisher).is_none_or(|g| *g == m.group)
            });
            result.subscribers.push((m.name.clone(), stats));
        }
    }
    print!("{}", report::render_table(&result));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::build_json(&result)).unwrap_or_default();
        std::fs::write(path, text + "\n")
            .map_err(|e| ClientError::Transport(format!("writing {}: {e}", path.display())))?;
    }
    for m in members {
        m.participant.close().await;
    }
    if let Some(host) = host {
        host.close().await;
    }
    Ok(())
}

/// `breakout_enable`, `breakout_create_sessions {count}`, `breakout_start`; numbers the
/// sessions 1..=count for the packet tags.
async fn create_groups(
    host: &Participant,
    count: u32,
    groups: &GroupNumbers,
) -> Result<Vec<SessionId>, ClientError> {
    host.signalling
        .request(Command::BreakoutEnable(RevisionArgs::default()))
        .await?;
    let created = host
        .signalling
        .request(Command::BreakoutCreateSessions(CreateSessionsArgs {
            sessions: None,
            count: Some(count),
            if_revision: None,
            edit_lock_token: None,
            release_edit_lock: None,
        }))
        .await?;
    let CommandResult::BreakoutCreateSessions(created) = created else {
        return Err(ClientError::Protocol(
            "breakout_create_sessions: unexpected result".into(),
        ));
    };
    let ids: Vec<SessionId> = created.sessions.into_iter().map(|s| s.id).collect();
    {
        let mut numbers = groups.lock().unwrap_or_else(|p| p.into_inner());
        for (i, id) in ids.iter().enumerate() {
            numbers.insert(id.clone(), i as u16 + 1);
        }
    }
    host.signalling
        .request(Command::BreakoutStart(StartArgs::default()))
        .await?;
    Ok(ids)
}

/// `breakout_move` of one participant into `session`, by the host.
async fn move_to(
    host: &Participant,
    participant: &Participant,
    session: &SessionId,
) -> Result<(), ClientError> {
    host.signalling
        .request(Command::BreakoutMove(MoveArgs {
            participant_ids: vec![participant.id().clone()],
            target: Location::Session(session.clone()),
            if_revision: None,
        }))
        .await
        .map(drop)
}

/// The spatial layer of `layout` for the `i`-th video publisher.
fn layout_layer(layout: Layout, i: usize) -> u8 {
    match layout {
        Layout::Speaker if i == 0 => 2,
        Layout::Speaker => 0,
        Layout::Grid => 1,
    }
}

/// Publisher number -> the layer `layout` requests of it, capped at its top layer.
fn requested_layers(members: &[Member], layout: Layout, simulcast: bool) -> HashMap<u32, u8> {
    members
        .iter()
        .filter_map(|m| match m.publishes {
            Some((number, true)) => Some(number),
            _ => None,
        })
        .enumerate()
        .map(|(i, number)| {
            let top = if simulcast { 2 } else { 0 };
            (number, layout_layer(layout, i).min(top))
        })
        .collect()
}

/// Asks each subscriber for the layers of `layout`. Failures are reported, not fatal: a
/// server without preferences still forwards its default layer.
async fn apply_layout(members: &[Member], layout: Layout) {
    let publishers: Vec<_> = members
        .iter()
        .filter(|m| matches!(m.publishes, Some((_, true))))
        .map(|m| m.participant.id().clone())
        .collect();
    for m in members.iter().filter(|m| m.publishes.is_none()) {
        for (i, publisher) in publishers.iter().enumerate() {
            let spatial = layout_layer(layout, i);
            let preference = SubscriptionPreference {
                participant_id: publisher.clone(),
                stream_id: StreamId::camera(),
                kind: None,
                paused: None,
                max_layer: Some(Layer {
                    spatial,
                    temporal: 2,
                }),
                target_size: None,
                priority: None,
            };
            if let Err(error) = m.participant.set_preference(preference).await {
                tracing::info!(subscriber = %m.name, %error, "subscription preference refused");
            }
        }
    }
}

/// Video packets sent by all publishers, and received per subscriber, so far.
fn video_snapshot(members: &[Member]) -> (u64, HashMap<String, u64>) {
    let sent = members
        .iter()
        .filter_map(|m| m.participant.send_counters())
        .map(|c| c.video_packets.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let received = members
        .iter()
        .filter_map(|m| {
            let stats = m.participant.subscriber_stats()?;
            let video = stats
                .tracks
                .values()
                .filter(|t| t.kind == signalling_proto::MediaKind::Video)
                .map(|t| t.stats.packets)
                .sum();
            Some((m.name.clone(), video))
        })
        .collect();
    (sent, received)
}

/// (tracks with packets, packets received, packets lost) over all subscribers.
fn progress(members: &[Member]) -> (u64, u64, u64) {
    let mut t = (0, 0, 0);
    for m in members {
        if let Some(s) = m.participant.subscriber_stats() {
            for track in s.tracks.values() {
                t.0 += u64::from(track.stats.packets > 0);
                t.1 += track.stats.packets;
                t.2 += track.stats.lost();
            }
        }
    }
    t
}

/// Per subscriber: the tracks of the publishers in its final group (all of them without
/// groups), audio and video each counting one.
fn expected_tracks(members: &[Member]) -> u64 {
    let publishers: HashMap<u32, (Option<u32>, bool)> = members
        .iter()
        .filter_map(|m| m.publishes.map(|(n, video)| (n, (m.group, video))))
        .collect();
    members
        .iter()
        .filter(|m| m.publishes.is_none())
        .map(|s| {
            publishers
                .values()
                .filter(|(group, _)| *group == s.group)
                .map(|(_, video)| if *video { 2 } else { 1 })
                .sum::<u64>()
        })
        .sum()
}
