//! Any bytes as an end-to-end encrypted frame: refused or decrypted, never a panic — whatever a
//! server or another participant sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runde_e2ee::{CallKey, FrameDecryptor, FrameKind};

fuzz_target!(|data: &[u8]| {
    let mut decryptor = FrameDecryptor::new(CallKey::from_bytes([7; 32]));
    for kind in [FrameKind::Opus, FrameKind::Vp8] {
        let _ = decryptor.decrypt(kind, data);
    }
});
