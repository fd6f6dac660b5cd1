//! Which simulcast layer to receive of each participant's picture: the smallest that fills the
//! tile it is shown in, smaller while their media arrives poorly (our link cannot carry more),
//! the smallest at half its frame rate for pictures nobody sees.
//!
//! The steps, smallest first: 180p at half its frame rate (its two lower temporal layers of
//! three), 180p, 360p, 720p. The half frame rate is the last step down for a link too narrow
//! even for 180p (ten thumbnails on a weak link), and what is received of pictures nobody
//! sees; the server switches to and from it without a keyframe.
//!
//! A layer that proved too big is not asked for again at once. Measured on a 1 Mbit/s downlink
//! with a 720p tile, going back up as soon as reception was good again made a cycle of 6 s: two
//! seconds of 720p that did not fit (sound lost, the picture frozen, keyframes asked for), four of
//! 360p. So poor reception caps the participant's layer one below what was asked, and lower
//! again every few seconds while it stays poor; the cap is lifted one layer at a time after a
//! wait that doubles each time a lifted layer turns out too big again (the receiver cannot probe
//! its link: trying is the only way to learn that it widened).
//!
//! The server (Janus) forwards one layer per viewer and switches at the next keyframe of the
//! layer asked for; it falls back to a smaller layer by itself when the sender stops sending
//! the bigger one. A picture sent as a single stream ignores the choice. Sans-IO: tile sizes,
//! streams, reception quality and the time come in, requests to the server go out.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::quality::Quality;

/// The layers publishers send: 180p, 360p, 720p (0, 1, 2).
const LAYER_HEIGHTS: [u32; 3] = [180, 360, 720];

/// What is received of a picture: a step of [`Step::LOWEST`] (180p at half its frame rate),
/// then each simulcast layer with every frame.
///
/// Publishers send three temporal layers (0, 2, 1, 2: as libwebrtc does in simulcast). Janus
/// moves a viewer to a higher temporal layer only when a packet of exactly the layer asked for
/// comes, so "every frame" is asked as layer 2, and half the frames as layer 1. A publisher with
/// two layers then gets every frame forwarded at both steps; one without temporal layers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step(u8);

impl Step {
    /// The smallest layer at half its frame rate.
    pub const LOWEST: Step = Step(0);
    /// The biggest layer, every frame.
    const HIGHEST: Step = Step(LAYER_HEIGHTS.len() as u8);

    /// Every frame of simulcast layer `layer` (0: 180p).
    pub fn layer(layer: u8) -> Self {
        Step(layer.min(Self::HIGHEST.0 - 1) + 1)
    }

    /// The simulcast layer (Janus's `substream`).
    pub fn substream(self) -> u8 {
        self.0.saturating_sub(1)
    }

    /// The temporal layer up to which frames are received (Janus's `temporal`): 1 for half
    /// the frames, 2 for every frame. (The base layer alone, a quarter of the frames, is too
    /// few: 4 a second from a 15 fps camera.)
    pub fn temporal(self) -> u8 {
        if self == Self::LOWEST { 1 } else { 2 }
    }

    fn down(self) -> Option<Self> {
        self.0.checked_sub(1).map(Step)
    }
}
/// A layer is good enough for a tile up to this much taller than the layer (a picture scaled up
/// by a third still looks sharp; more does not).
const UPSCALE: f64 = 4.0 / 3.0;
/// While reception stays poor, one more layer down this often. Reception is judged in 2 s
/// windows and shown better after two good ones, and the switch waits for a keyframe: on the
/// 1 Mbit/s downlink, good came 6 s after the step down to a layer that fitted.
const STEP_AGAIN: Duration = Duration::from_secs(8);
/// The first wait before a layer that proved too big is tried again.
const RETRY_FIRST: Duration = Duration::from_secs(10);
/// The longest wait: a link that widened is noticed within this.
const RETRY_MAX: Duration = Duration::from_secs(160);
/// A lifted layer that stays good this long fitted: the next wait starts from the first again.
const PROVEN_AFTER: Duration = Duration::from_secs(30);
/// Janus falls back to a smaller layer when the bigger one pauses (no packet for 250 ms: a
/// sender's encoder that stalled a moment) and goes back only at a keyframe of the bigger
/// layer, which a sender sends only when asked. Measured in the app's end-to-end test on a
/// loaded machine: 360p asked for, 180p for 19 s after such a pause. So a picture that arrived
/// at a layer and then arrives smaller, without a smaller one asked for, has its layer asked for
/// again (Janus then asks the sender for a keyframe) after this wait, doubling while it stays
/// smaller.
const ASK_AGAIN_FIRST: Duration = Duration::from_secs(2);
/// The longest wait between such requests: each costs the sender a keyframe per layer.
const ASK_AGAIN_MAX: Duration = Duration::from_secs(32);

