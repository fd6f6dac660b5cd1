//! What the link carried when it last became congested: the acknowledged rate at each overuse,
//! averaged, with a band of its usual spread. Near it, the rate controller creeps; outside the
//! band the link has evidently changed and the estimate is dropped.

/// Weight of a new sample in the average: slow, because each sample is one overuse event.
const ALPHA: f64 = 0.05;
/// The normalised variance (kbit/s) is kept in this range: never so small that every sample
/// falls outside the band, never so large that a halved link still fits in it.
const DEVIATION_MIN: f64 = 0.4;
const DEVIATION_MAX: f64 = 2.5;

/// The link capacity seen at overuse events, in kbit/s.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LinkCapacity {
    estimate_kbps: Option<f64>,
    deviation: f64,
}

impl LinkCapacity {
    /// The estimate in bit/s, if one is known.
    pub(super) fn estimate_bps(&self) -> Option<f64> {
        self.estimate_kbps.map(|k| k * 1e3)
    }

    /// Above this (bit/s) the link carries more than it did: the estimate is stale.
    pub(super) fn upper_bps(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| (e + self.spread_kbps(e)) * 1e3)
    }

    /// Below this (bit/s) the link carries less than it did.
    pub(super) fn lower_bps(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| (e - self.spread_kbps(e)) * 1e3)
    }

    /// The link was congested while `acked_bps` got through.
    pub(super) fn on_overuse(&mut self, acked_bps: f64) {
        let sample = acked_bps / 1e3;
        let estimate = match self.estimate_kbps {
            None => sample,
            Some(e) => (1.0 - ALPHA) * e + ALPHA * sample,
        };
        let error = estimate - sample;
        let deviation = (1.0 - ALPHA) * self.deviation + ALPHA * error * error / estimate.max(1.0);
        self.deviation = deviation.clamp(DEVIATION_MIN, DEVIATION_MAX);
        self.estimate_kbps = Some(estimate);
    }

    /// The link changed: what we knew about it no longer holds.
    pub(super) fn reset(&mut self) {
        self.estimate_kbps = None;
    }

    /// Three standard deviations, in kbit/s.
    fn spread_kbps(&self, estimate: f64) -> f64 {
        3.0 * (self.deviation.max(DEVIATION_MIN) * estimate.max(0.0)).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_is_a_few_percent_around_what_got_through() {
        let mut capacity = LinkCapacity::default();
        assert_eq!(capacity.estimate_bps(), None);
        for _ in 0..20 {
            capacity.on_overuse(2_000_000.0);
        }
        let upper = capacity.upper_bps().unwrap();
        let lower = capacity.lower_bps().unwrap();
        assert!((2_050_000.0..2_200_000.0).contains(&upper), "{upper}");
        assert!((1_800_000.0..1_950_000.0).contains(&lower), "{lower}");
    }
}
