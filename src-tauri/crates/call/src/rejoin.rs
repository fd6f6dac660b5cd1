//! Staying in the call when the connection to the server is lost (hotel Wi-Fi, a server restart):
//! when to try again, when to give up, which keys a server that comes back may present, and the
//! microphone relay that lets a new sender take over the same microphone.
//!
//! The plan is a pure state machine told the time: [`Rejoin::lost`] starts it,
//! [`Rejoin::next_attempt`] says when to try next or that the time is up. The call
//! (`session.rs`) is its driver: it sleeps, connects, and reports back.
//!
//! ```text
//! InCall ──lost──▶ Waiting(at) ──at──▶ Connecting ──socket open──▶ Joining ──joined──▶ InCall
//!                     ▲                    │  transient failure        │ session lost
//!                     └────────────────────┴───────────────────────────┘
//!   past the deadline: Ended(Lost) · key changed, blocked, refused: Ended at once
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runde_connect::TlsSettings;
use tokio::sync::mpsc;

/// How long a lost call keeps trying to rejoin before it ends, unless the caller chose otherwise.
pub const REJOIN_FOR: Duration = Duration::from_secs(120);

/// The longest wait between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(4);

/// The wait before attempt `attempt` (1-based): at once, then 0.5 s, 1 s, 2 s, 4 s, 4 s, …
pub(crate) fn delay_before(attempt: u32) -> Duration {
    match attempt {
        0 | 1 => Duration::ZERO,
        n => {
            let doublings = (n - 2).min(16);
            (Duration::from_millis(500) * 2u32.pow(doublings)).min(MAX_DELAY)
        }
    }
}

/// How often, while waiting to rejoin, whether the server can be reached again is checked.
pub(crate) const ROUTE_CHECK: Duration = Duration::from_millis(250);

/// Notices the moment this computer has a way to the server again, so that rejoining tries at
/// once rather than after the rest of its wait (up to [`MAX_DELAY`]): a Wi-Fi that reconnects,
/// a cable plugged back in. Only a network that had no route to the server and has one now counts;
/// a server that is down while our network is fine changes nothing. Told what a check found; the
/// check itself (asking the system for a route, sending nothing) is the caller's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteWatch {
    reachable: bool,
}

impl RouteWatch {
    /// Start from what a check finds now.
    pub(crate) fn new(reachable: bool) -> Self {
        Self { reachable }
    }

    /// A new check's result; whether the way to the server just came back.
    pub(crate) fn checked(&mut self, reachable: bool) -> bool {
        let back = reachable && !self.reachable;
        self.reachable = reachable;
        back
    }
}

/// What to do next after the connection was lost or an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// Try attempt `attempt` at `at`.
    Attempt {
        /// Which attempt (1-based).
        attempt: u32,
        /// When.
        at: Instant,
    },
    /// The time for rejoining is over: the call ends as lost.
    GiveUp,
}

/// One period of trying to rejoin, from the loss to being back (or giving up).
#[derive(Debug, Clone)]
pub(crate) struct Rejoin {
    lost_at: Instant,
    deadline: Instant,
    attempts: u32,
}

impl Rejoin {
    /// The connection was lost at `now`; keep trying for `limit`.
    pub(crate) fn lost(now: Instant, limit: Duration) -> Self {
        Self {
            lost_at: now,
            deadline: now + limit,
            attempts: 0,
        }
    }

    /// The next attempt, counted from `now` (the loss, or the attempt that just failed). The
    /// last one starts at the deadline at the latest; once that one failed, the call ends. (An
    /// attempt under way is bounded by the connection's own timeouts.)
    pub(crate) fn next_attempt(&mut self, now: Instant) -> NextStep {
        if now >= self.deadline {
            return NextStep::GiveUp;
        }
        let attempt = self.attempts + 1;
        let at = (now + delay_before(attempt)).min(self.deadline);
        self.attempts = attempt;
        NextStep::Attempt { attempt, at }
    }

    /// The attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the call has been without its server.
    pub(crate) fn lost_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.lost_at)
    }
}

/// The key a server presented when the call was joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenKey {
    /// SHA-256 of its public key (base64).
    pub(crate) key_sha256: String,
    /// Whether an authority the system trusts vouched for its certificate.
    pub(crate) vouched: bool,
}

/// The TLS settings for a rejoin: the same trust decision as any join (`decided`: the
/// administrator's presets and the user's pins, made again now), and, where that pins nothing, the
/// key this call was joined with. A server that comes back with another key fails the TLS check
/// and blocks the call instead of rejoining quietly: the user agreed to talk to that key.
pub(crate) fn rejoin_tls(decided: TlsSettings, seen: Option<&SeenKey>) -> TlsSettings {
    match seen {
        Some(seen) if decided.pins.is_empty() => TlsSettings {
            pins: vec![seen.key_sha256.clone()],
            allow_pinned_self_signed: decided.allow_pinned_self_signed || !seen.vouched,
            ..decided
        },
        _ => decided,
    }
}

type FrameSender = mpsc::UnboundedSender<Vec<f32>>;