/// The layer that fills a tile `height` device pixels tall.
pub fn layer_for_height(height: u32) -> u8 {
    LAYER_HEIGHTS
        .iter()
        .position(|h| f64::from(height) <= f64::from(*h) * UPSCALE)
        .unwrap_or(LAYER_HEIGHTS.len() - 1) as u8
}

/// The step a participant's tile wants (`others`: the tile of everyone without their own; a
/// participant without a tile is not seen and gets the lowest).
fn tile_step(
    tiles: &HashMap<u64, (u32, u32)>,
    others: Option<(u32, u32)>,
    participant: u64,
) -> Step {
    tiles
        .get(&participant)
        .copied()
        .or(others)
        .map_or(Step::LOWEST, |(_, height)| {
            Step::layer(layer_for_height(height))
        })
}

/// The layer of a picture `height` pixels tall.
fn layer_of_picture(height: u32) -> u8 {
    LAYER_HEIGHTS
        .iter()
        .position(|h| height <= *h)
        .unwrap_or(LAYER_HEIGHTS.len() - 1) as u8
}

/// The layer a participant's picture arrives at, against what was asked for.
#[derive(Debug, Default)]
struct Arriving {
    /// The biggest layer that arrived of this picture (the sender may send fewer layers than
    /// asked for: arriving at its biggest is no fallback).
    best: Option<u8>,
    /// When to ask again while it arrives smaller than that, and the wait after.
    again_at: Option<Instant>,
    wait: Duration,
}

impl Arriving {
    /// A new layer was asked for: no request is due yet. What arrived stays known: after a
    /// step down from 720p to 360p, Janus may switch to the first smaller layer whose keyframe
    /// comes, 180p, and stay there (seen in the narrow-downlink test: 13 s on 180p while 360p
    /// was asked for); that is a fallback too.
    fn asked(&mut self) {
        self.again_at = None;
        self.wait = Duration::ZERO;
    }

    fn arrived(&mut self, layer: u8, asked: Option<u8>, now: Instant) {
        let best = self.best.map_or(layer, |b| b.max(layer));
        self.best = Some(best);
        let fell_back = layer < best && asked.is_some_and(|a| layer < a);
        if !fell_back {
            self.again_at = None;
            self.wait = Duration::ZERO;
        } else if self.again_at.is_none() {
            self.wait = ASK_AGAIN_FIRST;
            self.again_at = Some(now + self.wait);
        }
    }

    /// Whether to ask again now; the next time is set.
    fn ask_again(&mut self, now: Instant) -> bool {
        if self.again_at.is_none_or(|at| now < at) {
            return false;
        }
        self.wait = (self.wait * 2).min(ASK_AGAIN_MAX);
        self.again_at = Some(now + self.wait);
        true
    }
}

/// How a participant's picture arrives, and what that allows.
#[derive(Debug, Default)]
struct Reception {
    poor: bool,
    /// The biggest step to ask for (`None`: whatever the tile wants).
    cap: Option<Step>,
    /// When the cap was last lowered.
    lowered: Option<Instant>,
    /// When the cap is lifted by one layer.
    lift_at: Option<Instant>,
    /// The wait before that.
    wait: Duration,
    /// When the cap was last lifted.
    lifted: Option<Instant>,
}

