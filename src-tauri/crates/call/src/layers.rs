//! Which simulcast layer to receive of each participant's picture: the smallest that fills the
//! tile it is shown in, one smaller while their media arrives poorly (our link cannot carry
//! more), the smallest for pictures nobody sees.
//!
//! The server (Janus) forwards one layer per viewer and switches at the next keyframe of the
//! layer asked for; it falls back to a smaller layer by itself when the sender stops sending
//! the bigger one. A picture sent as a single stream ignores the choice. Sans-IO: tile sizes,
//! streams and reception quality come in, requests to the server go out.

use std::collections::{BTreeMap, HashMap};

use crate::quality::Quality;

/// The layers publishers send: 180p, 360p, 720p (0, 1, 2).
const LAYER_HEIGHTS: [u32; 3] = [180, 360, 720];
/// A layer is good enough for a tile up to this much taller than the layer (a picture scaled up
/// by a third still looks sharp; more does not).
const UPSCALE: f64 = 4.0 / 3.0;

/// The layer that fills a tile `height` device pixels tall.
pub fn layer_for_height(height: u32) -> u8 {
    LAYER_HEIGHTS
        .iter()
        .position(|h| f64::from(height) <= f64::from(*h) * UPSCALE)
        .unwrap_or(LAYER_HEIGHTS.len() - 1) as u8
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
    /// Participants whose media arrives poorly.
    poor: HashMap<u64, bool>,
    /// What the server was last asked for, per stream (participant and mid: Janus reuses a
    /// slot for the next participant and starts it at its default).
    asked: HashMap<(u64, String), u8>,
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
        self.video_mid = video_mid;
    }

    /// A new subscription (after a rejoin): the server knows none of our choices.
    pub fn forget_requests(&mut self) {
        self.asked.clear();
    }

    /// How well a participant's media arrives.
    pub fn set_quality(&mut self, participant: u64, quality: Quality) {
        self.poor.insert(participant, quality == Quality::Poor);
    }

    /// The layer wanted for a participant's picture (`None`: no viewer information; leave the
    /// server's choice, the biggest).
    pub fn wanted(&self, participant: u64) -> Option<u8> {
        if !self.informed {
            return None;
        }
        let by_tile = self
            .tiles
            .get(&participant)
            .copied()
            .or(self.others)
            .map_or(0, |(_, height)| layer_for_height(height));
        let poor = self.poor.get(&participant).copied().unwrap_or(false);
        Some(if poor {
            by_tile.saturating_sub(1)
        } else {
            by_tile
        })
    }

    /// Requests for the server: (mid, layer) for every stream whose wanted layer changed since
    /// it was last asked for.
    pub fn changes(&mut self) -> Vec<(String, u8)> {
        let mut out = Vec::new();
        for (participant, mid) in &self.video_mid {
            let Some(layer) = self.wanted(*participant) else {
                continue;
            };
            let key = (*participant, mid.clone());
            if self.asked.get(&key) != Some(&layer) {
                self.asked.insert(key, layer);
                out.push((mid.clone(), layer));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(list: &[(u64, &str)]) -> BTreeMap<u64, String> {
        list.iter().map(|(p, m)| (*p, (*m).to_owned())).collect()
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
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1")]));
        assert_eq!(choice.changes(), vec![]);
        assert_eq!(choice.wanted(1), None);
    }

    #[test]
    fn each_picture_follows_its_tile_and_unseen_ones_get_the_smallest() {
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1"), (2, "v2"), (3, "v3")]));
        choice.set_tiles(HashMap::from([(1, (1280, 720)), (2, (320, 180))]));
        assert_eq!(
            choice.changes(),
            vec![("v1".into(), 2), ("v2".into(), 0), ("v3".into(), 0)]
        );
        // Asked once: nothing new until something changes.
        assert_eq!(choice.changes(), vec![]);
        // The speaker view swaps them.
        choice.set_tiles(HashMap::from([(1, (320, 180)), (2, (1280, 720))]));
        assert_eq!(choice.changes(), vec![("v1".into(), 0), ("v2".into(), 2)]);
    }

    #[test]
    fn a_headless_viewer_can_size_everyone_at_once() {
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1"), (2, "v2")]));
        choice.set_tile_for_others((320, 180));
        assert_eq!(choice.changes(), vec![("v1".into(), 0), ("v2".into(), 0)]);
        choice.set_tiles(HashMap::from([(2, (1280, 720))]));
        assert_eq!(choice.changes(), vec![("v2".into(), 2)]);
    }

    #[test]
    fn poor_reception_takes_one_layer_less_until_it_recovers() {
        let mut choice = LayerChoice::default();
        choice.set_streams(streams(&[(1, "v1")]));
        choice.set_tiles(HashMap::from([(1, (1280, 720))]));
        assert_eq!(choice.changes(), vec![("v1".into(), 2)]);
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(), vec![("v1".into(), 1)]);
        choice.set_quality(1, Quality::Reduced);
        assert_eq!(choice.changes(), vec![("v1".into(), 2)]);
        // Never below the smallest.
        choice.set_tiles(HashMap::from([(1, (320, 180))]));
        choice.set_quality(1, Quality::Poor);
        assert_eq!(choice.changes(), vec![("v1".into(), 0)]);
    }

    #[test]
    fn a_new_subscription_is_asked_again() {
        let mut choice = LayerChoice::default();
        choice.set_tiles(HashMap::from([(1, (320, 180))]));
        choice.set_streams(streams(&[(1, "v1")]));
        assert_eq!(choice.changes(), vec![("v1".into(), 0)]);
        // They left and came back on another mid.
        choice.set_streams(streams(&[]));
        choice.set_streams(streams(&[(1, "v4")]));
        assert_eq!(choice.changes(), vec![("v4".into(), 0)]);
        // Someone else takes the freed slot: it starts at the server's default.
        choice.set_streams(streams(&[(2, "v4")]));
        assert_eq!(choice.changes(), vec![("v4".into(), 0)]);
        choice.forget_requests();
        assert_eq!(choice.changes(), vec![("v4".into(), 0)]);
    }
}
