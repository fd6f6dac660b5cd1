//! Who the user trusts.
//!
//! `runde-trust` keeps the trusted-server store and reads the administrator's policy, verifies TLS
//! certificates with key pinning, establishes who operates a server (declared by the user or an admin
//! and pinned, certificate organisation, self-declared by the server, or unknown), and owns settings
//! (in the OS-conventional folders) and secrets (only in the OS keyring, only when the user asks). It is
//! pure logic with small IO edges and knows nothing about media, signalling protocols or the UI.
#![deny(missing_docs)]
