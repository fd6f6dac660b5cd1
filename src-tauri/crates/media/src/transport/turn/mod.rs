//! TURN servers: relays that carry media when the network lets nothing else through.
//!
//! webrtc-rs's TURN client speaks only UDP to its server. Networks that allow only TCP or TLS
//! to port 443 (schools, companies, hotels) need TURN over TCP (`turn:…?transport=tcp`) or TLS
//! (`turns:`). For those, a [`relay::StreamRelay`] runs in the process: a UDP socket on 127.0.0.1
//! that webrtc-rs's own TURN client talks to as if it were the server, each datagram framed onto
//! a TCP or TLS connection to the real server ([`framing`]) and back. The TURN server allocates
//! a relayed address as for any client; that address is the candidate the conference server sees.

pub mod framing;
mod relay;

use std::fmt;
use std::sync::Arc;

pub(crate) use relay::StreamRelay;

/// How the TURN client reaches its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// Datagrams (webrtc-rs speaks this itself).
    Udp,
    /// One TCP connection (through our relay).
    Tcp,
    /// One TLS connection (`turns:`; through our relay).
    Tls,
}

/// A TURN server's address, from a `turn:` or `turns:` URL (RFC 7065).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (3478 for `turn:`, 5349 for `turns:` unless given).
    pub port: u16,
    /// How it is reached.
    pub transport: TurnTransport,
}

/// Why a TURN URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnUrlError {
    /// Not `turn:` or `turns:`.
    #[error("a TURN server's address starts with turn: or turns:")]
    Scheme,
    /// No host after the scheme.
    #[error("the TURN server's address names no host")]
    MissingHost,
    /// A port that is not a number from 1 to 65535.
    #[error("the TURN server's port is not a number from 1 to 65535")]
    Port,
    /// `?transport=` other than `udp` or `tcp`, or another query.
    #[error("a TURN server's address may end only in ?transport=udp or ?transport=tcp")]
    Query,
    /// `turns:` over UDP (DTLS), which neither webrtc-rs nor we speak.
    #[error("turns: (TLS) works only over TCP; use turn:…?transport=udp for UDP")]
    TlsOverUdp,
}

impl TurnUrl {
    /// Read `turn:host[:port][?transport=udp|tcp]` or `turns:host[:port][?transport=tcp]`.
    pub fn parse(url: &str) -> Result<Self, TurnUrlError> {
        let url = url.trim();
        let (secure, rest) = if let Some(rest) = url.strip_prefix("turns:") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("turn:") {
            (false, rest)
        } else {
            return Err(TurnUrlError::Scheme);
        };
        let (address, query) = match rest.split_once('?') {
            Some((address, query)) => (address, Some(query)),
            None => (rest, None),
        };
        let tcp = match query {
            None => secure,
            Some("transport=tcp") => true,
            Some("transport=udp") if secure => return Err(TurnUrlError::TlsOverUdp),
            Some("transport=udp") => false,
            Some(_) => return Err(TurnUrlError::Query),
        };
        let (host, port) = split_host_port(address)?;
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(TurnUrlError::Port)?,
            None if secure => 5349,
            None => 3478,
        };
        let transport = match (secure, tcp) {
            (true, _) => TurnTransport::Tls,
            (false, true) => TurnTransport::Tcp,
            (false, false) => TurnTransport::Udp,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            transport,
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(address: &str) -> Result<(&str, Option<&str>), TurnUrlError> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(TurnUrlError::MissingHost)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(TurnUrlError::Port)?),
            ),
        }
    } else {
        match address.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
    if host.is_empty() || !host.chars().all(valid) {
        return Err(TurnUrlError::MissingHost);
    }
    Ok((host, port))
}

impl fmt::Display for TurnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.transport {
            TurnTransport::Udp => write!(f, "turn:{host}:{}?transport=udp", self.port),
            TurnTransport::Tcp => write!(f, "turn:{host}:{}?transport=tcp", self.port),
            TurnTransport::Tls => write!(f, "turns:{host}:{}?transport=tcp", self.port),
        }
    }
}

/// A TURN credential (long-term password). Its `Debug` says only that it exists; it has no
/// `Display` and no serde implementation, so it cannot reach a log, an event or a file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredential(String);

impl TurnCredential {
    /// Wrap the credential as read.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the one place that hands it to the TURN client.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TurnCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnCredential(<redacted>)")
    }
}

/// One TURN server and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// Where it is.
    pub url: TurnUrl,
    /// The long-term credential's user name.
    pub username: String,
    /// The long-term credential's password.
    pub credential: TurnCredential,
}

/// What TLS to TURN servers (`turns:`) trusts: a rustls client configuration that checks the
/// server's certificate (the caller builds it as for its other servers).
#[derive(Clone)]
pub struct TurnTls(pub Arc<rustls::ClientConfig>);

impl fmt::Debug for TurnTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnTls")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_their_defaults() {
        let url = |s| TurnUrl::parse(s);
        assert_eq!(
            url("turn:turn.example.org"),
            Ok(TurnUrl {
                host: "turn.example.org".into(),
                port: 3478,
                transport: TurnTransport::Udp
            })
        );
        let tcp = url("turn:198.18.0.1:443?transport=tcp").expect("valid");
        assert_eq!((tcp.port, tcp.transport), (443, TurnTransport::Tcp));
        let tls = url("turns:turn.example.org").expect("valid");
        assert_eq!((tls.port, tls.transport), (5349, TurnTransport::Tls));
        let v6 = url("turns:[2001:db8::1]:443?transport=tcp").expect("valid");
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 443));
        assert_eq!(v6.to_string(), "turns:[2001:db8::1]:443?transport=tcp");
        assert_eq!(tcp.to_string(), "turn:198.18.0.1:443?transport=tcp");
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        let url = |s| TurnUrl::parse(s);
        assert_eq!(url("stun:x.org"), Err(TurnUrlError::Scheme));
        assert_eq!(url("https://x.org"), Err(TurnUrlError::Scheme));
        assert_eq!(url("turn:"), Err(TurnUrlError::MissingHost));
        assert_eq!(url("turn:user@x.org"), Err(TurnUrlError::MissingHost));
        assert_eq!(url("turn:x.org:0"), Err(TurnUrlError::Port));
        assert_eq!(url("turn:x.org:99999"), Err(TurnUrlError::Port));
        assert_eq!(url("turn:x.org:44a"), Err(TurnUrlError::Port));
        assert_eq!(url("turn:x.org?transport=sctp"), Err(TurnUrlError::Query));
        assert_eq!(
            url("turns:x.org?transport=udp"),
            Err(TurnUrlError::TlsOverUdp)
        );
        assert_eq!(url("turn:[::1"), Err(TurnUrlError::MissingHost));
    }

    #[test]
    fn a_credential_never_shows_in_debug_output() {
        let server = TurnServer {
            url: TurnUrl::parse("turns:x.org").expect("valid"),
            username: "school".into(),
            credential: TurnCredential::new("s3cret-turn"),
        };
        let shown = format!("{server:?}");
        assert!(!shown.contains("s3cret-turn"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
