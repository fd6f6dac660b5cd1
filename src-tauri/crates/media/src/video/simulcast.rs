//! Simulcast: the same picture sent at several sizes at once, so that the server can forward to
//! each viewer the size that fits their tile and their link, without asking us to change what
//! we send.
//!
//! The layers are halvings of the source (a 720p camera: 180p, 360p and 720p; a 360p one: 180p
//! and 360p). The budget is spent bottom up, as browsers do: the smallest layer first, since it
//! is what every viewer can fall back to; a bigger layer only once every smaller one has its
//! target rate and the bigger one its minimum. The biggest layer that is on takes what is left,
//! up to what it can use. Layers that the budget does not carry are paused (nothing is sent on
//! them; the server falls back to a smaller one for the viewers who asked for them).
//!
//! The smallest layer is a [`VideoLadder`] of its own: when the budget carries nothing above it,
//! it shrinks further and drops frames exactly as a single stream does, and video pauses below
//! the floor, audio first.
//!
//! A layer switched on costs a keyframe, so layers come on only after the budget has carried them
//! with margin for a while, and go off at once. Sans-IO: time comes in milliseconds.
//!
//! The estimate grows to at most half again what arrives, and an encoder with little to say (a
//! calm picture) sends less than its layer may: the estimate then stays below the next layer's
//! margin however wide the path. While the estimator says so ([`set_held_by_sending`]), the next
//! layer is tried once the budget is half of what it needs, for [`TRY_AFTER_MS`]: it is sent at
//! its minimum even above the estimate, and its own packets show whether the path takes them
//! (libwebrtc probes such a path with padding at twice its estimate; webrtc-rs cannot send
//! padding). The try ends when the path shows a queue (the estimate no longer held by what we
//! send) while the budget does not carry the layer, or after [`TRY_HOLD_MS`]; if the layer goes
//! off then, the next try waits twice as long, up to [`TRY_MAX_WAIT_MS`].
//!
//! [`set_held_by_sending`]: SimulcastLadder::set_held_by_sending

use super::ladder::{
    AUDIO_RESERVE_BPS, PAYLOAD_SHARE, UP_AFTER_MS, UP_MARGIN, VideoLadder, VideoPlan, halve,
    max_bps, min_bps,
};

/// At most this many layers (180p, 360p, 720p from a 720p source).
pub const MAX_LAYERS: usize = 3;
/// A layer is tried when the budget is at least this share of what it needs while the estimate
/// is held by what we send (the estimate is at most 1.5 × what arrives; libwebrtc probes such a
/// path at twice its estimate) ...
const TRY_REACH: f64 = 2.0;
/// ... after this long ...
pub const TRY_AFTER_MS: u64 = 8_000;
/// ... and twice as long after each try that did not hold, up to this.
pub const TRY_MAX_WAIT_MS: u64 = 64_000;
/// A try is kept on for up to this long while the estimate stays held by what we send, and
/// holds when the budget carries it by then.
pub const TRY_HOLD_MS: u64 = 10_000;

/// How many layers a source of this size is sent as: one per halving that stays at least
/// 320×180-ish (a smaller picture is not worth its own layer).
pub fn layer_count(width: u32, height: u32) -> usize {
    let short = width.min(height);
    match short {
        s if s >= 540 => 3,
        s if s >= 270 => 2,
        _ => 1,
    }
}

/// The rate a layer of `pixels` gets when a bigger layer is sent above it (bit/s): about what
/// browsers give their simulcast layers (180p 150 kbit/s, 360p 480 kbit/s, 720p 1.8 Mbit/s).
fn target_bps(pixels: u32) -> u32 {
    (f64::from(pixels) * 1.9 + 40_000.0) as u32
}

