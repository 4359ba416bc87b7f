//! What network impairment a run applies, and when: the settings of one link ([`LinkSettings`]:
//! random loss, Gilbert-Elliott burst loss, delay, jitter, reordering, a rate cap with a
//! bounded queue) and a schedule of them ([`Schedule`]), parsed from the `--impair` text.
//!
//! The kernel here has no `netem`, so the load tester emulates the link itself in user space
//! ([`crate::link_model`], [`crate::impair_relay`]); everything is seeded so a run repeats.
//!
//! Schedule syntax: phases separated by `, then ` (or `;`), each `free` or a list of
//! `key=value` settings, optionally ending in `for DURATION` (the last phase lasts for ever):
//!
//! ```text
//! free for 10s, then cap=300kbit for 20s, then free
//! loss=5%
//! burst=5%/4 delay=40ms jitter=10ms reorder=1%
//! cap=1mbit queue=100ms for 30s; free
//! ```
//!
//! Keys: `loss=P%` (independent random loss), `burst=P%/L` (Gilbert-Elliott: P % of packets
//! lost in bursts of L packets on average), `delay=D`, `jitter=D` (uniform 0..D added per
//! packet; order kept unless `reorder`), `reorder=P%` or `reorder=P%/D` (P % of packets held
//! back D more, 10 ms by default, so later ones overtake them), `cap=R` (`300kbit`, `2mbit`,
//! `64000`: bits per second on the wire, counting 28 bytes of IPv4 + UDP header per packet),
//! `queue=D` (the longest a packet may wait at the cap before it is tail-dropped, 200 ms by
//! default, like `tbf ... latency`).

use std::fmt;
use std::time::Duration;

/// How long a packet may queue at the rate cap by default before it is dropped.
pub const DEFAULT_QUEUE: Duration = Duration::from_millis(200);
/// How much longer a reordered packet is held by default.
pub const DEFAULT_REORDER_GAP: Duration = Duration::from_millis(10);

/// Gilbert-Elliott two-state loss (good: nothing lost, bad: everything lost), given as the
/// long-run loss fraction and the mean burst length in packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// Fraction of packets lost in the long run (0..1).
    pub loss: f64,
    /// Mean burst length in packets (>= 1).
    pub mean_burst: f64,
}

impl BurstLoss {
    /// Probability of entering the bad state from the good one, per packet.
    pub fn p_good_to_bad(&self) -> f64 {
        // Stationary P(bad) = p / (p + r) = loss, with r = 1 / mean_burst.
        let r = self.p_bad_to_good();
        (self.loss * r / (1.0 - self.loss).max(1e-9)).min(1.0)
    }

    /// Probability of leaving the bad state, per packet.
    pub fn p_bad_to_good(&self) -> f64 {
        1.0 / self.mean_burst.max(1.0)
    }
}

/// The impairment of one direction of one link during one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSettings {
    /// Fraction (0..1) of packets lost at random, independently.
    pub loss: f64,
    pub burst: Option<BurstLoss>,
    pub delay: Duration,
    pub jitter: Duration,
    /// Fraction (0..1) of packets held back by `reorder_gap`.
    pub reorder: f64,
    pub reorder_gap: Duration,
    /// Bits per second on the wire.
    pub cap_bps: Option<u64>,
    /// The longest queueing delay at the cap before a tail drop.
    pub queue: Duration,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            loss: 0.0,
            burst: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_gap: DEFAULT_REORDER_GAP,
            cap_bps: None,
            queue: DEFAULT_QUEUE,
        }
    }
}

impl LinkSettings {
    /// No impairment at all: packets pass at once.
    pub fn is_free(&self) -> bool {
        self.loss == 0.0
            && self.burst.is_none()
            && self.delay.is_zero()
            && self.jitter.is_zero()
            && self.reorder == 0.0
            && self.cap_bps.is_none()
    }
}

