//! Opus RTP packets from a hostile network through the jitter buffer: audio out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runde_media::audio::FRAME_10MS;
use runde_media::jitter::AudioJitterBuffer;

fuzz_target!(|data: &[u8]| {
    let Ok(mut jb) = AudioJitterBuffer::new() else { return };
    let mut frame = vec![0.0; FRAME_10MS];
    for (i, chunk) in data.chunks(16).enumerate() {
        let seq = u16::from_le_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        let ts = u32::from(seq) * 960;
        jb.insert(seq, ts, chunk.get(2..).unwrap_or(&[]), i as u64 * 10);
        let _ = jb.pull(i as u64 * 10, &mut frame);
    }
});