/// The sizes and rates of a simulcast track's layers, and which of them the budget carries.
#[derive(Debug, Clone)]
pub struct SimulcastLadder {
    source: (u32, u32),
    layers: usize,
    /// The smallest layer, which adapts like a single stream.
    base: VideoLadder,
    /// How many layers above the smallest are on.
    upper_on: usize,
    /// Since when the budget has carried the next layer with margin.
    up_since: Option<u64>,
    /// How many layers encoding can afford ([`super::load::EncodeLoad`]); the rest stay off
    /// whatever the budget.
    affordable: usize,
    /// Whether the estimate is held by what we send rather than by the path.
    held_by_sending: bool,
    /// Since when the budget has carried the next layer's minimum while held by sending.
    try_since: Option<u64>,
    /// How long that must last before a try.
    try_wait_ms: u64,
    /// The layer switched on as a try, and when, until it held or went off.
    tried: Option<(usize, u64)>,
}

impl SimulcastLadder {
    /// A track of `layers` layers (fixed when it was negotiated) for a source of this size; all
    /// layers above the smallest start off and come on as the budget allows.
    pub fn new(width: u32, height: u32, layers: usize) -> Self {
        let layers = layers.clamp(1, MAX_LAYERS);
        let mut ladder = Self {
            source: (width, height),
            layers,
            base: VideoLadder::new(1, 1),
            upper_on: 0,
            up_since: None,
            affordable: layers,
            held_by_sending: false,
            try_since: None,
            try_wait_ms: TRY_AFTER_MS,
            tried: None,
        };
        ladder.reset_base();
        ladder
    }

    fn reset_base(&mut self) {
        let (w, h) = self.size(0);
        self.base = VideoLadder::new(w, h);
        self.base.set_headroom(self.headroom(0));
    }

    /// How many layers this track has.
    pub fn layers(&self) -> usize {
        self.layers
    }

    /// The source changed size (another camera): the layers follow it; the next plan corrects
    /// what the budget does not carry.
    pub fn set_source(&mut self, width: u32, height: u32) {
        if (width, height) != self.source {
            self.source = (width, height);
            self.reset_base();
        }
    }

    /// At most this many layers (the smallest first) are sent, whatever the budget: encoding
    /// the others takes more than this computer has. Bigger layers that are on go off at the
    /// next plan.
    pub fn set_affordable(&mut self, layers: usize) {
        self.affordable = layers.clamp(1, self.layers);
    }

    /// Whether the estimate is held by what we send (the estimator says so:
    /// [`EstimateStats::held_by_sending`](crate::congestion::EstimateStats::held_by_sending)):
    /// then the next layer is tried once the budget carries its minimum.
    pub fn set_held_by_sending(&mut self, held: bool) {
        self.held_by_sending = held;
    }

    /// How many layers may be on: those the track has and encoding can afford.
    fn usable(&self) -> usize {
        self.layers.min(self.affordable)
    }

    /// Layer `i`'s full size (0: the smallest).
    pub fn size(&self, i: usize) -> (u32, u32) {
        halve(
            self.source,
            (self.layers - 1 - i.min(self.layers - 1)) as u32,
        )
    }

    fn pixels(&self, i: usize) -> u32 {
        let (w, h) = self.size(i);
        w * h
    }

    /// Video budget needed to send layer `k` at its minimum with every smaller layer at its
    /// target.
    fn needed(&self, k: usize) -> u32 {
        (0..k).map(|j| target_bps(self.pixels(j))).sum::<u32>() + min_bps(self.pixels(k))
    }

    /// What the highest layer that is on may spend beyond what it needs: enough that the
    /// estimate can grow to the next layer's threshold.
    fn headroom(&self, top: usize) -> u32 {
        if top + 1 >= self.usable() {
            return 0;
        }
        let below: u32 = (0..top).map(|j| target_bps(self.pixels(j))).sum();
        ((f64::from(self.needed(top + 1)) * UP_MARGIN * 1.1) as u32).saturating_sub(below)
    }