impl fmt::Display for LinkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_free() {
            return f.write_str("free");
        }
        let mut parts = Vec::new();
        if self.loss > 0.0 {
            parts.push(format!("loss={}%", self.loss * 100.0));
        }
        if let Some(b) = self.burst {
            parts.push(format!("burst={}%/{}", b.loss * 100.0, b.mean_burst));
        }
        if !self.delay.is_zero() {
            parts.push(format!("delay={}ms", self.delay.as_millis()));
        }
        if !self.jitter.is_zero() {
            parts.push(format!("jitter={}ms", self.jitter.as_millis()));
        }
        if self.reorder > 0.0 {
            parts.push(format!(
                "reorder={}%/{}ms",
                self.reorder * 100.0,
                self.reorder_gap.as_millis()
            ));
        }
        if let Some(cap) = self.cap_bps {
            parts.push(format!("cap={}kbit", cap as f64 / 1000.0));
            if self.queue != DEFAULT_QUEUE {
                parts.push(format!("queue={}ms", self.queue.as_millis()));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// One phase of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub settings: LinkSettings,
    /// `None`: until the end of the run.
    pub lasts: Option<Duration>,
}

/// Phases one after the other, from the start of the measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub phases: Vec<Phase>,
}

impl Schedule {
    /// One phase for the whole run.
    pub fn constant(settings: LinkSettings) -> Self {
        Self {
            phases: vec![Phase {
                settings,
                lasts: None,
            }],
        }
    }

    /// The settings `elapsed` after the schedule started; free after the last timed phase.
    pub fn settings_at(&self, elapsed: Duration) -> &LinkSettings {
        static FREE: std::sync::OnceLock<LinkSettings> = std::sync::OnceLock::new();
        let mut start = Duration::ZERO;
        for phase in &self.phases {
            match phase.lasts {
                None => return &phase.settings,
                Some(d) if elapsed < start + d => return &phase.settings,
                Some(d) => start += d,
            }
        }
        FREE.get_or_init(LinkSettings::default)
    }

    /// Each phase with its start and end offsets (`None`: open end).
    pub fn spans(&self) -> Vec<(Duration, Option<Duration>, &LinkSettings)> {
        let mut start = Duration::ZERO;
        let mut spans = Vec::new();
        for phase in &self.phases {
            let end = phase.lasts.map(|d| start + d);
            spans.push((start, end, &phase.settings));
            match end {
                Some(e) => start = e,
                None => break,
            }
        }
        spans
    }

    /// The periods with a rate cap, as offsets from the schedule's start, consecutive capped
    /// phases merged: `(cap start, cap lift)`, the lift `None` when the cap lasts to the end.
    pub fn cap_periods(&self) -> Vec<(Duration, Option<Duration>)> {
        let mut periods: Vec<(Duration, Option<Duration>)> = Vec::new();
        for (start, end, settings) in self.spans() {
            if settings.cap_bps.is_none() {
                continue;
            }
            match periods.last_mut() {
                Some((_, last_end)) if *last_end == Some(start) => *last_end = end,
                _ => periods.push((start, end)),
            }
        }
        periods
    }

    /// The offsets where one phase ends and another begins.
    pub fn boundaries(&self) -> Vec<Duration> {
        self.spans().iter().filter_map(|(_, end, _)| *end).collect()
    }

    /// Whether no phase impairs anything.
    pub fn is_free(&self) -> bool {
        self.phases.iter().all(|p| p.settings.is_free())
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p| match p.lasts {
                Some(d) => format!("{} for {}s", p.settings, d.as_secs_f64()),
                None => p.settings.to_string(),
            })
            .collect();
        f.write_str(&phases.join(", then "))
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut phases = Vec::new();
        for part in text.split([',', ';']) {
            let part = part.trim();
            let part = part.strip_prefix("then").unwrap_or(part).trim();
            if part.is_empty() {
                return Err(format!("empty phase in {text:?}"));
            }
            phases.push(parse_phase(part)?);
        }
        if let Some(i) = phases[..phases.len() - 1]
            .iter()
            .position(|p| p.lasts.is_none())
        {
            return Err(format!(
                "phase {} of {text:?} has no `for DURATION` but is not the last",
                i + 1
            ));
        }
        Ok(Schedule { phases })
    }
}