impl Reception {
    /// Poor reception at `asked`: the cap goes below it, unless it was lowered a moment ago.
    fn lower(&mut self, asked: Step, now: Instant) {
        let Some(below) = asked.down() else {
            return;
        };
        if self.lowered.is_some_and(|at| now < at + STEP_AGAIN) {
            return;
        }
        // Poor soon after a lift: the lifted layer does not fit either; wait longer next time.
        self.wait = match self.lifted {
            Some(at) if now < at + PROVEN_AFTER => (self.wait * 2).clamp(RETRY_FIRST, RETRY_MAX),
            _ => RETRY_FIRST,
        };
        self.cap = Some(below);
        self.lowered = Some(now);
        self.lift_at = Some(now + self.wait);
        self.lifted = None;
    }

    /// The cap goes up one step when its time has come.
    fn lift(&mut self, now: Instant) {
        let (Some(cap), Some(at)) = (self.cap, self.lift_at) else {
            return;
        };
        if now < at {
            return;
        }
        self.lifted = Some(now);
        let up = Step(cap.0 + 1);
        if up >= Step::HIGHEST {
            self.cap = None;
            self.lift_at = None;
        } else {
            self.cap = Some(up);
            self.lift_at = Some(now + self.wait);
        }
    }
}

/// Chooses the layer per video stream of our subscription.
#[derive(Debug, Default)]
pub struct LayerChoice {
    /// Tile sizes by participant (device pixels).
    tiles: HashMap<u64, (u32, u32)>,
    /// The tile of everyone without one of their own (`None`: they are not seen).
    others: Option<(u32, u32)>,
    /// Whether a viewer said anything yet; until then every picture comes at the biggest layer
    /// its sender sends.
    informed: bool,
    /// Our subscription's video stream (mid) per participant.
    video_mid: BTreeMap<u64, String>,
    /// How each participant's picture arrives.
    reception: HashMap<u64, Reception>,
    /// What the server was last asked for, per stream (participant and mid: Janus reuses a
    /// slot for the next participant and starts it at its default).
    asked: HashMap<(u64, String), Step>,
    /// The layer each participant's picture arrives at.
    arriving: HashMap<u64, Arriving>,
}

impl LayerChoice {
    /// The tiles shown now and their sizes; a participant without a tile is not seen.
    pub fn set_tiles(&mut self, tiles: HashMap<u64, (u32, u32)>) {
        self.tiles = tiles;
        self.informed = true;
    }

    /// Everyone without a tile of their own is shown in a tile of this size.
    pub fn set_tile_for_others(&mut self, size: (u32, u32)) {
        self.others = Some(size);
        self.informed = true;
    }

    /// The video streams our subscription carries now, by participant.
    pub fn set_streams(&mut self, video_mid: BTreeMap<u64, String>) {
        self.asked
            .retain(|(participant, mid), _| video_mid.get(participant) == Some(mid));
        self.reception
            .retain(|participant, _| video_mid.contains_key(participant));
        self.arriving
            .retain(|participant, _| video_mid.contains_key(participant));
        self.video_mid = video_mid;
    }

    /// A new subscription (after a rejoin): the server knows none of our choices. What was
    /// learnt about our link stays.
    pub fn forget_requests(&mut self) {
        self.asked.clear();
    }

    /// How well a participant's media arrives.
    pub fn set_quality(&mut self, participant: u64, quality: Quality) {
        self.reception.entry(participant).or_default().poor = quality == Quality::Poor;
    }

    /// A participant's picture arrives `height` pixels tall now (it changed).
    pub fn set_arriving(&mut self, participant: u64, height: u32, now: Instant) {
        let asked = self
            .video_mid
            .get(&participant)
            .and_then(|mid| self.asked.get(&(participant, mid.clone())))
            .map(|step| step.substream());
        self.arriving
            .entry(participant)
            .or_default()
            .arrived(layer_of_picture(height), asked, now);
    }

    /// The step the tile wants.
    fn by_tile(&self, participant: u64) -> Step {
        tile_step(&self.tiles, self.others, participant)
    }

    /// The step wanted for a participant's picture (`None`: no viewer information; leave the
    /// server's choice, the biggest).
    pub fn wanted(&self, participant: u64) -> Option<Step> {
        if !self.informed {
            return None;
        }
        let by_tile = self.by_tile(participant);
        let cap = self.reception.get(&participant).and_then(|r| r.cap);
        Some(cap.map_or(by_tile, |cap| by_tile.min(cap)))
    }

