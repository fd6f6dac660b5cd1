//! Repairing a broken media path without leaving the room: an ICE restart on the same server
//! handles. The network changed under the call (another address, an interface down and up, a
//! path that stopped carrying anything), but the connection to the server is still there: new
//! ICE credentials and candidates on the same peer connections bring media back while everybody
//! stays in the room — no leave and join for the others, the same participant id, the same
//! subscription, the same end-to-end keys (DTLS survives an ICE restart).
//!
//! When the restart cannot help — the server does not answer it (its connection broke with the
//! network), refuses it, or media is not back in time — the call falls back to rejoining
//! ([`crate::rejoin`]).
//!
//! The plan is a pure state machine told the time; the call (`session.rs`) sends the requests
//! and reports answers and connections back.
//!
//! ```text
//! media path broken ──signalling open──▶ Restarting(link) ──connected──▶ InCall
//!        │                                   │ no answer in 1 s, refused,
//!        │ signalling gone                   │ not connected in 2.5 s
//!        ▼                                   ▼
//!     Rejoin ◀───────────────────────────────┘
//! ```

use std::time::{Duration, Instant};

/// How long the server has to answer a restart request (ICE credentials in, new ones or an
/// answer out: Janus answers at once). No answer means the signalling path is gone as well, even
/// if its connection has not noticed yet: the call rejoins.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// How long a restarted media path may take to connect before the call rejoins instead. On the
/// test network a restart connects 0.1–0.3 s after the server's answer; a rejoin takes 0.3 s
/// more than that, so waiting much longer only makes a failing restart cost more.
pub(crate) const RESTART_FOR: Duration = Duration::from_millis(2500);

/// What to do about a media path that broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Restart ICE on the same handles.
    Restart,
    /// Rejoin the room (new session, new handles).
    Rejoin,
    /// Nothing (a repair is under way, or the call does not rejoin).
    Nothing,
}

/// The repair for a broken media path: a restart while the signalling connection is open and
/// none is under way for that path, a rejoin otherwise (when the call rejoins at all).
pub(crate) fn repair(
    signalling_open: bool,
    restarting_this_path: bool,
    rejoining: bool,
    rejoins: bool,
) -> Repair {
    if rejoining || restarting_this_path {
        Repair::Nothing
    } else if signalling_open {
        Repair::Restart
    } else if rejoins {
        Repair::Rejoin
    } else {
        Repair::Nothing
    }
}

/// One media path (publisher: 0, subscriber: 1) being restarted.
#[derive(Debug, Clone, Copy)]
struct PathRestart {
    started: Instant,
    /// The server answered (its answer to our offer, or its new offer).
    answered: bool,
}

/// Where the restart stands, when the call asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestartCheck {
    /// Nothing being restarted.
    Idle,
    /// Under way: look again at this time.
    Until(Instant),
    /// It did not work: rejoin, for this reason.
    GiveUp(String),
}

/// The ICE restarts under way, per media path.
#[derive(Debug, Default)]
pub(crate) struct IceRestart {
    paths: [Option<PathRestart>; 2],
    /// When the first path of this repair broke.
    since: Option<Instant>,
}

impl IceRestart {
    /// Start restarting path `index` at `now`; `false` when it is being restarted already.
    pub(crate) fn begin(&mut self, index: usize, now: Instant) -> bool {
        let Some(slot) = self.paths.get_mut(index) else {
            return false;
        };
        if slot.is_some() {
            return false;
        }
        *slot = Some(PathRestart {
            started: now,
            answered: false,
        });
        self.since.get_or_insert(now);
        true
    }

    /// Whether path `index` is being restarted.
    pub(crate) fn restarting(&self, index: usize) -> bool {
        self.paths.get(index).is_some_and(Option::is_some)
    }

    /// Whether anything is being restarted.
    pub(crate) fn is_active(&self) -> bool {
        self.paths.iter().any(Option::is_some)
    }

    /// The server answered the restart of path `index`.
    pub(crate) fn answered(&mut self, index: usize) {
        if let Some(Some(path)) = self.paths.get_mut(index) {
            path.answered = true;
        }
    }

    /// Path `index` connected again. When that was the last one, how long the repair took
    /// (from the first break).
    pub(crate) fn connected(&mut self, index: usize, now: Instant) -> Option<Duration> {
        let slot = self.paths.get_mut(index)?;
        slot.take()?;
        if self.is_active() {
            return None;
        }
        self.since
            .take()
            .map(|since| now.saturating_duration_since(since))
    }