    /// One plan per layer, smallest first, for a total sending estimate of `estimate_bps`.
    pub fn plan(&mut self, now_ms: u64, estimate_bps: u32) -> Vec<VideoPlan> {
        let video = estimate_bps.saturating_sub(AUDIO_RESERVE_BPS);
        self.follow_budget(now_ms, video);
        // A layer being tried gets its minimum even above the estimate: its packets are what
        // shows whether the path carries it.
        let video = match self.protected_try(now_ms) {
            Some(layer) => video.max(self.needed(layer)),
            None => video,
        };
        let top = self.upper_on;
        let mut plans = Vec::with_capacity(self.layers);
        if top == 0 {
            self.base.set_headroom(self.headroom(0));
            plans.push(self.base.plan(now_ms, estimate_bps));
        } else {
            // The smallest layer at its target: the ladder keeps it at full size.
            let target = target_bps(self.pixels(0));
            plans.push(self.base.plan(now_ms, AUDIO_RESERVE_BPS + target));
            let mut spent = target;
            for i in 1..=top {
                let rate = if i < top {
                    target_bps(self.pixels(i))
                } else {
                    let cap = max_bps(self.pixels(i)).max(self.headroom(i));
                    video.saturating_sub(spent).min(cap)
                };
                spent += rate;
                plans.push(self.layer_plan(i, rate, false));
            }
        }
        for i in plans.len()..self.layers {
            plans.push(self.layer_plan(i, 0, true));
        }
        plans
    }

    /// Switch upper layers off at once when the budget no longer carries them, and on one at a
    /// time after it has carried the next one with margin for a while (or as a try, see the
    /// module's documentation).
    fn follow_budget(&mut self, now_ms: u64, video: u32) {
        self.upper_on = self.upper_on.min(self.usable() - 1);
        if self.tried.is_some_and(|(layer, _)| layer > self.upper_on) {
            // Encoding cannot afford it: no verdict on the path.
            self.tried = None;
        }
        let protected = self.protected_try(now_ms);
        while self.upper_on > 0
            && video < self.needed(self.upper_on)
            && protected != Some(self.upper_on)
        {
            if self.tried.is_some_and(|(layer, _)| layer == self.upper_on) {
                // The path did not take it.
                self.try_wait_ms = (self.try_wait_ms * 2).min(TRY_MAX_WAIT_MS);
                self.tried = None;
            }
            self.upper_on -= 1;
            self.up_since = None;
            self.try_since = None;
        }
        if let Some((layer, at)) = self.tried
            && now_ms.saturating_sub(at) >= TRY_HOLD_MS
            && video >= self.needed(layer)
        {
            // It held: the next try waits the shortest time again.
            self.tried = None;
            self.try_wait_ms = TRY_AFTER_MS;
        }
        let next = self.upper_on + 1;
        if next >= self.usable() || self.tried.is_some() {
            self.up_since = None;
            self.try_since = None;
            return;
        }
        let needed = f64::from(self.needed(next));
        if f64::from(video) >= needed * UP_MARGIN {
            let since = *self.up_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= UP_AFTER_MS {
                self.switch_on(next, None);
                return;
            }
        } else {
            self.up_since = None;
        }
        if self.held_by_sending && f64::from(video) * TRY_REACH >= needed {
            let since = *self.try_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= self.try_wait_ms {
                self.switch_on(next, Some(now_ms));
            }
        } else {
            self.try_since = None;
        }
    }

    /// The layer being tried, while it is kept on whatever the budget: for [`TRY_HOLD_MS`], as
    /// long as the estimate is still held by what we send (no queue grew on the path).
    fn protected_try(&self, now_ms: u64) -> Option<usize> {
        let (layer, at) = self.tried?;
        (self.held_by_sending && now_ms.saturating_sub(at) < TRY_HOLD_MS).then_some(layer)
    }

    /// Switch the next layer on (`tried`: as a try, at that time).
    fn switch_on(&mut self, next: usize, tried: Option<u64>) {
        self.upper_on = next;
        self.up_since = None;
        self.try_since = None;
        if let Some(at) = tried {
            self.tried = Some((next, at));
        }
    }