    /// Requests for the server: (mid, step) for every stream whose wanted step changed since it
    /// was last asked for, at `now`.
    pub fn changes(&mut self, now: Instant) -> Vec<(String, Step)> {
        if self.informed {
            for (participant, mid) in &self.video_mid {
                let Some(reception) = self.reception.get_mut(participant) else {
                    continue;
                };
                reception.lift(now);
                if reception.poor {
                    // Below what the server was asked for (or is about to be).
                    let by_tile = tile_step(&self.tiles, self.others, *participant);
                    let current = reception.cap.map_or(by_tile, |cap| cap.min(by_tile));
                    let asked = self.asked.get(&(*participant, mid.clone())).copied();
                    reception.lower(asked.map_or(current, |a| a.min(current)), now);
                }
            }
        }
        let mut out = Vec::new();
        for (participant, mid) in &self.video_mid {
            let Some(layer) = self.wanted(*participant) else {
                continue;
            };
            let key = (*participant, mid.clone());
            let arriving = self.arriving.entry(*participant).or_default();
            if self.asked.get(&key) != Some(&layer) {
                self.asked.insert(key, layer);
                arriving.asked();
                out.push((mid.clone(), layer));
            } else if arriving.ask_again(now) {
                out.push((mid.clone(), layer));
            }
        }
        out
    }

    /// When [`changes`](Self::changes) may have something new without anything else happening:
    /// a cap to lift, or reception still poor with a layer left to go down to.
    pub fn next_change(&self) -> Option<Instant> {
        if !self.informed {
            return None;
        }
        self.video_mid
            .keys()
            .filter_map(|participant| {
                let reception = self.reception.get(participant)?;
                let step = reception
                    .lowered
                    .filter(|_| {
                        reception.poor
                            && self.wanted(*participant).is_some_and(|s| s > Step::LOWEST)
                    })
                    .map(|at| at + STEP_AGAIN);
                [reception.lift_at, step].into_iter().flatten().min()
            })
            .chain(self.arriving.values().filter_map(|a| a.again_at))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(list: &[(u64, &str)]) -> BTreeMap<u64, String> {
        list.iter().map(|(p, m)| (*p, (*m).to_owned())).collect()
    }

    /// One participant's picture (mid `v1`) in a 720p tile, asked for at `t0`.
    fn watching_in_a_720p_tile(t0: Instant) -> LayerChoice {
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1")]));
        choice.set_tiles(HashMap::from([(1, (1280, 720))]));
        assert_eq!(choice.changes(t0), vec![("v1".into(), Step::layer(2))]);
        choice
    }

    #[test]
    fn tiles_pick_the_smallest_layer_that_fills_them() {
        assert_eq!(layer_for_height(90), 0);
        assert_eq!(layer_for_height(180), 0);
        assert_eq!(layer_for_height(240), 0);
        assert_eq!(layer_for_height(241), 1);
        assert_eq!(layer_for_height(480), 1);
        assert_eq!(layer_for_height(700), 2);
        assert_eq!(layer_for_height(2160), 2);
        assert_eq!(layer_for_height(0), 0);
    }

    #[test]
    fn without_viewer_information_the_server_chooses() {
        let t0 = Instant::now();
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1")]));
        assert_eq!(choice.changes(t0), vec![]);
        assert_eq!(choice.wanted(1), None);
    }

    #[test]
    fn each_picture_follows_its_tile_and_unseen_ones_get_the_smallest_at_half_rate() {
        let t0 = Instant::now();
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1"), (2, "v2"), (3, "v3")]));
        choice.set_tiles(HashMap::from([(1, (1280, 720)), (2, (320, 180))]));
        assert_eq!(
            choice.changes(t0),
            vec![
                ("v1".into(), Step::layer(2)),
                ("v2".into(), Step::layer(0)),
                ("v3".into(), Step::LOWEST)
            ]
        );
        // Asked once: nothing new until something changes.
        assert_eq!(choice.changes(t0), vec![]);
        // The speaker view swaps them.
        choice.set_tiles(HashMap::from([(1, (320, 180)), (2, (1280, 720))]));
        assert_eq!(
            choice.changes(t0),
            vec![("v1".into(), Step::layer(0)), ("v2".into(), Step::layer(2))]
        );
    }

    #[test]
    fn a_headless_viewer_can_size_everyone_at_once() {
        let t0 = Instant::now();
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1"), (2, "v2")]));
        choice.set_tile_for_others((320, 180));
        assert_eq!(
            choice.changes(t0),
            vec![("v1".into(), Step::layer(0)), ("v2".into(), Step::layer(0))]
        );
        choice.set_tiles(HashMap::from([(2, (1280, 720))]));
        assert_eq!(choice.changes(t0), vec![("v2".into(), Step::layer(2))]);
    }

    #[test]
    fn a_picture_the_server_let_fall_back_is_asked_for_again_with_growing_waits() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut choice = watching_in_a_720p_tile(t0);
        choice.set_arriving(1, 180, at(1));
        choice.set_arriving(1, 720, at(2));
        assert_eq!(choice.next_change(), None, "it arrives as asked");
        // The sender's 720p paused; the server forwards 360p and stays there.
        choice.set_arriving(1, 360, at(10));
        assert_eq!(choice.next_change(), Some(at(12)));
        assert_eq!(choice.changes(at(11)), vec![]);
        assert_eq!(choice.changes(at(12)), vec![("v1".into(), Step::layer(2))]);
        assert_eq!(choice.next_change(), Some(at(16)));
        assert_eq!(choice.changes(at(16)), vec![("v1".into(), Step::layer(2))]);
        assert_eq!(choice.next_change(), Some(at(24)));
        // Back at 720p: no more requests.
        choice.set_arriving(1, 720, at(17));
        assert_eq!(choice.next_change(), None);
        assert_eq!(choice.changes(at(30)), vec![]);
        // The longest wait is 32 s.
        choice.set_arriving(1, 180, at(40));
        let asked: Vec<u64> = (40..300)
            .filter(|&s| !choice.changes(at(s)).is_empty())
            .collect();
        assert_eq!(
            asked,
            vec![42, 46, 54, 70, 102, 134, 166, 198, 230, 262, 294]
        );
    }

