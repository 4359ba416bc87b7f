//! The bitrate allocator of one downlink (ARCHITECTURE.md §4): from the downlink's bandwidth
//! estimate and its video subscriptions' demands, the layer each subscription may receive (its
//! `target`).
//!
//! Two phases, in priority order, as mediasoup's `DistributeAvailableOutgoingBitrate` and
//! LiveKit's `StreamAllocator` do: first every subscription gets its lowest layer while the
//! budget lasts, so one high layer never leaves the others with no video at all; then each one is
//! raised as far towards its best layer as what remains allows.
//!
//! Hysteresis keeps layers from flapping (DECISIONS.md §9). A downgrade happens at once, in the
//! call that sees the lower estimate. A raise above the previous target needs the new total to
//! leave `up_headroom_pct` of spare margin, and, after a downgrade, that `up_dwell` has passed
//! since it. An estimate that wobbles by ±5% around a layer's rate therefore drops that layer
//! once and does not take it back until the estimate really grows. Raises that follow raises
//! (a subscription starting up, encodings appearing one by one) do not wait: a subscriber on a
//! free link reaches its requested layer as soon as the estimate allows (issue 13, goal 3).
//!
//! Phase 2 does not trade frame rate for resolution (`trades_frame_rate_for_resolution`): it
//! does not move a subscription to a higher encoding at fewer temporal layers than its floor,
//! only keeps its current encoding at fewer of them through a dip.
//!
//! The lowest layer is special (issue 13, goal 1). An estimate that was never probed up (no RTX
//! to pad with, REMB only) says nothing about what the link can carry, so unless the caller
//! reports sustained measured congestion (`keep_lowest == false`, see `CongestionMonitor`),
//! phase 1 grants every subscription its lowest layer whatever the estimate, and only raises
//! are bounded by it.
//!
//! The allocator is pure: time comes in as `now`, it does no I/O, and its output depends only on
//! its inputs. It runs on a timer tick and when an estimate or a request changes, never per
//! packet. Its scratch space lives in the struct and the caller reuses the output `Vec`, so it
//! does not allocate in steady state.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::id::{Bitrate, Layer, MAX_ENCODINGS, MAX_TEMPORAL};

/// Bitrate of each layer a publication sends now. `rates[spatial][temporal]` is the bitrate of
/// forwarding that encoding with every temporal layer up to and including `temporal`
/// (cumulative); `None` when that layer is not being received now.
pub type LayerRates = [[Option<Bitrate>; MAX_TEMPORAL]; MAX_ENCODINGS];

/// One video subscription's demand on its downlink, as the media core sees it at this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    /// The highest layer the subscriber wants; `None` = the subscriber paused it. Each of its
    /// spatial and temporal layers is a separate cap.
    pub requested: Option<Layer>,
    pub available: LayerRates,
    /// Higher is served first (e.g. a screenshare or the active speaker).
    pub priority: u8,
    /// The target this allocator granted last time (`None`: new, or paused).
    pub target: Option<Layer>,
    /// When the target was last lowered (or paused) by the allocator; `None` when it never
    /// was. A `None` target with `Some` here reads as "paused by the allocator", whose resume
    /// waits for the dwell and needs headroom. A caller should therefore pass `None` again after
    /// the subscriber resumes from its own pause, so that the subscription starts over like a
    /// new one.
    pub lowered_at: Option<Instant>,
}

impl Demand {
    /// The highest available layer that does not exceed the request. This is the highest
    /// available spatial layer at or below the requested one, then the highest available temporal
    /// layer in it at or below the requested one. `None` when the subscriber paused the
    /// subscription or nothing at or below the request is available.
    pub fn best(&self) -> Option<Layer> {
        self.candidates().next().map(|(layer, _)| layer)
    }

    /// The lowest layer within the request: the lowest available spatial layer with its lowest
    /// available temporal layer. Phase 1 grants it to keep video flowing. `None` as for
    /// [`Demand::best`].
    pub fn lowest(&self) -> Option<Layer> {
        self.candidates().last().map(|(layer, _)| layer)
    }