fn parse_phase(text: &str) -> Result<Phase, String> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut lasts = None;
    if let Some(at) = words.iter().position(|w| *w == "for") {
        if at + 2 != words.len() {
            return Err(format!("`for DURATION` must end the phase: {text:?}"));
        }
        lasts = Some(parse_duration(words[at + 1])?);
        words.truncate(at);
    }
    let mut settings = LinkSettings::default();
    for word in words {
        if word == "free" {
            continue;
        }
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value or `free`, got {word:?}"))?;
        match key {
            "loss" => settings.loss = parse_fraction(value)?,
            "burst" => {
                let (loss, len) = value
                    .split_once('/')
                    .ok_or_else(|| format!("burst=LOSS%/MEAN_LENGTH, got {value:?}"))?;
                let mean_burst: f64 = len
                    .parse()
                    .map_err(|_| format!("bad burst length {len:?}"))?;
                if mean_burst.is_nan() || mean_burst < 1.0 {
                    return Err(format!("burst length must be >= 1, got {len:?}"));
                }
                let loss = parse_fraction(loss)?;
                if loss >= 1.0 {
                    return Err("burst loss must be below 100%".into());
                }
                settings.burst = Some(BurstLoss { loss, mean_burst });
            }
            "delay" => settings.delay = parse_duration(value)?,
            "jitter" => settings.jitter = parse_duration(value)?,
            "reorder" => match value.split_once('/') {
                Some((p, gap)) => {
                    settings.reorder = parse_fraction(p)?;
                    settings.reorder_gap = parse_duration(gap)?;
                }
                None => settings.reorder = parse_fraction(value)?,
            },
            "cap" => settings.cap_bps = Some(parse_bitrate(value)?),
            "queue" => settings.queue = parse_duration(value)?,
            _ => {
                return Err(format!(
                    "unknown setting {key:?} (loss, burst, delay, jitter, reorder, cap, queue)"
                ))
            }
        }
    }
    Ok(Phase { settings, lasts })
}

/// `5%` or `0.05` -> 0.05.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    let value = number
        .parse::<f64>()
        .map_err(|_| format!("bad fraction {text:?} (e.g. 5%)"))?
        * scale;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text:?} is not between 0 and 100%"))
    }
}

/// `300kbit`, `1.5mbit`, `300k`, `64000` -> bits per second.
pub fn parse_bitrate(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let lower = lower
        .trim_end_matches("bps")
        .trim_end_matches("bit")
        .trim_end_matches("/s");
    let (number, scale) = if let Some(n) = lower.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1e6)
    } else {
        (lower, 1.0)
    };
    let bps = number
        .parse::<f64>()
        .map_err(|_| format!("bad rate {text:?} (e.g. 300kbit)"))?
        * scale;
    if bps >= 1000.0 {
        Ok(bps as u64)
    } else {
        Err(format!("rate {text:?} is below 1 kbit/s"))
    }
}

/// `30s`, `500ms`, `2m`, `1.5` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| text.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {text:?} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Which subscribers of a run are impaired: `all`, a list of indices and ranges (`0-3,7`), or
/// a share (`25%`: the first quarter, rounded up).
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriberSet {
    All,
    Indices(Vec<(u32, u32)>),
    Share(f64),
}

impl SubscriberSet {
    /// Whether subscriber `index` of `count` is in the set.
    pub fn contains(&self, index: u32, count: u32) -> bool {
        match self {
            SubscriberSet::All => true,
            SubscriberSet::Indices(ranges) => {
                ranges.iter().any(|(a, b)| (*a..=*b).contains(&index))
            }
            SubscriberSet::Share(share) => f64::from(index) < (share * f64::from(count)).ceil(),
        }
    }
}

impl std::str::FromStr for SubscriberSet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "all" {
            return Ok(SubscriberSet::All);
        }
        if text.ends_with('%') {
            return parse_fraction(text).map(SubscriberSet::Share);
        }
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let number = |s: &str| {
                s.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("bad subscriber index {s:?} (e.g. 0-3,7 or 25% or all)"))
            };
            let range = match part.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(part)?, number(part)?),
            };
            if range.0 > range.1 {
                return Err(format!("empty range {part:?}"));
            }
            ranges.push(range);
        }
        Ok(SubscriberSet::Indices(ranges))
    }
}