/// Forwards microphone frames to whichever sender is current: the microphone stays open while
/// the call rejoins, and the new sender takes its frames from a new receiver. Frames that come
/// while no sender listens are dropped.
pub(crate) struct CaptureRelay {
    current: Arc<Mutex<Option<FrameSender>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CaptureRelay {
    /// Relay `frames`; the first receiver comes with it.
    pub(crate) fn start(
        mut frames: mpsc::UnboundedReceiver<Vec<f32>>,
    ) -> (Self, mpsc::UnboundedReceiver<Vec<f32>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let current = Arc::new(Mutex::new(Some(tx)));
        let shared = current.clone();
        let task = tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                if let Ok(current) = shared.lock()
                    && let Some(tx) = current.as_ref()
                {
                    let _ = tx.send(frame);
                }
            }
        });
        (Self { current, task }, rx)
    }

    /// A new receiver; the previous one gets no more frames.
    pub(crate) fn new_receiver(&self) -> mpsc::UnboundedReceiver<Vec<f32>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut current) = self.current.lock() {
            *current = Some(tx);
        }
        rx
    }
}

impl Drop for CaptureRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_way_to_the_server_that_comes_back_makes_an_attempt_due() {
        // The network went away with the connection: no route, then the Wi-Fi is back.
        let mut watch = RouteWatch::new(false);
        assert!(!watch.checked(false));
        assert!(watch.checked(true));
        assert!(!watch.checked(true), "once, not at every check");
        // Our network is fine and the server is down: nothing comes back, the backoff decides.
        let mut watch = RouteWatch::new(true);
        assert!(!watch.checked(true));
        // It went and came back while we waited.
        assert!(!watch.checked(false));
        assert!(watch.checked(true));
    }

    #[test]
    fn backoff_starts_at_once_then_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8)
            .map(|n| delay_before(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
        assert_eq!(delay_before(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn attempts_follow_the_backoff_from_each_failure() {
        let t0 = Instant::now();
        let mut rejoin = Rejoin::lost(t0, Duration::from_secs(120));
        assert_eq!(
            rejoin.next_attempt(t0),
            NextStep::Attempt { attempt: 1, at: t0 }
        );
        // The first attempt failed after 300 ms (connection refused).
        let failed = t0 + Duration::from_millis(300);
        assert_eq!(
            rejoin.next_attempt(failed),
            NextStep::Attempt {
                attempt: 2,
                at: failed + Duration::from_millis(500)
            }
        );
        let failed = failed + Duration::from_secs(1);
        assert_eq!(
            rejoin.next_attempt(failed),
            NextStep::Attempt {
                attempt: 3,
                at: failed + Duration::from_secs(1)
            }
        );
        assert_eq!(rejoin.attempts(), 3);
        assert_eq!(rejoin.lost_for(failed), Duration::from_millis(1300));
    }

    #[test]
    fn a_server_that_never_comes_back_is_given_up_at_the_deadline() {
        let t0 = Instant::now();
        let limit = Duration::from_secs(120);
        let mut rejoin = Rejoin::lost(t0, limit);
        let mut now = t0;
        let mut attempts = 0;
        // Every attempt fails at once: the attempts come at most 4 s apart until the deadline,
        // the last one at the deadline.
        while let NextStep::Attempt { attempt, at } = rejoin.next_attempt(now) {
            assert!(at <= t0 + limit, "attempt {attempt} after the deadline");
            assert!(at - now <= MAX_DELAY);
            attempts = attempt;
            now = at;
        }
        // The loop ended because the last attempt, at the deadline, failed.
        assert_eq!(attempts, 34);
        assert_eq!(now, t0 + limit, "the last attempt is made at the deadline");
        assert_eq!(rejoin.next_attempt(now), NextStep::GiveUp);
    }

    #[test]
    fn without_time_to_rejoin_the_call_ends_at_once() {
        let t0 = Instant::now();
        let mut rejoin = Rejoin::lost(t0, Duration::ZERO);
        assert_eq!(rejoin.next_attempt(t0), NextStep::GiveUp);
        assert_eq!(rejoin.attempts(), 0);
    }

    #[test]
    fn a_rejoin_accepts_only_the_key_the_call_was_joined_with() {
        let seen = SeenKey {
            key_sha256: "KEY-A".into(),
            vouched: false,
        };
        // Nothing pinned (no trusted-server list): the key of this call is pinned for the rejoin,
        // and a self-signed key is admitted only because it is that key.
        let tls = rejoin_tls(TlsSettings::default(), Some(&seen));
        assert_eq!(tls.pins, ["KEY-A"]);
        assert!(tls.allow_pinned_self_signed);
        // A certificate an authority vouched for stays checked against the authorities too.
        let vouched = SeenKey {
            vouched: true,
            ..seen.clone()
        };
        let tls = rejoin_tls(TlsSettings::default(), Some(&vouched));
        assert_eq!(tls.pins, ["KEY-A"]);
        assert!(!tls.allow_pinned_self_signed);
        // The trusted-server list pins keys: exactly the check of every join.
        let decided = TlsSettings {
            pins: vec!["KEY-A".into(), "KEY-B".into()],
            allow_pinned_self_signed: true,
            ..TlsSettings::default()
        };
        assert_eq!(rejoin_tls(decided, Some(&seen)).pins, ["KEY-A", "KEY-B"]);
        // Plain WebSocket (a local test server): nothing to pin.
        assert!(rejoin_tls(TlsSettings::default(), None).pins.is_empty());
    }

    #[tokio::test]
    async fn the_microphone_relay_hands_frames_to_the_newest_receiver() {
        let (mic, frames) = mpsc::unbounded_channel();
        let (relay, mut first) = CaptureRelay::start(frames);
        assert!(mic.send(vec![1.0]).is_ok());
        assert_eq!(first.recv().await, Some(vec![1.0]));
        let mut second = relay.new_receiver();
        assert!(mic.send(vec![2.0]).is_ok());
        assert_eq!(second.recv().await, Some(vec![2.0]));
        // The old receiver's sender is gone: it ends instead of waiting forever.
        assert_eq!(first.recv().await, None);
    }
}