    /// What phase 1 keeps for this demand while the downlink is not congested: its lowest
    /// spatial layer with every temporal layer it asked for (the full frame rate of a
    /// single-encoding camera). `None` as for [`Demand::best`].
    pub fn floor(&self) -> Option<(Layer, Bitrate)> {
        let lowest = self.lowest()?;
        self.candidates().find(|(l, _)| l.spatial == lowest.spatial)
    }

    /// The bitrate of forwarding `layer` now; `None` when it is not being received.
    pub fn rate(&self, layer: Layer) -> Option<Bitrate> {
        *self
            .available
            .get(usize::from(layer.spatial))?
            .get(usize::from(layer.temporal))?
    }

    /// The layers this demand may be given, highest first, with their rates: the available ones
    /// within the request. Empty when the subscriber paused the subscription.
    fn candidates(&self) -> impl Iterator<Item = (Layer, Bitrate)> + '_ {
        // Exclusive upper bounds; a request beyond what we model is capped, not rejected.
        let (spatial_end, temporal_end) = match self.requested {
            Some(r) => (
                usize::from(r.spatial).min(MAX_ENCODINGS - 1) + 1,
                usize::from(r.temporal).min(MAX_TEMPORAL - 1) + 1,
            ),
            None => (0, 0),
        };
        (0..spatial_end).rev().flat_map(move |s| {
            (0..temporal_end).rev().filter_map(move |t| {
                let rate = self.available[s][t]?;
                // `s` and `t` are below MAX_ENCODINGS and MAX_TEMPORAL, so they fit a u8.
                Some((Layer::new(s as u8, t as u8), rate))
            })
        })
    }

    /// Whether granting `layer` would raise this subscription above what it had. That means above
    /// its previous target, or out of a pause the allocator imposed. A new subscription has
    /// nothing to be raised from.
    fn is_raise(&self, layer: Layer) -> bool {
        match self.target {
            Some(previous) => layer > previous,
            None => self.lowered_at.is_some(),
        }
    }
}

/// Whether `layer` would give `demand` a higher resolution than its floor (the lowest encoding
/// at every requested temporal layer) at a lower frame rate than the floor, other than at the
/// resolution it has now. Such a layer is not granted, congested or not: a lower encoding at
/// its full frame rate is kept instead. An upper encoding's lower temporal layers cost about
/// what the encoding below costs at every temporal layer (L1T3 with frames of one size: h at
/// 7.5 fps ~ q at 30 fps, h at 15 fps ~ 1.7 x), so under a steady cap the estimate's wobble
/// would otherwise flip the subscriber between encodings every few seconds (each flip a
/// keyframe), or hold it on one that only just fits. Dropping temporal layers to keep the
/// current encoding through a dip is still allowed: it needs no keyframe.
fn trades_frame_rate_for_resolution(demand: &Demand, floor: Layer, layer: Layer) -> bool {
    layer.spatial > floor.spatial
        && layer.temporal < floor.temporal
        && demand.target.is_none_or(|t| t.spatial != layer.spatial)
}

/// The allocator's hysteresis constants (DECISIONS.md §9 gives the behaviour they must meet).
#[derive(Clone, Debug)]
pub struct AllocatorConfig {
    /// Extra margin, in percent of the new total, that the estimate must have before any
    /// subscription is raised above its previous target (or resumed from an allocator pause).
    /// It must exceed the estimate's usual noise (about ±5%, so a 10% swing) so that a noisy
    /// estimate cannot take back a layer it has just dropped.
    pub up_headroom_pct: u32,
    /// After a downgrade (or an allocator pause), a subscription waits this long before it is
    /// raised again. This bounds the switches per subscription when the estimate swings widely.
    /// It is also short enough that a recovered estimate restores the requested layer within
    /// 5 s.
    pub up_dwell: Duration,
}

impl Default for AllocatorConfig {
    fn default() -> AllocatorConfig {
        AllocatorConfig {
            up_headroom_pct: 15,
            up_dwell: Duration::from_secs(3),
        }
    }
}

/// Decides, for one downlink, which layer each of its video subscriptions may receive.
#[derive(Debug, Default)]
pub struct Allocator {
    config: AllocatorConfig,
    /// Demand indices in service order. Kept between calls so that steady state does not
    /// allocate.
    order: Vec<usize>,
}

impl Allocator {
    pub fn new(config: AllocatorConfig) -> Allocator {
        Allocator {
            config,
            order: Vec::new(),
        }
    }