    /// Forget every restart (the call rejoins, or ends).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the restart still has time, at `now`.
    pub(crate) fn check(&self, now: Instant) -> RestartCheck {
        let mut next: Option<Instant> = None;
        for path in self.paths.iter().flatten() {
            let (due, reason) = if path.answered {
                (
                    path.started + RESTART_FOR,
                    format!(
                        "the media path did not connect within {} ms of an ICE restart",
                        RESTART_FOR.as_millis()
                    ),
                )
            } else {
                (
                    path.started + ANSWER_WITHIN,
                    format!(
                        "the server did not answer an ICE restart within {} ms",
                        ANSWER_WITHIN.as_millis()
                    ),
                )
            };
            if now >= due {
                return RestartCheck::GiveUp(reason);
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        next.map_or(RestartCheck::Idle, RestartCheck::Until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_broken_path_is_restarted_while_signalling_lives_and_rejoined_otherwise() {
        // Signalling open, nothing under way: restart.
        assert_eq!(repair(true, false, false, true), Repair::Restart);
        // Even when the call would not rejoin: a restart leaves nobody's room.
        assert_eq!(repair(true, false, false, false), Repair::Restart);
        // The signalling connection is gone as well: only a rejoin can help.
        assert_eq!(repair(false, false, false, true), Repair::Rejoin);
        assert_eq!(repair(false, false, false, false), Repair::Nothing);
        // A repair under way is left to finish.
        assert_eq!(repair(true, true, false, true), Repair::Nothing);
        assert_eq!(repair(true, false, true, true), Repair::Nothing);
    }

    #[test]
    fn a_restart_that_connects_in_time_is_done_and_says_how_long_it_took() {
        let t0 = Instant::now();
        let mut restart = IceRestart::default();
        assert_eq!(restart.check(t0), RestartCheck::Idle);
        assert!(restart.begin(0, t0));
        assert!(!restart.begin(0, t0 + ms(10)), "already under way");
        // The subscriber's path breaks a little later and joins the same repair.
        assert!(restart.begin(1, t0 + ms(200)));
        assert_eq!(restart.check(t0), RestartCheck::Until(t0 + ANSWER_WITHIN));
        restart.answered(0);
        restart.answered(1);
        assert_eq!(
            restart.check(t0 + ms(300)),
            RestartCheck::Until(t0 + RESTART_FOR)
        );
        assert_eq!(restart.connected(0, t0 + ms(400)), None, "one path is left");
        assert!(restart.is_active() && restart.restarting(1) && !restart.restarting(0));
        assert_eq!(restart.connected(1, t0 + ms(650)), Some(ms(650)));
        assert!(!restart.is_active());
        assert_eq!(restart.check(t0 + ms(5000)), RestartCheck::Idle);
        // A path that connects without a restart is none of its business.
        assert_eq!(restart.connected(0, t0 + ms(700)), None);
    }

    #[test]
    fn a_restart_the_server_does_not_answer_gives_up_after_a_second() {
        let t0 = Instant::now();
        let mut restart = IceRestart::default();
        restart.begin(0, t0);
        restart.begin(1, t0);
        restart.answered(1);
        assert_eq!(
            restart.check(t0 + ANSWER_WITHIN - ms(1)),
            RestartCheck::Until(t0 + ANSWER_WITHIN)
        );
        assert!(matches!(
            restart.check(t0 + ANSWER_WITHIN),
            RestartCheck::GiveUp(reason) if reason.contains("did not answer")
        ));
    }

    #[test]
    fn a_restart_that_does_not_connect_in_time_gives_up() {
        let t0 = Instant::now();
        let mut restart = IceRestart::default();
        restart.begin(1, t0);
        restart.answered(1);
        assert_eq!(
            restart.check(t0 + ms(2000)),
            RestartCheck::Until(t0 + RESTART_FOR)
        );
        assert!(matches!(
            restart.check(t0 + RESTART_FOR),
            RestartCheck::GiveUp(reason) if reason.contains("did not connect")
        ));
        restart.clear();
        assert_eq!(restart.check(t0 + RESTART_FOR), RestartCheck::Idle);
        assert!(restart.begin(1, t0 + RESTART_FOR), "a new repair may start");
    }

    #[test]
    fn only_the_two_paths_exist() {
        let mut restart = IceRestart::default();
        assert!(!restart.begin(2, Instant::now()));
        assert!(!restart.restarting(2));
    }
}
