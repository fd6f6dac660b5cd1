//! When to ask a video sender for a keyframe (RTCP PLI): at once when the picture breaks, then
//! again with growing pauses while none decodes. The first request or the keyframe it brings can
//! be lost, so asking only once would freeze the picture for good; asking on every broken frame
//! would make the sender send keyframe after keyframe (each many times a delta frame's size,
//! which costs every receiver bandwidth) — and a participant whose frames we cannot decrypt would
//! cause exactly that, forever.
//!
//! Sans-IO: the caller says when it needs a keyframe and when one decoded, with the time.

/// The pause after the first request: longer than a keyframe takes to arrive on a usual path
/// (a round trip, the next frame from the encoder and the retransmission of a lost packet).
const FIRST_RETRY_MS: u64 = 250;
/// The longest pause between requests: no picture stays frozen much longer than this once
/// packets arrive again, and a stream that never decodes costs one keyframe a second.
const MAX_RETRY_MS: u64 = 1000;

/// Keyframe requests for one video stream, with exponential backoff.
#[derive(Debug, Clone)]
pub struct KeyframeRequests {
    /// When the last request was sent and how long to wait before the next one.
    last: Option<(u64, u64)>,
    sent: u64,
}

impl Default for KeyframeRequests {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyframeRequests {
    /// No request sent yet.
    pub fn new() -> Self {
        Self {
            last: None,
            sent: 0,
        }
    }

    /// A keyframe is needed at `now_ms`: whether to send a request now. The first need after a
    /// keyframe decoded is asked at once; further ones after 250 ms, 500 ms, then every second.
    pub fn need(&mut self, now_ms: u64) -> bool {
        // The pause that follows this request: 250 ms after the first, doubling from there.
        let pause = match self.last {
            None => FIRST_RETRY_MS,
            Some((at, pause)) if now_ms >= at + pause => (pause * 2).min(MAX_RETRY_MS),
            Some(_) => return false,
        };
        self.last = Some((now_ms, pause));
        self.sent += 1;
        true
    }

    /// A keyframe decoded: the picture is whole again; the next need is asked at once.
    pub fn satisfied(&mut self) {
        self.last = None;
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times (ms) at which a need held from 0 to `until` is turned into requests, asking
    /// every 10 ms (the playout tick).
    fn requests_while_needed(requests: &mut KeyframeRequests, from: u64, until: u64) -> Vec<u64> {
        (from..until)
            .step_by(10)
            .filter(|&t| requests.need(t))
            .collect()
    }

    #[test]
    fn the_first_request_goes_at_once_then_they_back_off() {
        let mut requests = KeyframeRequests::new();
        let sent = requests_while_needed(&mut requests, 0, 5_000);
        assert_eq!(sent, vec![0, 250, 750, 1750, 2750, 3750, 4750]);
        assert_eq!(requests.sent(), 7);
    }

    #[test]
    fn a_decoded_keyframe_resets_the_backoff() {
        let mut requests = KeyframeRequests::new();
        assert_eq!(
            requests_while_needed(&mut requests, 0, 800),
            vec![0, 250, 750]
        );
        requests.satisfied();
        assert_eq!(
            requests_while_needed(&mut requests, 2_000, 2_300),
            vec![2_000, 2_250],
            "a new break is asked about at once"
        );
    }

    #[test]
    fn a_keyframe_that_does_not_help_does_not_reset_it() {
        // A participant whose keyframes do not decode (another end-to-end key): the caller never
        // reports one decoded, so the requests settle at one a second, not one per keyframe.
        let mut requests = KeyframeRequests::new();
        let sent = requests_while_needed(&mut requests, 0, 10_000);
        let last_second = sent.iter().filter(|&&t| t >= 9_000).count();
        assert_eq!(last_second, 1);
    }
}
