//! Any sequence of messages from a Janus server (split at NUL bytes): handled or refused, never a
//! panic; the state machine keeps answering its timers.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use runde_connect::janus::{JoinConfig, RoomId, VideoRoom};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let config = JoinConfig {
        room: RoomId::Number(1234),
        display: "fuzz".into(),
        pin: None,
        receive: true,
        e2ee: false,
    };
    let mut room = VideoRoom::new(config, "f", now);
    for (i, chunk) in data.split(|b| *b == 0).enumerate() {
        let text = String::from_utf8_lossy(chunk);
        let _ = room.handle_message(&text, now + Duration::from_millis(i as u64));
        while room.poll_transmit().is_some() {}
        while room.poll_event().is_some() {}
    }
    room.handle_timeout(now + Duration::from_secs(120));
});
