//! The synthetic camera: a moving test pattern with a machine-readable stamp (frame counter and
//! capture time) drawn into the picture, so a receiver can read back drops, freezes and latency
//! from the decoded image itself.
//!
//! The stamp is 96 bits — counter (32), capture time in µs (48), CRC-16 (16) — drawn as a band of
//! 4 × 24 black or white cells across the top of the frame. Cells scale with the frame width, so the
//! stamp survives lossy coding and scaling; the CRC rejects a misread.

use super::{I420Frame, VideoSource};
use crate::MediaError;

const COLUMNS: u32 = 24;
const ROWS: u32 = 4;
const BITS: usize = (COLUMNS * ROWS) as usize;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

/// What a frame says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number, from 0.
    pub counter: u32,
    /// Capture time in microseconds (kept modulo 2^48).
    pub capture_us: u64,
}

/// CRC-16/CCITT-FALSE.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xffff_u16;
    for b in bytes {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn payload(stamp: Stamp) -> [u8; 10] {
    let mut p = [0; 10];
    p[..4].copy_from_slice(&stamp.counter.to_be_bytes());
    p[4..].copy_from_slice(&stamp.capture_us.to_be_bytes()[2..]);
    p
}

fn encode_bits(stamp: Stamp) -> [bool; BITS] {
    let p = payload(stamp);
    let mut bytes = [0u8; 12];
    bytes[..10].copy_from_slice(&p);
    bytes[10..].copy_from_slice(&crc16(&p).to_be_bytes());
    std::array::from_fn(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0)
}

/// Cell height in pixels for a frame width (cells are square).
fn cell(width: u32) -> u32 {
    (width / COLUMNS).max(2)
}

/// Left and right edge of a cell column: proportional to the width, so that a scaled frame's
/// stamp lines up with the reader's grid at any size.
fn column_span(col: u32, width: u32) -> (u32, u32) {
    (col * width / COLUMNS, (col + 1) * width / COLUMNS)
}

/// Draw the stamp into a frame's luma plane.
fn draw_stamp(frame: &mut I420Frame, stamp: Stamp) {
    let (w, h) = (frame.width(), frame.height());
    let c = cell(w);
    let (y_plane, _, _) = frame.planes_mut();
    for (i, bit) in encode_bits(stamp).iter().enumerate() {
        let (col, row) = (i as u32 % COLUMNS, i as u32 / COLUMNS);
        let value = if *bit { WHITE } else { BLACK };
        let (x0, x1) = column_span(col, w);
        for y in row * c..((row + 1) * c).min(h) {
            y_plane[(y * w + x0) as usize..(y * w + x1) as usize].fill(value);
        }
    }
}

/// Read the stamp back from a (possibly coded and scaled) frame; `None` if it is unreadable.
pub fn read_stamp(frame: &I420Frame) -> Option<Stamp> {
    let (w, h) = (frame.width(), frame.height());
    let c = cell(w);
    if c * ROWS > h {
        return None;
    }
    let (y_plane, _, _) = frame.planes();
    let mut bytes = [0u8; 12];
    for i in 0..BITS {
        let (col, row) = (i as u32 % COLUMNS, i as u32 / COLUMNS);
        // The middle half of the cell, away from edges that coding and scaling blur.
        let (left, right) = column_span(col, w);
        let cw = right - left;
        let (x0, y0) = (left + cw / 4, row * c + c / 4);
        let (mut sum, mut n) = (0u32, 0u32);
        for y in y0..y0 + (c / 2).max(1) {
            for x in x0..x0 + (cw / 2).max(1) {
                sum += u32::from(y_plane[(y * w + x) as usize]);
                n += 1;
            }
        }
        if sum / n.max(1) > 128 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let (p, check) = bytes.split_at(10);
    if crc16(p) != u16::from_be_bytes([check[0], check[1]]) {
        return None;
    }
    let mut ts = [0u8; 8];
    ts[2..].copy_from_slice(&p[4..10]);
    Some(Stamp {
        counter: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
        capture_us: u64::from_be_bytes(ts),
    })
}

/// A synthetic camera producing the test pattern at a fixed frame rate. Capture times come from
/// an injected clock so that tests are deterministic and live use can pass the real one.
pub struct TestPattern {
    width: u32,
    height: u32,
    fps: u32,
    counter: u32,
    clock: Box<dyn FnMut() -> u64 + Send>,
}

impl TestPattern {
    /// A pattern of this size and rate whose capture times are `frame number / fps`.
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self, MediaError> {
        I420Frame::black(width, height)?;
        let fps = fps.max(1);
        let mut n = 0u64;
        Ok(Self {
            width,
            height,
            fps,
            counter: 0,
            clock: Box::new(move || {
                let t = n * 1_000_000 / u64::from(fps);
                n += 1;
                t
            }),
        })
    }

    /// Take capture times from `clock` (microseconds) instead.
    pub fn with_clock(mut self, clock: impl FnMut() -> u64 + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Frames per second this pattern is meant to be paced at.
    pub fn fps(&self) -> u32 {
        self.fps
    }

    fn draw_scene(&self, frame: &mut I420Frame) {
        let (w, h, n) = (self.width, self.height, self.counter);
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        // A diagonal gradient that moves one pixel per frame, plus a bright square that crosses
        // the picture once every 4 seconds at 30 fps: motion an encoder has to work for.
        for y in 0..h {
            for x in 0..w {
                let g = (x + y + n) % 220;
                y_plane[(y * w + x) as usize] = 16 + g as u8;
            }
        }
        let side = (h / 5).max(2);
        let bx = (n * (w / 120).max(1)) % w.saturating_sub(side).max(1);
        let by = h / 2 - side / 2;
        for y in by..by + side {
            let row = (y * w) as usize;
            y_plane[row + bx as usize..row + (bx + side) as usize].fill(WHITE);
        }
        // Gentle colour across the picture, inside the RGB gamut (so RGB round trips are clean).
        for (i, (u, v)) in u_plane.iter_mut().zip(v_plane.iter_mut()).enumerate() {
            let cx = (i as u32 % (w / 2)) * 64 / (w / 2);
            *u = (96 + cx) as u8;
            *v = (160 - cx) as u8;
        }
    }
}

impl VideoSource for TestPattern {
    fn next_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        let mut frame = I420Frame::black(self.width, self.height)?;
        let capture_us = (self.clock)() & 0xffff_ffff_ffff;
        self.draw_scene(&mut frame);
        draw_stamp(
            &mut frame,
            Stamp {
                counter: self.counter,
                capture_us,
            },
        );
        frame.timestamp_us = capture_us;
        self.counter = self.counter.wrapping_add(1);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_exactly() -> Result<(), MediaError> {
        let mut pattern = TestPattern::new(640, 360, 30)?;
        for expected in 0..5u32 {
            let frame = pattern.next_frame()?.expect("endless");
            let stamp = read_stamp(&frame);
            assert_eq!(
                stamp,
                Some(Stamp {
                    counter: expected,
                    capture_us: u64::from(expected) * 1_000_000 / 30
                })
            );
        }
        Ok(())
    }

    #[test]
    fn stamp_survives_noise_and_a_damaged_stamp_is_rejected() -> Result<(), MediaError> {
        let mut pattern = TestPattern::new(320, 180, 30)?.with_clock(|| 0x1234_5678_9abc);
        let mut frame = pattern.next_frame()?.expect("endless");
        // Coding noise: ±40 on every luma sample.
        for (i, y) in frame.planes_mut().0.iter_mut().enumerate() {
            *y = if i % 2 == 0 {
                y.saturating_add(40)
            } else {
                y.saturating_sub(40)
            };
        }
        assert_eq!(
            read_stamp(&frame).map(|s| s.capture_us),
            Some(0x1234_5678_9abc)
        );
        // Invert one cell: the CRC must catch it.
        let c = cell(320);
        let (y_plane, _, _) = frame.planes_mut();
        for y in 0..c {
            for x in 0..c {
                let p = &mut y_plane[(y * 320 + x) as usize];
                *p = 255 - *p;
            }
        }
        assert_eq!(read_stamp(&frame), None);
        Ok(())
    }

    #[test]
    fn consecutive_frames_differ_outside_the_stamp() -> Result<(), MediaError> {
        let mut pattern = TestPattern::new(64, 48, 30)?;
        let a = pattern.next_frame()?.expect("endless");
        let b = pattern.next_frame()?.expect("endless");
        let below = (cell(64) * ROWS * 64) as usize;
        assert_ne!(a.planes().0[below..], b.planes().0[below..]);
        Ok(())
    }
}
