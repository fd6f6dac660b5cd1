//! A TCP or TLS stream from a TURN server, and datagrams from its client: cut into messages or
//! refused, never a panic, never an unbounded buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runde_media::transport::turn::framing::{MAX_MESSAGE, StreamDeframer, to_stream};

fuzz_target!(|data: &[u8]| {
    let _ = to_stream(data);
    let mut deframer = StreamDeframer::default();
    for chunk in data.chunks(usize::from(data.first().copied().unwrap_or(1)).max(1)) {
        deframer.push(chunk);
        while let Ok(Some(message)) = deframer.next_message() {
            assert!(message.len() <= MAX_MESSAGE);
        }
    }
});
