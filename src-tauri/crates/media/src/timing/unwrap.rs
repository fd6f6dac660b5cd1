//! Extending wrapping RTP counters (16-bit sequence numbers, 32-bit timestamps) to 64 bits.

/// Turns a wrapping n-bit counter into a monotonic 64-bit one, tolerating reordering of up to
/// half the counter's range.
#[derive(Debug, Clone)]
pub struct Unwrapper {
    bits: u32,
    last: Option<u64>,
}

impl Unwrapper {
    /// For an n-bit counter (16 for sequence numbers, 32 for timestamps).
    pub fn new(bits: u32) -> Self {
        Self { bits, last: None }
    }

    /// The 64-bit value of the next counter reading.
    pub fn unwrap(&mut self, value: u64) -> u64 {
        let range = 1u64 << self.bits;
        let value = value & (range - 1);
        let Some(last) = self.last else {
            // Start one cycle up, so that a packet reordered before the first cannot go negative.
            let ext = value + range;
            self.last = Some(ext);
            return ext;
        };
        let diff = value.wrapping_sub(last) & (range - 1);
        let ext = if diff < range / 2 {
            last + diff
        } else {
            last - (range - diff)
        };
        if ext > last {
            self.last = Some(ext);
        }
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::Unwrapper;

    #[test]
    fn sequence_numbers_wrap_and_reorder() {
        let mut u = Unwrapper::new(16);
        let a = u.unwrap(65_534);
        assert_eq!(u.unwrap(65_535), a + 1);
        assert_eq!(u.unwrap(0), a + 2);
        assert_eq!(u.unwrap(65_535), a + 1, "late packet from before the wrap");
        assert_eq!(u.unwrap(2), a + 4);
    }
}