    /// Writes one target per demand into `targets` (cleared first, same order as `demands`).
    /// `estimate == None` means no bandwidth estimate yet: no constraint. `keep_lowest`: the
    /// downlink shows no sustained measured congestion, so every demand keeps its lowest layer
    /// even where the estimate is below it.
    pub fn allocate(
        &mut self,
        now: Instant,
        estimate: Option<Bitrate>,
        keep_lowest: bool,
        demands: &[Demand],
        targets: &mut Vec<Option<Layer>>,
    ) {
        targets.clear();
        let Some(budget) = estimate else {
            targets.extend(demands.iter().map(Demand::best));
            return;
        };
        targets.resize(demands.len(), None);

        // Higher priority first. Ties go by slice order, so the result is deterministic and the
        // sort needs no stable-sort buffer.
        self.order.clear();
        self.order.extend(0..demands.len());
        self.order
            .sort_unstable_by_key(|&i| (Reverse(demands[i].priority), i));

        // Phase 1: the lowest layer for everyone while it fits. The lowest-priority subscriptions
        // are the ones paused when it does not. Without congestion, everyone keeps its floor.
        let mut total: u64 = 0;
        for &i in &self.order {
            let demand = &demands[i];
            let floor = if keep_lowest {
                demand.floor()
            } else {
                demand.candidates().last()
            };
            let Some((lowest, rate)) = floor else {
                continue;
            };
            let after = total.saturating_add(rate.0);
            if keep_lowest || self.may_grant(now, demand, lowest, after, budget) {
                targets[i] = Some(lowest);
                total = after;
            }
        }

        // Phase 2: raise each one, by priority, to the highest layer the remaining budget allows.
        // Candidates come highest first, so the first that passes is the furthest raise. Rates
        // need not grow with the layer, so every higher candidate is tried.
        for &i in &self.order {
            let demand = &demands[i];
            let Some(granted) = targets[i] else {
                continue;
            };
            let granted_rate = demand.rate(granted).map_or(0, |rate| rate.0);
            let floor = demand.floor().map_or(granted, |(layer, _)| layer);
            let others = total.saturating_sub(granted_rate);
            for (layer, rate) in demand.candidates() {
                if layer <= granted {
                    break;
                }
                if trades_frame_rate_for_resolution(demand, floor, layer) {
                    continue;
                }
                let after = others.saturating_add(rate.0);
                if self.may_grant(now, demand, layer, after, budget) {
                    targets[i] = Some(layer);
                    total = after;
                    break;
                }
            }
        }
    }

