//! VP8 RTP payloads from a hostile network: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runde_media::rtp::vp8::{FrameAssembler, parse_payload};

fuzz_target!(|data: &[u8]| {
    let _ = parse_payload(data);
    let mut assembler = FrameAssembler::default();
    for (i, chunk) in data.chunks(7).enumerate() {
        let seq = u64::from(chunk.first().copied().unwrap_or(0) % 16) + i as u64;
        let marker = chunk.get(1).is_some_and(|b| b & 1 == 1);
        let _ = assembler.insert(seq, u32::from(chunk.len() as u8 % 3), marker, chunk, i as u64);
    }
});
