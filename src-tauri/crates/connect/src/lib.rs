//! Links and servers.
//!
//! `runde-connect` turns what a user pastes into a server endpoint and a room, finds out which server
//! family answers there, and speaks that family's signalling protocol. Each protocol is a sans-IO state
//! machine (input: messages and the current time; output: messages to send, events and the next
//! timeout) with a thin async driver, so it is tested from real transcripts without sockets. One
//! connector per server family (Janus VideoRoom first; Jitsi Meet and Galène later) sits behind one
//! trait. This crate knows nothing about media devices, codecs, the user's trust decisions or the UI.
#![deny(missing_docs)]

pub mod janus;
pub mod link;
pub mod operator;
mod secret;
pub mod tls;
pub mod ws;

pub use link::{Link, LinkError, parse_link};
pub use operator::{OperatorStatement, fetch_statement};
pub use secret::Secret;
pub use tls::ServerCertificate;
pub use ws::{ConnectError, TlsSettings};
