//! Any text pasted as a link: a link or a typed refusal, never a panic; accepted links are
//! WebSocket endpoints without query; a refused link with a secret never repeats it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runde_connect::{LinkError, parse_link};

fuzz_target!(|text: &str| {
    match parse_link(text) {
        Ok(link) => {
            assert!(matches!(link.endpoint().scheme(), "ws" | "wss"));
            assert!(link.endpoint().query().is_none());
        }
        Err(LinkError::PasswordInLink { without_secret }) => {
            assert!(!matches!(parse_link(&without_secret), Err(LinkError::PasswordInLink { .. })));
        }
        Err(_) => {}
    }
});
