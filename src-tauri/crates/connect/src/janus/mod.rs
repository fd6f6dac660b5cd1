//! Janus (VideoRoom plugin over the WebSocket transport): the protocol as a sans-IO state machine
//! ([`VideoRoom`]) and the wire format it reads ([`WireError`] for what it refuses).

mod driver;
mod room;
mod wire;

pub use driver::{JanusConnection, ServerInfo, probe};
pub use room::{
    JoinConfig, JoinError, KEEPALIVE_INTERVAL, MediaKind, Participant, REPLY_TIMEOUT,
    ROOM_FACTS_INTERVAL, RemoteStream, Role, RoomEvent, RoomFacts, RoomId, VideoRoom,
};
pub use wire::{Jsep, WireError};

/// The WebSocket subprotocol Janus requires; without it the handshake is dropped.
pub const SUBPROTOCOL: &str = "janus-protocol";

#[cfg(test)]
mod tests;