/// Which directions of an impaired subscriber's path the schedule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// SFU -> subscriber (media).
    Down,
    /// Subscriber -> SFU (RTCP feedback: NACK, TWCC, receiver reports).
    Up,
    Both,
}

impl Direction {
    pub fn down(self) -> bool {
        matches!(self, Direction::Down | Direction::Both)
    }

    pub fn up(self) -> bool {
        matches!(self, Direction::Up | Direction::Both)
    }
}

impl std::str::FromStr for Direction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "down" => Ok(Direction::Down),
            "up" => Ok(Direction::Up),
            "both" => Ok(Direction::Both),
            _ => Err(format!("direction {text:?}: down, up or both")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The issue's example schedule parses into three phases with the cap in the middle.
    #[test]
    fn parses_a_cap_schedule() {
        let s: Schedule = "free for 10s, then cap=300kbit for 20s, then free"
            .parse()
            .unwrap();
        assert_eq!(s.phases.len(), 3);
        assert_eq!(s.phases[1].settings.cap_bps, Some(300_000));
        assert_eq!(s.phases[1].lasts, Some(Duration::from_secs(20)));
        assert_eq!(
            s.cap_periods(),
            vec![(Duration::from_secs(10), Some(Duration::from_secs(30)))]
        );
        assert!(s.settings_at(Duration::from_secs(5)).is_free());
        assert_eq!(
            s.settings_at(Duration::from_secs(15)).cap_bps,
            Some(300_000)
        );
        assert!(s.settings_at(Duration::from_secs(31)).is_free());
        assert_eq!(
            s.boundaries(),
            vec![Duration::from_secs(10), Duration::from_secs(30)]
        );
    }

    // Every key parses with its unit, and the text round-trips through Display.
    #[test]
    fn parses_every_setting() {
        let s: Schedule =
            "loss=5% burst=2%/4 delay=40ms jitter=10ms reorder=1%/20ms cap=1.5mbit queue=100ms"
                .parse()
                .unwrap();
        let l = &s.phases[0].settings;
        assert!((l.loss - 0.05).abs() < 1e-12);
        assert_eq!(
            l.burst,
            Some(BurstLoss {
                loss: 0.02,
                mean_burst: 4.0
            })
        );
        assert_eq!(l.delay, Duration::from_millis(40));
        assert_eq!(l.jitter, Duration::from_millis(10));
        assert_eq!(l.reorder_gap, Duration::from_millis(20));
        assert_eq!(l.cap_bps, Some(1_500_000));
        assert_eq!(l.queue, Duration::from_millis(100));
        let again: Schedule = s.to_string().parse().unwrap();
        assert_eq!(again, s);
    }

    // Bad input is an error that names the problem, never a panic.
    #[test]
    fn rejects_bad_schedules() {
        for bad in [
            "",
            "loss=5",
            "loss=150%",
            "cap=300kbit for 10s extra",
            "cap=300kbit, then free",
            "bogus=1",
            "burst=5%",
            "burst=5%/0",
            "cap=0",
            "delay=5h",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad:?} parsed");
        }
    }

    // Subscriber sets: ranges, lists and shares.
    #[test]
    fn subscriber_sets() {
        let s: SubscriberSet = "0-3,7".parse().unwrap();
        assert!(s.contains(0, 10) && s.contains(3, 10) && s.contains(7, 10));
        assert!(!s.contains(4, 10));
        let share: SubscriberSet = "25%".parse().unwrap();
        let n = (0..10).filter(|i| share.contains(*i, 10)).count();
        assert_eq!(n, 3);
        assert!("3-1".parse::<SubscriberSet>().is_err());
        assert!("x".parse::<SubscriberSet>().is_err());
    }

    // Gilbert-Elliott transition probabilities give the configured long-run loss.
    #[test]
    fn burst_loss_stationary_share() {
        let b = BurstLoss {
            loss: 0.05,
            mean_burst: 4.0,
        };
        let (p, r) = (b.p_good_to_bad(), b.p_bad_to_good());
        assert!((p / (p + r) - 0.05).abs() < 1e-12);
    }
}