    fn layer_plan(&self, i: usize, video_bps: u32, paused: bool) -> VideoPlan {
        let (width, height) = self.size(i);
        VideoPlan {
            width,
            height,
            frame_divisor: 1,
            bitrate_kbps: ((f64::from(video_bps) * PAYLOAD_SHARE) as u32 / 1000).max(30),
            paused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sending(plans: &[VideoPlan]) -> Vec<(u32, u32)> {
        plans
            .iter()
            .filter(|p| !p.paused)
            .map(|p| (p.width, p.height))
            .collect()
    }

    /// Run the ladder at a steady estimate for `secs`, from `t`; the time after.
    fn settle(ladder: &mut SimulcastLadder, t: u64, secs: u64, estimate: u32) -> u64 {
        for step in 0..secs * 10 {
            ladder.plan(t + step * 100, estimate);
        }
        t + secs * 1000
    }

    #[test]
    fn sources_get_a_layer_per_useful_halving() {
        assert_eq!(layer_count(1280, 720), 3);
        assert_eq!(layer_count(1920, 1080), 3);
        assert_eq!(layer_count(640, 360), 2);
        assert_eq!(layer_count(640, 480), 2);
        assert_eq!(layer_count(320, 180), 1);
        assert_eq!(layer_count(2, 2), 1);
        let ladder = SimulcastLadder::new(1280, 720, 3);
        assert_eq!(
            (ladder.size(0), ladder.size(1), ladder.size(2)),
            ((320, 180), (640, 360), (1280, 720))
        );
    }

    #[test]
    fn a_good_link_carries_every_layer_after_they_came_on_one_by_one() {
        let mut ladder = SimulcastLadder::new(1280, 720, 3);
        // At first only the smallest layer: the others come on after the budget carried them.
        assert_eq!(sending(&ladder.plan(0, 3_000_000)), vec![(320, 180)]);
        let t = settle(&mut ladder, 0, 5, 3_000_000);
        assert_eq!(sending(&ladder.plan(t, 3_000_000)).len(), 2);
        let t = settle(&mut ladder, t, 5, 3_000_000);
        let plans = ladder.plan(t, 3_000_000);
        assert_eq!(sending(&plans), vec![(320, 180), (640, 360), (1280, 720)]);
        // Smaller layers at their targets, the top one takes the rest, all within the budget.
        let total: u32 = plans.iter().map(|p| p.bitrate_kbps).sum();
        assert!(total * 1000 <= 3_000_000 - AUDIO_RESERVE_BPS, "{plans:?}");
        assert!(
            plans[0].bitrate_kbps > 120 && plans[0].bitrate_kbps < 160,
            "{plans:?}"
        );
        assert!(plans[2].bitrate_kbps > 1500, "{plans:?}");
    }

    #[test]
    fn a_falling_budget_switches_the_big_layers_off_at_once_audio_first() {
        let mut ladder = SimulcastLadder::new(1280, 720, 3);
        let t = settle(&mut ladder, 0, 12, 3_000_000);
        assert_eq!(sending(&ladder.plan(t, 3_000_000)).len(), 3);
        // 500 kbit/s: 180p at its target and 360p with the rest; no 720p.
        let plans = ladder.plan(t + 100, 500_000);
        assert_eq!(sending(&plans), vec![(320, 180), (640, 360)]);
        let total: u32 = plans
            .iter()
            .filter(|p| !p.paused)
            .map(|p| p.bitrate_kbps)
            .sum();
        assert!(total * 1000 <= 500_000 - AUDIO_RESERVE_BPS, "{plans:?}");
        // 200 kbit/s: the smallest layer alone.
        assert_eq!(sending(&ladder.plan(t + 200, 200_000)), vec![(320, 180)]);
        // Below that the smallest layer adapts as a single stream: smaller, then fewer frames,
        // then paused, leaving the link to audio.
        let plans = ladder.plan(t + 300, AUDIO_RESERVE_BPS + 60_000);
        assert_eq!(sending(&plans), vec![(160, 90)]);
        let plans = ladder.plan(t + 400, AUDIO_RESERVE_BPS + 30_000);
        assert!(plans[0].frame_divisor > 1, "{plans:?}");
        assert!(
            ladder
                .plan(t + 500, AUDIO_RESERVE_BPS)
                .iter()
                .all(|p| p.paused)
        );
    }

    #[test]
    fn a_wobbling_budget_does_not_switch_layers_on_and_off() {
        let mut ladder = SimulcastLadder::new(640, 360, 2);
        let mut on = Vec::new();
        for step in 0..200u64 {
            // Plenty for 360p for 2 s, then only enough for 180p, and so on.
            let estimate = if step % 40 < 20 { 1_500_000 } else { 260_000 };
            let layers = sending(&ladder.plan(step * 100, estimate)).len();
            if on.last() != Some(&layers) {
                on.push(layers);
            }
        }
        assert_eq!(on, vec![1], "the 360p layer came on: {on:?}");
    }

    #[test]
    fn the_smallest_layer_alone_may_spend_enough_for_the_estimate_to_reach_the_next() {
        let mut ladder = SimulcastLadder::new(640, 360, 2);
        let plans = ladder.plan(0, 2_000_000);
        assert_eq!(sending(&plans), vec![(320, 180)]);
        // The estimate grows to at most 1.5 × what arrives: 180p capped at what it needs
        // (~260 kbit/s) would hold it under 360p's threshold for good.
        let threshold = f64::from(ladder.needed(1)) * UP_MARGIN;
        let sent = f64::from(plans[0].bitrate_kbps * 1000) / PAYLOAD_SHARE + 60_000.0;
        assert!(
            sent * 1.5 > threshold + 60_000.0,
            "{plans:?} vs {threshold}"
        );
    }

    /// When the next layer of a 360p track (two layers) comes on at a steady `estimate`, from
    /// `from`; `None` if not within `secs`.
    fn on_after(ladder: &mut SimulcastLadder, from: u64, secs: u64, estimate: u32) -> Option<u64> {
        (0..secs * 10)
            .map(|step| from + step * 100)
            .find(|&t| sending(&ladder.plan(t, estimate)).len() == 2)
    }

    #[test]
    fn an_estimate_held_by_what_is_sent_tries_the_next_layer_at_its_minimum() {
        let mut ladder = SimulcastLadder::new(640, 360, 2);
        let needed = ladder.needed(1);
        // Held by the path: without the margin, the layer never comes on.
        assert_eq!(
            on_after(&mut ladder, 0, 60, AUDIO_RESERVE_BPS + needed),
            None
        );
        // Held by what is sent: a budget of half what it needs is enough for a try after 8 s,
        // a third is not.
        let mut ladder = SimulcastLadder::new(640, 360, 2);
        ladder.set_held_by_sending(true);
        assert_eq!(
            on_after(&mut ladder, 0, 60, AUDIO_RESERVE_BPS + needed / 3),
            None
        );
        let half = AUDIO_RESERVE_BPS + needed / 2 + 1_000;
        let on = on_after(&mut ladder, 60_000, 60, half);
        assert_eq!(on, Some(60_000 + TRY_AFTER_MS));
        // The layer goes at its minimum, above the estimate.
        let plans = ladder.plan(on.unwrap_or(0) + 100, half);
        let sent: u32 = plans
            .iter()
            .filter(|p| !p.paused)
            .map(|p| p.bitrate_kbps)
            .sum();
        let wanted = (f64::from(needed) * PAYLOAD_SHARE / 1000.0) as u32;
        assert!(sent + 2 >= wanted, "{plans:?}: {sent} of {wanted} kbit/s");
    }

    #[test]
    fn a_try_the_path_does_not_take_makes_the_next_wait_twice_as_long() {
        let mut ladder = SimulcastLadder::new(640, 360, 2);
        let needed = ladder.needed(1);
        let (half, enough) = (
            AUDIO_RESERVE_BPS + needed / 2 + 1_000,
            AUDIO_RESERVE_BPS + needed + 20_000,
        );
        ladder.set_held_by_sending(true);
        let mut t = 0;
        let mut waits = Vec::new();
        for attempt in 0..5 {
            let on = on_after(&mut ladder, t, 100, half).unwrap_or(u64::MAX);
            waits.push(on - t);
            if attempt % 2 == 0 {
                // A queue grows: the estimate is held by the path, and the layer goes at once.
                ladder.set_held_by_sending(false);
                assert_eq!(sending(&ladder.plan(on + 500, half)).len(), 1);
                ladder.set_held_by_sending(true);
                t = on + 500;
            } else {
                // No queue, but the estimate never carries the layer: off after 10 s.
                let off = (1..=120)
                    .map(|step| on + step * 100)
                    .find(|&at| sending(&ladder.plan(at, half)).len() == 1);
                assert_eq!(off, Some(on + TRY_HOLD_MS), "kept during the try, then off");
                t = on + TRY_HOLD_MS;
            }
        }
        assert_eq!(waits, vec![8_000, 16_000, 32_000, 64_000, 64_000]);
        // A try the path takes (the estimate grows to carry the layer) holds; after a later
        // fall the next one waits 8 s again.
        let on = on_after(&mut ladder, t, 100, half).unwrap_or(u64::MAX);
        t = settle(&mut ladder, on, 11, enough);
        assert_eq!(sending(&ladder.plan(t, enough)).len(), 2);
        ladder.set_held_by_sending(false);
        t = settle(&mut ladder, t, 1, half);
        ladder.set_held_by_sending(true);
        assert_eq!(
            on_after(&mut ladder, t, 100, half).map(|on| on - t),
            Some(8_000)
        );
    }

    #[test]
    fn a_single_layer_track_is_the_ordinary_ladder() {
        let mut simulcast = SimulcastLadder::new(640, 360, 1);
        let mut single = VideoLadder::new(640, 360);
        for (t, estimate) in [
            (0, 2_000_000),
            (100, 300_000),
            (200, 90_000),
            (5000, 900_000),
        ] {
            assert_eq!(simulcast.plan(t, estimate), vec![single.plan(t, estimate)]);
        }
    }

    #[test]
    fn odd_sources_and_changes_stay_valid() {
        for (w, h, layers) in [(2, 2, 3), (161, 91, 2), (1920, 1080, 3), (4, 3000, 9)] {
            let mut ladder = SimulcastLadder::new(w, h, layers);
            for estimate in [0, 50_000, 300_000, 10_000_000] {
                let plans = ladder.plan(0, estimate);
                assert_eq!(plans.len(), ladder.layers());
                for p in plans {
                    assert!(p.width >= 2 && p.height >= 2 && p.width % 2 == 0, "{p:?}");
                    assert!(p.bitrate_kbps >= 30);
                }
            }
        }
        let mut ladder = SimulcastLadder::new(1280, 720, 3);
        settle(&mut ladder, 0, 12, 3_000_000);
        ladder.set_source(640, 360);
        let plans = ladder.plan(12_000, 3_000_000);
        assert_eq!(plans[2].width, 640);
        assert_eq!(plans[0].width, 160);
    }

    #[test]
    fn layers_that_encoding_cannot_afford_stay_off_whatever_the_budget() {
        let mut ladder = SimulcastLadder::new(1280, 720, 3);
        let t = settle(&mut ladder, 0, 10, 3_000_000);
        assert_eq!(sending(&ladder.plan(t, 3_000_000)).len(), 3);
        ladder.set_affordable(2);
        let plans = ladder.plan(t + 100, 3_000_000);
        assert_eq!(sending(&plans), vec![(320, 180), (640, 360)]);
        assert!(plans[2].paused);
        let t = settle(&mut ladder, t + 100, 10, 3_000_000);
        assert_eq!(sending(&ladder.plan(t, 3_000_000)).len(), 2);
        // Affordable again: it comes on the usual way, after the budget carried it a while.
        ladder.set_affordable(3);
        let t = settle(&mut ladder, t, 5, 3_000_000);
        assert_eq!(sending(&ladder.plan(t, 3_000_000)).len(), 3);
    }
}
