//! Packets grouped into bursts, and how much longer (or shorter) each burst took to arrive than
//! to leave compared with the burst before: the delay variation the trendline looks at.
//!
//! Single packets are a poor signal: a pacer or an encoder sends several back to back, and their
//! spacing on arrival mostly measures the sender's own burst, not the path. The spacing between
//! bursts does measure the path: if the bottleneck's queue grows, every burst arrives a little
//! later than the one before, relative to when it left.

use std::time::{Duration, Instant};

/// Packets that leave within this span of a group's first packet form one group.
const BURST_SPAN: Duration = Duration::from_millis(5);
/// A packet arriving within this of the group's last arrival, and sooner after it than it was
/// sent, was held up behind the group on the way (jitter that keeps order, Wi-Fi aggregation):
/// it joins the group, whose delay it shares, instead of reading as a queue that drained.
const BURST_ARRIVAL: Duration = Duration::from_millis(5);
/// No group spans more send time than this, however bunched its arrivals.
const MAX_GROUP_SPAN: Duration = Duration::from_millis(100);
/// A pause in sending longer than this starts afresh: the queue a paused stream saw is gone, so
/// comparing across the pause would read the pause itself as "delay went down".
const STREAM_TIMEOUT_MS: f64 = 2_000.0;
/// Arrival spacing that differs from send spacing by more than this is no queue (no queue in a
/// conference is 3 s deep) but a receiver clock that jumped: start afresh.
const CLOCK_JUMP_MS: f64 = 3_000.0;

/// The change in delay between two consecutive groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GroupDelta {
    /// Time between the last packets of the two groups at the sender, in ms.
    pub send_ms: f64,
    /// Time between the last arrivals of the two groups at the receiver, in ms.
    pub arrival_ms: f64,
    /// When the later group finished arriving (receiver clock).
    pub arrival: Duration,
}

/// What one received packet did to the grouping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum GroupEvent {
    /// A group completed and was compared with its predecessor.
    Delta(GroupDelta),
    /// The stream paused or the receiver clock jumped: what came before no longer compares.
    Reset,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_departure: Instant,
    last_departure: Instant,
    /// The latest arrival in the group: the group is complete when its last packet is in.
    last_arrival: Duration,
}

/// Groups received packets (in send order) into bursts and compares consecutive bursts.
#[derive(Debug, Default)]
pub(super) struct PacketGroups {
    /// The last complete group.
    previous: Option<Group>,
    /// The group being filled.
    current: Option<Group>,
}

impl PacketGroups {
    /// A packet that left at `departure` arrived at `arrival`.
    pub(super) fn on_packet(
        &mut self,
        departure: Instant,
        arrival: Duration,
    ) -> Option<GroupEvent> {
        let Some(current) = self.current.as_mut() else {
            self.current = Some(Group::of(departure, arrival));
            return None;
        };
        // Sent before the group began: the caller's order is off (or a duplicate report of an
        // older packet). It cannot be placed, and one packet less loses nothing.
        if departure < current.first_departure {
            return None;
        }
        if departure - current.first_departure <= BURST_SPAN
            || current.held_up_with(departure, arrival)
        {
            current.last_departure = current.last_departure.max(departure);
            current.last_arrival = current.last_arrival.max(arrival);
            return None;
        }
        let complete = *current;
        self.current = Some(Group::of(departure, arrival));
        self.compare(complete)
    }

    /// Forget everything (e.g. after the caller saw a long gap).
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    fn compare(&mut self, complete: Group) -> Option<GroupEvent> {
        let previous = self.previous.replace(complete)?;
        let send_ms = signed_ms(complete.last_departure, previous.last_departure);
        let arrival_ms = signed_duration_ms(complete.last_arrival, previous.last_arrival);
        if send_ms > STREAM_TIMEOUT_MS || (arrival_ms - send_ms).abs() > CLOCK_JUMP_MS {
            self.previous = None;
            return Some(GroupEvent::Reset);
        }
        if arrival_ms < 0.0 {
            // The group overtook its predecessor on the way (reordering between groups): its
            // delay says nothing about the queue. Keep comparing against the older group.
            self.previous = Some(previous);
            return None;
        }
        Some(GroupEvent::Delta(GroupDelta {
            send_ms,
            arrival_ms,
            arrival: complete.last_arrival,
        }))
    }
}