    /// Whether `demand` may be given `layer`, bringing the downlink's total to `total_after`.
    /// Keeping a layer at or below the previous target needs only that the total fits. A raise
    /// needs a settled target and the configured headroom, so that estimate noise cannot flap it.
    fn may_grant(
        &self,
        now: Instant,
        demand: &Demand,
        layer: Layer,
        total_after: u64,
        budget: Bitrate,
    ) -> bool {
        if !demand.is_raise(layer) {
            return total_after <= budget.0;
        }
        let settled = demand
            .lowered_at
            .is_none_or(|since| now.saturating_duration_since(since) >= self.config.up_dwell);
        // In u128 so that no estimate or percentage can overflow.
        let needed = u128::from(total_after) * (100 + u128::from(self.config.up_headroom_pct));
        settled && needed <= u128::from(budget.0) * 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn kbps(k: u64) -> Option<Bitrate> {
        Some(Bitrate(k * 1000))
    }

    /// A typical three-encoding VP8 L1T3 ladder, cumulative per temporal layer (kbps):
    /// q 100/130/150, h 300/400/500, f 1200/1600/2000.
    const LADDER: LayerRates = [
        [kbps(100), kbps(130), kbps(150)],
        [kbps(300), kbps(400), kbps(500)],
        [kbps(1200), kbps(1600), kbps(2000)],
    ];

    const FULL: Layer = Layer::HIGHEST;

    fn l(spatial: u8, temporal: u8) -> Option<Layer> {
        Some(Layer::new(spatial, temporal))
    }

    /// A new subscription asking for `requested` of the full ladder.
    fn demand(requested: Option<Layer>, priority: u8) -> Demand {
        Demand {
            requested,
            available: LADDER,
            priority,
            target: None,
            lowered_at: None,
        }
    }

    /// One allocation under sustained congestion (the estimate bounds every layer), checked for
    /// shape.
    fn run(
        alloc: &mut Allocator,
        now: Instant,
        estimate: Option<Bitrate>,
        demands: &[Demand],
    ) -> Vec<Option<Layer>> {
        let mut targets = Vec::new();
        alloc.allocate(now, estimate, false, demands, &mut targets);
        assert_eq!(targets.len(), demands.len());
        targets
    }

    /// One tick the way the media core drives it under congestion: allocate, then feed each
    /// target back as the next call's `target`/`lowered_at`. Returns which demands changed
    /// target.
    fn tick(
        alloc: &mut Allocator,
        now: Instant,
        estimate: Option<Bitrate>,
        demands: &mut [Demand],
        targets: &mut Vec<Option<Layer>>,
    ) -> Vec<bool> {
        tick_with(alloc, now, estimate, false, demands, targets)
    }

    fn tick_with(
        alloc: &mut Allocator,
        now: Instant,
        estimate: Option<Bitrate>,
        keep_lowest: bool,
        demands: &mut [Demand],
        targets: &mut Vec<Option<Layer>>,
    ) -> Vec<bool> {
        alloc.allocate(now, estimate, keep_lowest, demands, targets);
        assert_eq!(targets.len(), demands.len());
        let mut changed = vec![false; demands.len()];
        for ((d, &t), changed) in demands.iter_mut().zip(targets.iter()).zip(&mut changed) {
            *changed = t != d.target;
            let lowered = match (d.target, t) {
                (Some(old), Some(new)) => new < old,
                (Some(_), None) => true,
                // A new subscription that got nothing waits like a paused one.
                (None, None) => d.lowered_at.is_none() && d.requested.is_some(),
                (None, Some(_)) => false,
            };
            if lowered {
                d.lowered_at = Some(now);
            }
            d.target = t;
        }
        changed
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // With no estimate each subscription gets its best layer: capped by its request, skipping
    // layers that are not received, nothing when paused or when nothing at or below is sent.
    #[test]
    fn no_estimate_gives_best_layer_within_request() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut no_f = demand(Some(FULL), 0);
        no_f.available[2] = [None; MAX_TEMPORAL];
        let mut no_t2 = demand(Some(FULL), 0);
        for encoding in &mut no_t2.available {
            encoding[2] = None;
        }
        let mut only_h = demand(l(0, 2), 0);
        only_h.available[0] = [None; MAX_TEMPORAL];
        let demands = [
            demand(Some(FULL), 0),
            demand(l(1, 1), 0),
            demand(None, 0),
            no_f,
            Demand {
                requested: l(2, 0),
                ..no_f
            },
            no_t2,
            only_h,
        ];
        let targets = run(&mut Allocator::default(), t0, None, &demands);
        assert_eq!(
            targets,
            [l(2, 2), l(1, 1), None, l(1, 2), l(1, 0), l(2, 1), None]
        );
    }

    // A budget below everyone's lowest layer pauses every subscription.
    #[test]
    fn budget_below_every_lowest_layer_pauses_all() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [demand(Some(FULL), 0); 3];
        let targets = run(&mut Allocator::default(), t0, kbps(99), &demands);
        assert_eq!(targets, [None, None, None]);
    }