    #[test]
    fn a_step_down_that_lands_below_the_layer_asked_for_is_asked_for_again() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut choice = watching_in_a_720p_tile(t0);
        choice.set_arriving(1, 720, at(1));
        // 720p does not fit: 360p is asked for, but the server lands on 180p and stays.
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(3)), vec![("v1".into(), Step::layer(1))]);
        choice.set_arriving(1, 180, at(4));
        assert_eq!(choice.next_change(), Some(at(6)));
        assert_eq!(choice.changes(at(6)), vec![("v1".into(), Step::layer(1))]);
        // It comes at 360p: no more requests.
        choice.set_arriving(1, 360, at(7));
        assert_eq!(choice.changes(at(9)), vec![]);
    }

    #[test]
    fn a_sender_with_fewer_layers_or_a_smaller_ask_is_no_fallback() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // 720p asked, but the sender's biggest layer is 360p.
        let mut choice = watching_in_a_720p_tile(t0);
        choice.set_arriving(1, 180, at(1));
        choice.set_arriving(1, 360, at(2));
        assert_eq!(choice.next_change(), None);
        assert_eq!(choice.changes(at(20)), vec![]);
        // A smaller tile asks for 180p: the picture getting smaller is what was asked for.
        choice.set_tiles(HashMap::from([(1, (320, 180))]));
        assert_eq!(choice.changes(at(21)), vec![("v1".into(), Step::layer(0))]);
        choice.set_arriving(1, 180, at(22));
        assert_eq!(choice.next_change(), None);
        assert_eq!(choice.changes(at(40)), vec![]);
    }

    #[test]
    fn poor_reception_takes_a_layer_less_and_waits_before_trying_it_again() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut choice = watching_in_a_720p_tile(t0);
        assert_eq!(choice.next_change(), None);
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(1)), vec![("v1".into(), Step::layer(1))]);
        // Good again: 720p is still not asked for until the wait is over.
        choice.set_quality(1, Quality::Good);
        assert_eq!(choice.changes(at(7)), vec![]);
        assert_eq!(choice.next_change(), Some(at(11)));
        assert_eq!(choice.changes(at(11)), vec![("v1".into(), Step::layer(2))]);
        // Too big again soon after: down, and twice the wait.
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(13)), vec![("v1".into(), Step::layer(1))]);
        choice.set_quality(1, Quality::Good);
        assert_eq!(choice.changes(at(32)), vec![]);
        assert_eq!(choice.changes(at(33)), vec![("v1".into(), Step::layer(2))]);
        // And again: 40 s.
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(35)), vec![("v1".into(), Step::layer(1))]);
        choice.set_quality(1, Quality::Good);
        assert_eq!(choice.next_change(), Some(at(75)));
        assert_eq!(choice.changes(at(75)), vec![("v1".into(), Step::layer(2))]);
        // This time it fits for longer than 30 s: the link widened, and a later poor spell
        // waits the first 10 s again.
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(120)), vec![("v1".into(), Step::layer(1))]);
        assert_eq!(choice.next_change(), Some(at(128)));
        choice.set_quality(1, Quality::Reduced);
        assert_eq!(choice.next_change(), Some(at(130)));
    }

    #[test]
    fn lasting_poor_reception_goes_down_to_the_smallest_and_comes_back_a_layer_at_a_time() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut choice = watching_in_a_720p_tile(t0);
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(t0), vec![("v1".into(), Step::layer(1))]);
        // Still poor on the smaller layer: the next one down, once the switch had its time.
        assert_eq!(choice.changes(at(7)), vec![]);
        assert_eq!(choice.next_change(), Some(at(8)));
        assert_eq!(choice.changes(at(8)), vec![("v1".into(), Step::layer(0))]);
        // Still poor on 180p: its base temporal layer alone, half the frame rate.
        assert_eq!(choice.next_change(), Some(at(16)));
        assert_eq!(choice.changes(at(16)), vec![("v1".into(), Step::LOWEST)]);
        assert_eq!((Step::LOWEST.substream(), Step::LOWEST.temporal()), (0, 1));
        // Nothing lower: nothing more to do while it stays poor, but the lift.
        assert_eq!(choice.next_change(), Some(at(26)));
        choice.set_quality(1, Quality::Good);
        assert_eq!(choice.changes(at(26)), vec![("v1".into(), Step::layer(0))]);
        assert_eq!(choice.changes(at(36)), vec![("v1".into(), Step::layer(1))]);
        assert_eq!(choice.changes(at(46)), vec![("v1".into(), Step::layer(2))]);
        assert_eq!(choice.next_change(), None);
        // A small tile is never asked for more than it needs; poor, it goes to half the rate.
        choice.set_tiles(HashMap::from([(1, (320, 180))]));
        assert_eq!(choice.changes(at(50)), vec![("v1".into(), Step::layer(0))]);
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(at(60)), vec![("v1".into(), Step::LOWEST)]);
        // 14 s after the last lift: that one did not fit either, so twice the wait.
        assert_eq!(choice.next_change(), Some(at(80)));
    }

    #[test]
    fn a_new_subscription_is_asked_again() {
        let t0 = Instant::now();
        let mut choice = LayerChoice::default();
        choice.set_tiles(HashMap::from([(1, (320, 180))]));
        choice.set_streams(streams(&[(1, "v1")]));
        assert_eq!(choice.changes(t0), vec![("v1".into(), Step::layer(0))]);
        // They left and came back on another mid.
        choice.set_streams(streams(&[]));
        choice.set_streams(streams(&[(1, "v4")]));
        assert_eq!(choice.changes(t0), vec![("v4".into(), Step::layer(0))]);
        // Someone else takes the freed slot: it starts at the server's default. Nobody sees
        // them (no tile): the lowest step.
        choice.set_streams(streams(&[(2, "v4")]));
        assert_eq!(choice.changes(t0), vec![("v4".into(), Step::LOWEST)]);
        choice.forget_requests();
        assert_eq!(choice.changes(t0), vec![("v4".into(), Step::LOWEST)]);
    }
}
