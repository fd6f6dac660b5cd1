//! A new subscription for streams that arrive but cannot be decrypted.
//!
//! When the media connection reports a stream whose packets keep arriving and none decrypts
//! (`LinkEvent::Undecryptable`), that stream stays dark on this connection for good: its SRTP
//! state cannot be repaired from outside. The call then replaces the whole subscription (a new
//! server handle, a new peer connection with new keys); everybody's sound pauses for about as
//! long as joining takes, and the dark picture comes back.
//!
//! Should that not cure it (something on the way mangles the packets), replacing again at once
//! would only interrupt everybody's sound over and over: renewals are spaced, 10 s after the
//! first, then 20, 40, … up to every 160 s; after a quiet spell that long the spacing starts
//! over. A renewal asked for too early is held until its time, not forgotten (the connection
//! reports a failing stream only once).
//!
//! Pure logic told the time; the call (`session.rs`) acts on it.

use std::time::{Duration, Instant};

/// The least time between two renewals, at first.
pub(crate) const FIRST_SPACING: Duration = Duration::from_secs(10);
/// The most.
pub(crate) const MAX_SPACING: Duration = Duration::from_secs(160);

/// When the subscription may be, and is to be, renewed.
#[derive(Debug)]
pub(crate) struct Renewals {
    /// The next renewal may not start before this.
    allowed_from: Option<Instant>,
    spacing: Duration,
    /// A renewal asked for, due at this time.
    pending: Option<Instant>,
    /// The renewal under way: when it started.
    started: Option<Instant>,
}

impl Default for Renewals {
    fn default() -> Self {
        Self {
            allowed_from: None,
            spacing: FIRST_SPACING,
            pending: None,
            started: None,
        }
    }
}

impl Renewals {
    /// A stream does not decrypt: renew as soon as allowed.
    pub(crate) fn ask(&mut self, now: Instant) {
        if self.pending.is_none() {
            self.pending = Some(self.allowed_from.map_or(now, |from| from.max(now)));
        }
    }

    /// When the renewal asked for is due; never, without one.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.pending
    }

    /// Whether to renew now (a renewal asked for is due): it counts as started.
    pub(crate) fn start_if_due(&mut self, now: Instant) -> bool {
        match self.pending {
            Some(due) if due <= now => {}
            _ => return false,
        }
        self.pending = None;
        if self
            .allowed_from
            .is_some_and(|from| now >= from + MAX_SPACING)
        {
            self.spacing = FIRST_SPACING;
        }
        self.allowed_from = Some(now + self.spacing);
        self.spacing = (self.spacing * 2).min(MAX_SPACING);
        self.started = Some(now);
        true
    }

    /// Forget a renewal asked for (the whole call is being rejoined, which renews everything).
    pub(crate) fn cancel(&mut self) {
        self.pending = None;
        self.started = None;
    }

    /// Whether a renewal is under way (its media connection not up yet).
    pub(crate) fn is_active(&self) -> bool {
        self.started.is_some()
    }

    /// The new subscription's media connection is up: how long the renewal took.
    pub(crate) fn connected(&mut self, now: Instant) -> Option<Duration> {
        self.started.take().map(|started| now - started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_renewal_starts_at_once_and_later_ones_are_spaced() {
        let t0 = Instant::now();
        let mut r = Renewals::default();
        assert_eq!(r.due(), None);
        assert!(!r.start_if_due(t0), "nothing asked for");
        r.ask(t0);
        assert_eq!(r.due(), Some(t0));
        assert!(r.start_if_due(t0));
        assert!(r.is_active());
        assert_eq!(
            r.connected(t0 + Duration::from_millis(700)),
            Some(Duration::from_millis(700))
        );
        assert!(!r.is_active());

        // The stream fails again 3 s later: the renewal waits until 10 s after the first.
        let t1 = t0 + Duration::from_secs(3);
        r.ask(t1);
        assert_eq!(r.due(), Some(t0 + Duration::from_secs(10)));
        assert!(!r.start_if_due(t1));
        r.ask(t1 + Duration::from_secs(1));
        assert_eq!(
            r.due(),
            Some(t0 + Duration::from_secs(10)),
            "asked twice: once"
        );
        assert!(r.start_if_due(t0 + Duration::from_secs(10)));

        // Then 20 s, 40, 80, 160, and no more than 160.
        let mut at = t0 + Duration::from_secs(10);
        for spacing in [20, 40, 80, 160, 160] {
            r.ask(at);
            let due = r.due();
            assert_eq!(due, Some(at + Duration::from_secs(spacing)));
            at += Duration::from_secs(spacing);
            assert!(r.start_if_due(at));
        }
    }

    #[test]
    fn after_a_quiet_spell_the_spacing_starts_over() {
        let t0 = Instant::now();
        let mut r = Renewals::default();
        for n in 0..4 {
            let at = t0 + Duration::from_secs(200 * n);
            r.ask(at);
            assert_eq!(r.due(), Some(at), "renewal {n} at once");
            assert!(r.start_if_due(at));
        }
        let at = t0 + Duration::from_secs(601);
        r.ask(at);
        assert_eq!(r.due(), Some(t0 + Duration::from_secs(610)));
    }

    #[test]
    fn a_cancelled_renewal_is_not_due() {
        let t0 = Instant::now();
        let mut r = Renewals::default();
        r.ask(t0);
        r.cancel();
        assert_eq!(r.due(), None);
        assert!(!r.start_if_due(t0 + Duration::from_secs(1)));
        assert!(!r.is_active());
    }
}