    // Room for two lowest layers among three equal-priority demands: the first two in slice
    // order get (0,0) and the third is paused.
    #[test]
    fn lowest_layers_go_in_slice_order_among_equal_priority() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [demand(Some(FULL), 0); 3];
        let targets = run(&mut Allocator::default(), t0, kbps(200), &demands);
        assert_eq!(targets, [l(0, 0), l(0, 0), None]);
    }

    // A higher-priority demand gets its lowest layer before a lower-priority one, wherever it
    // sits in the slice.
    #[test]
    fn higher_priority_is_served_first_regardless_of_order() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [
            demand(Some(FULL), 0),
            demand(Some(FULL), 0),
            demand(Some(FULL), 1),
        ];
        let targets = run(&mut Allocator::default(), t0, kbps(200), &demands);
        assert_eq!(targets, [l(0, 0), None, l(0, 0)]);
    }

    // After the lowest layers, phase 2 raises demands in priority order, each as far as the
    // remaining budget allows, until the budget runs out.
    #[test]
    fn phase_two_raises_by_priority_until_budget_runs_out() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [
            demand(Some(FULL), 0),
            demand(Some(FULL), 2),
            demand(Some(FULL), 1),
        ];
        // 3 x 100 lowest; priority 2 takes f (2000) -> 2200; priority 1 fits q/T2 (150) -> 2250;
        // priority 0 would need 2280 for q/T1 and stays at q/T0.
        let targets = run(&mut Allocator::default(), t0, kbps(2260), &demands);
        assert_eq!(targets, [l(0, 0), l(2, 2), l(0, 2)]);
    }

    // When the estimate falls below the current total, the downgrade happens in the same call,
    // even if the target changed only just now.
    #[test]
    fn estimate_drop_downgrades_in_the_same_call() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [Demand {
            target: l(2, 2),
            lowered_at: Some(t0),
            ..demand(Some(FULL), 0)
        }];
        let targets = run(&mut Allocator::default(), t0 + ms(500), kbps(600), &demands);
        assert_eq!(targets, [l(1, 2)]);
    }

    // A layer already held is kept while the total fits, with no headroom. A raise needs the
    // headroom and goes only as far as it allows.
    #[test]
    fn raise_needs_headroom_but_keeping_does_not() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(10);
        let held = Demand {
            target: l(2, 2),
            lowered_at: Some(t0),
            ..demand(Some(FULL), 0)
        };
        // Asking for two temporal layers, so that f/T1 is no lower frame rate than its floor.
        let rising = Demand {
            target: l(1, 0),
            requested: l(2, 1),
            ..held
        };
        let mut alloc = Allocator::default();
        assert_eq!(run(&mut alloc, now, kbps(2050), &[held]), [l(2, 2)]);
        // f/T1 needs 1600 x 1.15 = 1840.
        assert_eq!(run(&mut alloc, now, kbps(2050), &[rising]), [l(2, 1)]);
    }

    // Without sustained congestion every subscription keeps its lowest layer, however low the
    // estimate (one that was never probed up says nothing about the link); the estimate still
    // bounds every raise above it.
    #[test]
    fn keep_lowest_grants_every_lowest_layer_below_the_estimate() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let paused_by_allocator = Demand {
            target: None,
            lowered_at: Some(t0),
            ..demand(Some(FULL), 0)
        };
        let demands = [
            demand(Some(FULL), 0),
            demand(Some(FULL), 1),
            paused_by_allocator,
        ];
        let mut alloc = Allocator::default();
        let mut targets = Vec::new();
        // The floor is the lowest encoding at every requested temporal layer.
        alloc.allocate(t0 + ms(100), kbps(40), true, &demands, &mut targets);
        assert_eq!(targets, [l(0, 2), l(0, 2), l(0, 2)]);
        let capped = [demand(l(2, 0), 0)];
        alloc.allocate(t0 + ms(100), kbps(40), true, &capped, &mut targets);
        assert_eq!(targets, [l(0, 0)]);
        // 3 x 150 kbps of floors leave 550 of 1000 kbps: the priority-1 demand takes h/T2
        // (total 800); the next would fit h/T0 (total 950) but at a lower frame rate than its
        // floor, so it keeps its floor; the third, whose allocator pause is younger than the dwell,
        // keeps its floor.
        alloc.allocate(t0 + ms(100), kbps(1000), true, &demands, &mut targets);
        assert_eq!(targets, [l(0, 2), l(1, 2), l(0, 2)]);
    }

    // A subscription is not moved up to a higher encoding at a lower frame rate than its floor
    // (h/T0 costs about what q/T2 does), congested or not, but it keeps its encoding at fewer
    // temporal layers through a dip.
    #[test]
    fn never_trades_frame_rate_for_a_higher_encoding() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::default();
        let mut targets = Vec::new();
        // 350 kbps would raise q/T2 to h/T0 (300 x 1.15 = 345), at a quarter of the frame rate.
        let on_floor = Demand {
            target: l(0, 2),
            ..demand(Some(FULL), 0)
        };
        alloc.allocate(t0, kbps(350), true, &[on_floor], &mut targets);
        assert_eq!(targets, [l(0, 2)]);
        alloc.allocate(t0, kbps(350), true, &[demand(Some(FULL), 0)], &mut targets);
        assert_eq!(
            targets,
            [l(0, 2)],
            "a new subscription starts at full frame rate"
        );
        // Nor at half of it: h/T1 fits 400 (a new one needs no headroom).
        alloc.allocate(t0, kbps(400), true, &[demand(Some(FULL), 0)], &mut targets);
        assert_eq!(targets, [l(0, 2)]);
        // Where the subscriber asked for fewer temporal layers, that is the floor's rate.
        alloc.allocate(t0, kbps(400), true, &[demand(l(2, 1), 0)], &mut targets);
        assert_eq!(targets, [l(1, 1)]);
        alloc.allocate(t0, kbps(350), false, &[on_floor], &mut targets);
        assert_eq!(targets, [l(0, 2)], "congested: the same");
        // h/T2 with headroom (575) is a raise it takes.
        alloc.allocate(t0, kbps(600), true, &[on_floor], &mut targets);
        assert_eq!(targets, [l(1, 2)]);
        // A dip under f/T2 keeps f at fewer temporal layers.
        let on_top = Demand {
            target: l(2, 2),
            ..demand(Some(FULL), 0)
        };
        alloc.allocate(t0, kbps(1700), true, &[on_top], &mut targets);
        assert_eq!(targets, [l(2, 1)]);
    }

    // Raises that follow raises do not wait for the dwell: a subscription that started on a
    // low layer goes straight to its requested layer once the estimate allows it.
    #[test]
    fn raise_after_raise_does_not_wait() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::default();
        let mut demands = [demand(Some(FULL), 0)];
        let mut targets = Vec::new();
        tick_with(&mut alloc, t0, kbps(200), true, &mut demands, &mut targets);
        assert_eq!(targets[0], l(0, 2));
        tick_with(
            &mut alloc,
            t0 + ms(100),
            kbps(3000),
            true,
            &mut demands,
            &mut targets,
        );
        assert_eq!(targets[0], l(2, 2), "no dwell after a raise");
    }

    // A raise waits until the target has been stable for `up_dwell`.
    #[test]
    fn raise_waits_for_dwell() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let demands = [Demand {
            target: l(1, 0),
            lowered_at: Some(t0),
            ..demand(Some(FULL), 0)
        }];
        let mut alloc = Allocator::default();
        assert_eq!(
            run(&mut alloc, t0 + ms(2500), kbps(5000), &demands),
            [l(1, 0)]
        );
        assert_eq!(
            run(&mut alloc, t0 + ms(3000), kbps(5000), &demands),
            [l(2, 2)]
        );
    }

    /// A noisy estimate (±5%, seeded LCG) around `center`, ticked every 500 ms for 60 s with
    /// targets fed back. Returns each demand's change times, not counting its first grant, and
    /// how often the estimate fell below and reached `center`.
    fn noisy_run(
        config: AllocatorConfig,
        center: u64,
        mut demands: Vec<Demand>,
    ) -> (Vec<Vec<Duration>>, usize, usize) {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::new(config);
        let mut targets = Vec::new();
        let mut changes = vec![Vec::new(); demands.len()];
        let (mut below, mut above) = (0, 0);
        let mut seed: u64 = 0x5eed;
        for n in 0..=120 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let per_mille = 950 + (seed >> 33) % 101;
            let estimate = center * per_mille / 1000;
            if estimate < center {
                below += 1;
            } else {
                above += 1;
            }
            let at = ms(500 * n);
            let changed = tick(
                &mut alloc,
                t0 + at,
                Some(Bitrate(estimate)),
                &mut demands,
                &mut targets,
            );
            for (times, changed) in changes.iter_mut().zip(changed) {
                if changed && n > 0 {
                    times.push(at);
                }
            }
        }
        (changes, below, above)
    }

    fn changes_at_least_10s_apart(times: &[Duration]) -> bool {
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_secs(10))
    }

    // A steady estimate with ±5% noise right at a layer's rate changes each subscription's layer
    // at most once per 10 s. The same run without hysteresis does flap, so the scenario tests it.
    #[test]
    fn noisy_steady_estimate_changes_layer_at_most_once_per_10s() {
        let naive = AllocatorConfig {
            up_headroom_pct: 0,
            up_dwell: Duration::ZERO,
        };
        // One subscription whose h/T2 costs exactly the mean estimate; and two where the second
        // one's h/T2 sits exactly on the boundary of what the first (priority) one leaves.
        let scenarios = [
            (500_000, vec![demand(Some(FULL), 0)]),
            (
                2_500_000,
                vec![demand(Some(FULL), 1), demand(Some(FULL), 0)],
            ),
        ];
        for (center, demands) in scenarios {
            let (changes, below, above) =
                noisy_run(AllocatorConfig::default(), center, demands.clone());
            assert!(below > 10 && above > 10, "noise must cross the boundary");
            for times in &changes {
                assert!(changes_at_least_10s_apart(times), "{times:?}");
            }
            let (naive_changes, _, _) = noisy_run(naive.clone(), center, demands);
            assert!(
                naive_changes.iter().any(|t| !changes_at_least_10s_apart(t)),
                "without hysteresis the scenario must flap"
            );
        }
    }

    // A short dip downgrades at once; after the estimate recovers the requested layer is back
    // within 5 s.
    #[test]
    fn recovered_estimate_restores_requested_layer_within_5s() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::default();
        let mut demands = [demand(Some(FULL), 0)];
        let mut targets = Vec::new();
        let (dip, recovery) = (ms(10_000), ms(11_000));
        let mut restored_at = None;
        for n in 0..=60 {
            let at = ms(500 * n);
            let estimate = if (dip..recovery).contains(&at) {
                kbps(600)
            } else {
                kbps(3000)
            };
            tick(&mut alloc, t0 + at, estimate, &mut demands, &mut targets);
            if at == dip {
                assert_eq!(targets[0], l(1, 2), "down in the call that sees the dip");
            }
            if at >= recovery && targets[0] == Some(FULL) && restored_at.is_none() {
                restored_at = Some(at);
            }
        }
        let restored_at = restored_at.expect("the requested layer comes back");
        assert!(
            restored_at - recovery <= Duration::from_secs(5),
            "{restored_at:?}"
        );
    }

    // A subscription the allocator paused resumes once the lowest layer fits with headroom and
    // the pause has lasted `up_dwell`, and not before.
    #[test]
    fn allocator_pause_resumes_when_budget_allows_with_headroom() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::default();
        let mut demands = [demand(Some(FULL), 0)];
        let mut targets = Vec::new();
        let mut at = |ms_since: u64, estimate: u64| {
            let now = t0 + ms(ms_since);
            tick(&mut alloc, now, kbps(estimate), &mut demands, &mut targets);
            targets[0]
        };
        assert_eq!(
            at(0, 300),
            l(0, 2),
            "h/T0 fits, but at a lower frame rate than q/T2"
        );
        assert_eq!(at(1000, 80), None, "paused: q/T0 does not fit");
        // 120 covers q/T0 x 1.15 = 115, but the pause is younger than the dwell.
        assert_eq!(at(3500, 120), None);
        // Past the dwell, 105 fits q/T0 but not with headroom.
        assert_eq!(at(4000, 105), None);
        assert_eq!(at(4500, 120), l(0, 0));
    }

    // Steady-state calls reuse the scratch and output buffers, and the output always has one
    // target per demand.
    #[test]
    fn steady_state_does_not_grow_buffers() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut alloc = Allocator::default();
        let demands = [
            demand(Some(FULL), 0),
            demand(l(1, 1), 3),
            demand(None, 1),
            demand(Some(FULL), 2),
        ];
        let mut targets = Vec::new();
        alloc.allocate(t0, kbps(1000), false, &demands, &mut targets);
        let capacities = (alloc.order.capacity(), targets.capacity());
        for (n, estimate) in [kbps(1000), None, kbps(50), kbps(5000)]
            .into_iter()
            .enumerate()
        {
            for len in [demands.len(), 0, 2] {
                let now = t0 + ms(500 * (n as u64 + 1));
                alloc.allocate(now, estimate, n % 2 == 0, &demands[..len], &mut targets);
                assert_eq!(targets.len(), len);
                assert_eq!((alloc.order.capacity(), targets.capacity()), capacities);
            }
        }
    }
}