impl Group {
    /// Whether a packet arrived bunched up behind this group (see `BURST_ARRIVAL`).
    fn held_up_with(&self, departure: Instant, arrival: Duration) -> bool {
        let arrival_gap = signed_duration_ms(arrival, self.last_arrival);
        let send_gap = signed_ms(departure, self.last_departure);
        departure - self.first_departure <= MAX_GROUP_SPAN
            && arrival_gap <= BURST_ARRIVAL.as_secs_f64() * 1e3
            && arrival_gap < send_gap
    }

    fn of(departure: Instant, arrival: Duration) -> Self {
        Self {
            first_departure: departure,
            last_departure: departure,
            last_arrival: arrival,
        }
    }
}

/// `a − b` in ms, negative when `a` is earlier. Exact differences first, then one conversion,
/// so that the same spacing gives the same number whatever the clocks' epochs.
pub(super) fn signed_ms(a: Instant, b: Instant) -> f64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(b.saturating_duration_since(a).as_secs_f64() * 1e3),
    }
}

/// `a − b` in ms for receiver timestamps, negative when `a` is earlier.
pub(super) fn signed_duration_ms(a: Duration, b: Duration) -> f64 {
    match a.checked_sub(b) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(b.saturating_sub(a).as_secs_f64() * 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn packets_within_five_ms_form_one_group() {
        let t0 = Instant::now();
        let mut groups = PacketGroups::default();
        // Group A: 0, 2, 4 ms; group B: 10, 12 ms; group C starts at 20 ms.
        let mut events = Vec::new();
        for (sent, arrived) in [(0, 50), (2, 52), (4, 55), (10, 61), (12, 65), (20, 80)] {
            events.extend(groups.on_packet(t0 + ms(sent), ms(1000 + arrived)));
        }
        assert_eq!(
            events,
            vec![GroupEvent::Delta(GroupDelta {
                send_ms: 8.0,
                arrival_ms: 10.0,
                arrival: ms(1065),
            })]
        );
    }

    #[test]
    fn packets_held_up_behind_a_late_one_join_its_group() {
        let t0 = Instant::now();
        let mut groups = PacketGroups::default();
        // The packet sent at 10 ms is 20 ms late; those sent at 20 and 30 ms queue behind it
        // and arrive right after: one group, not two groups that "drained" 10 ms each.
        let mut events = Vec::new();
        for (sent, arrived) in [(0, 40), (10, 70), (20, 71), (30, 72), (40, 80), (50, 90)] {
            events.extend(groups.on_packet(t0 + ms(sent), ms(arrived)));
        }
        let deltas: Vec<(f64, f64)> = events
            .iter()
            .filter_map(|e| match e {
                GroupEvent::Delta(d) => Some((d.send_ms, d.arrival_ms)),
                GroupEvent::Reset => None,
            })
            .collect();
        assert_eq!(deltas, vec![(30.0, 32.0), (10.0, 8.0)]);
    }

    #[test]
    fn a_long_pause_starts_afresh() {
        let t0 = Instant::now();
        let mut groups = PacketGroups::default();
        let mut events = Vec::new();
        for (sent, arrived) in [(0, 50), (10, 60), (5_000, 5_050), (5_010, 5_060)] {
            events.extend(groups.on_packet(t0 + ms(sent), ms(arrived)));
        }
        assert!(events.contains(&GroupEvent::Reset), "{events:?}");
    }

    #[test]
    fn signed_differences_do_not_depend_on_the_epoch() {
        let near = signed_duration_ms(ms(30), ms(10));
        let far = signed_duration_ms(ms(30) + ms(u32::MAX as u64), ms(10) + ms(u32::MAX as u64));
        assert_eq!(near, far);
        assert_eq!(signed_duration_ms(ms(10), ms(30)), -20.0);
    }
}
