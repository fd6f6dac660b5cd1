//! Conference links: what a user pastes, turned into a signalling endpoint and a room.
//!
//! Accepted forms (documented for operators in `docs/links.md`):
//!
//! * `https://HOST[:PORT]/PATH?room=ROOM` — the form an operator hands out. The signalling
//!   endpoint is `wss://HOST[:PORT]/PATH`; the server family is found by probing it.
//! * `runde://HOST[:PORT]/PATH?room=ROOM` — the same, as a deep link that opens Runde.
//! * `wss://HOST[:PORT]/PATH?room=ROOM` — a WebSocket endpoint given directly.
//! * `http://` and `ws://` only for loopback hosts (a server on the user's own machine).
//!
//! A link never carries a password. A link with credentials (`user:pass@`) or a secret-looking
//! parameter (`pin`, `password`, `token`, …) is refused with [`LinkError::PasswordInLink`]; the
//! error holds a copy of the link with the secret removed so the user can continue, and never
//! the secret itself.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

/// Longest link we accept, in bytes. Real links are far shorter; the cap bounds parser work.
pub const MAX_LINK_LEN: usize = 2048;
/// Longest room identifier we accept, in bytes.
pub const MAX_ROOM_LEN: usize = 128;

/// Query or fragment parameter names that carry secrets. Compared case-insensitively.
const SECRET_PARAMS: &[&str] = &[
    "pin",
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "token",
    "jwt",
    "key",
    "auth",
    "access_token",
    "e2ee_key",
    "passphrase",
];

/// A parsed conference link: where to signal and which room to join. Holds no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Link {
    endpoint: Url,
    room: Option<String>,
}

impl Link {
    /// The signalling endpoint (`wss://…`, or `ws://` on loopback).
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The room the link names, if any.
    pub fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }

    /// The server as people recognise it: host, plus the port when it is not the default one.
    /// International domain names stay in their ASCII (punycode) form so look-alike letters
    /// cannot pass for a familiar name.
    pub fn server(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// True when the transport to the server is TLS-protected (`wss`).
    pub fn is_tls(&self) -> bool {
        self.endpoint.scheme() == "wss"
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("endpoint", &self.endpoint.as_str())
            .field("room", &self.room)
            .finish()
    }
}

/// Why a link was refused. Messages never repeat a secret the link carried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Nothing was pasted.
    #[error("the link is empty")]
    Empty,
    /// The link is longer than [`MAX_LINK_LEN`].
    #[error("the link is too long ({len} bytes, at most {MAX_LINK_LEN})")]
    TooLong {
        /// Length of the pasted text in bytes.
        len: usize,
    },
    /// The text is not a URL at all.
    #[error("this is not a link")]
    NotALink,
    /// The scheme is not one we join through.
    #[error("links starting with '{scheme}:' cannot be joined; use an https:// link")]
    UnsupportedScheme {
        /// The scheme that was given, lower-cased.
        scheme: String,
    },
    /// No server name in the link.
    #[error("the link names no server")]
    MissingHost,
    /// Unencrypted transport to a server that is not on this machine.
    #[error("the link uses an unencrypted connection to another machine; use https:// or wss://")]
    InsecureTransport,
    /// The link carries a password, PIN or token.
    #[error(
        "the link contains a password or access code; Runde never takes one from a link — \
         enter it in the password field instead"
    )]
    PasswordInLink {
        /// The same link with every secret removed, safe to show and use.
        without_secret: String,
    },
    /// The room parameter is empty, too long or holds characters no server uses in room names.
    #[error("the room name in the link is not valid")]
    InvalidRoom,
}

/// Parse a pasted link. Surrounding whitespace is ignored.
pub fn parse_link(input: &str) -> Result<Link, LinkError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(LinkError::Empty);
    }
    if text.len() > MAX_LINK_LEN {
        return Err(LinkError::TooLong { len: text.len() });
    }
    let mut url = parse_url(text)?;
    refuse_secrets(&mut url)?;
    let scheme = signalling_scheme(&url)?;
    let room = take_room(&url)?;
    let endpoint = endpoint_of(&url, scheme)?;
    Ok(Link { endpoint, room })
}

/// Parse with `url`, mapping `runde://` onto `https://` so its host is normalised the same way.
fn parse_url(text: &str) -> Result<Url, LinkError> {
    if text.chars().any(char::is_control) {
        return Err(LinkError::NotALink);
    }
    let (scheme, rest) = text.split_once(':').ok_or(LinkError::NotALink)?;
    let scheme = scheme.to_ascii_lowercase();
    let normalised = match scheme.as_str() {
        "runde" => format!("https:{rest}"),
        _ => text.to_owned(),
    };
    let url = Url::parse(&normalised).map_err(|_| LinkError::NotALink)?;
    match url.scheme() {
        "https" | "http" | "wss" | "ws" => Ok(url),
        other => Err(LinkError::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}

/// Refuse a link that carries credentials, handing back the link without them.
fn refuse_secrets(url: &mut Url) -> Result<(), LinkError> {
    let mut found = !url.username().is_empty() || url.password().is_some();
    if found {
        // Cannot fail for the http(s)/ws(s) schemes `parse_url` lets through.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if query.iter().any(|(k, _)| is_secret_param(k)) {
        found = true;
        let kept: Vec<_> = query
            .into_iter()
            .filter(|(k, _)| !is_secret_param(k))
            .collect();
        set_query(url, &kept);
    }
    if let Some(fragment) = url.fragment()
        && fragment_has_secret(fragment)
    {
        found = true;
        url.set_fragment(None);
    }
    if found {
        return Err(LinkError::PasswordInLink {
            without_secret: url.to_string(),
        });
    }
    Ok(())
}

fn is_secret_param(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|secret| {
        name == *secret
            || name.ends_with(&format!(".{secret}"))
            || name.ends_with(&format!("_{secret}"))
    })
}

/// Fragments are often `key=value&…` lists (Jitsi puts config there); look for secrets in them.
fn fragment_has_secret(fragment: &str) -> bool {
    url::form_urlencoded::parse(fragment.as_bytes()).any(|(k, _)| is_secret_param(&k))
}

fn set_query(url: &mut Url, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
}

/// The WebSocket scheme to signal over; plain text only to this machine's own loopback.
fn signalling_scheme(url: &Url) -> Result<&'static str, LinkError> {
    let host = url.host().ok_or(LinkError::MissingHost)?;
    if matches!(&host, Host::Domain(d) if d.is_empty()) {
        return Err(LinkError::MissingHost);
    }
    match url.scheme() {
        "https" | "wss" => Ok("wss"),
        _ if is_loopback(&host) => Ok("ws"),
        _ => Err(LinkError::InsecureTransport),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

fn take_room(url: &Url) -> Result<Option<String>, LinkError> {
    let mut rooms = url.query_pairs().filter(|(k, _)| k == "room");
    let Some((_, room)) = rooms.next() else {
        return Ok(None);
    };
    if rooms.next().is_some() || !is_valid_room(&room) {
        return Err(LinkError::InvalidRoom);
    }
    Ok(Some(room.into_owned()))
}

/// Room identifiers as servers use them: numbers, or short names of letters, digits, `-`, `_`, `.`.
fn is_valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_LEN
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The signalling endpoint: the link's server and path, without room, query or fragment.
fn endpoint_of(url: &Url, scheme: &str) -> Result<Url, LinkError> {
    let host = url.host_str().ok_or(LinkError::MissingHost)?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let text = format!("{scheme}://{host}{port}{}", url.path());
    Url::parse(&text).map_err(|_| LinkError::NotALink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Link {
        match parse_link(input) {
            Ok(link) => link,
            Err(e) => panic!("{input:?} was refused: {e}"),
        }
    }

    fn err(input: &str) -> LinkError {
        match parse_link(input) {
            Ok(link) => panic!("{input:?} was accepted as {link:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn https_link_names_wss_endpoint_and_room() {
        let link = ok("  https://meet.example.org/janus?room=1234\n");
        assert_eq!(link.endpoint().as_str(), "wss://meet.example.org/janus");
        assert_eq!(link.room(), Some("1234"));
        assert_eq!(link.server(), "meet.example.org");
        assert!(link.is_tls());
    }

    #[test]
    fn deep_link_and_wss_map_to_the_same_endpoint() {
        let deep = ok("runde://meet.example.org:8989/janus?room=abc-1");
        let wss = ok("wss://meet.example.org:8989/janus?room=abc-1");
        assert_eq!(deep, wss);
        assert_eq!(deep.server(), "meet.example.org:8989");
        assert_eq!(
            ok("RUNDE://Meet.Example.org/x?room=1").server(),
            "meet.example.org"
        );
    }

    #[test]
    fn link_without_room_is_accepted_for_probing() {
        let link = ok("https://meet.example.org/");
        assert_eq!(link.room(), None);
        assert_eq!(link.endpoint().as_str(), "wss://meet.example.org/");
    }

    #[test]
    fn plain_transport_only_on_loopback() {
        assert_eq!(
            ok("http://127.0.0.1:8188/?room=1").endpoint().scheme(),
            "ws"
        );
        assert_eq!(ok("ws://[::1]:8188/janus").endpoint().scheme(), "ws");
        assert_eq!(ok("http://localhost:8188/").endpoint().scheme(), "ws");
        assert_eq!(
            err("http://meet.example.org/?room=1"),
            LinkError::InsecureTransport
        );
        assert_eq!(err("ws://192.168.1.2:8188/"), LinkError::InsecureTransport);
        assert_eq!(
            err("http://127.0.0.1.example.org/"),
            LinkError::InsecureTransport
        );
    }

    #[test]
    fn password_in_query_is_refused_and_stripped() {
        let e = err("https://meet.example.org/janus?room=7&pin=hunter2");
        let LinkError::PasswordInLink { without_secret } = &e else {
            panic!("wrong error {e:?}");
        };
        assert_eq!(without_secret, "https://meet.example.org/janus?room=7");
        assert!(!format!("{e} {e:?}").contains("hunter2"));
    }

    #[test]
    fn every_secret_form_is_refused_without_echo() {
        for input in [
            "https://alice:hunter2@meet.example.org/?room=1",
            "https://hunter2@meet.example.org/?room=1",
            "https://meet.example.org/?room=1&PassWord=hunter2",
            "https://meet.example.org/?room=1&room_pin=hunter2",
            "https://meet.example.org/?room=1&jwt=hunter2",
            "https://meet.example.org/room#config.token=hunter2",
            "runde://meet.example.org/?room=1&secret=hunter2",
        ] {
            let e = err(input);
            let LinkError::PasswordInLink { without_secret } = &e else {
                panic!("{input}: wrong error {e:?}");
            };
            assert!(
                !without_secret.contains("hunter2"),
                "{input} -> {without_secret}"
            );
            assert!(!format!("{e} {e:?}").contains("hunter2"));
            assert!(
                parse_link(without_secret).is_ok(),
                "{without_secret} should be usable"
            );
        }
    }

    #[test]
    fn malformed_input_gets_specific_errors() {
        assert_eq!(err(""), LinkError::Empty);
        assert_eq!(err(" \t "), LinkError::Empty);
        assert_eq!(err("hello there"), LinkError::NotALink);
        assert_eq!(err("https://"), LinkError::NotALink);
        assert_eq!(err("https://meet.example.org/\u{7}x"), LinkError::NotALink);
        assert_eq!(
            err("ftp://meet.example.org/"),
            LinkError::UnsupportedScheme {
                scheme: "ftp".into()
            }
        );
        assert_eq!(
            err("javascript:alert(1)"),
            LinkError::UnsupportedScheme {
                scheme: "javascript".into()
            }
        );
        assert_eq!(
            err("https://meet.example.org/?room="),
            LinkError::InvalidRoom
        );
        assert_eq!(
            err("https://meet.example.org/?room=a%20b"),
            LinkError::InvalidRoom
        );
        assert_eq!(
            err("https://meet.example.org/?room=1&room=2"),
            LinkError::InvalidRoom
        );
        let long = format!(
            "https://meet.example.org/?room={}",
            "1".repeat(MAX_LINK_LEN)
        );
        assert!(matches!(err(&long), LinkError::TooLong { .. }));
    }

    #[test]
    fn lookalike_domains_stay_visible_as_punycode() {
        let link = ok("https://mееt.example.org/?room=1"); // Cyrillic "ее"
        assert!(link.server().starts_with("xn--"), "{}", link.server());
    }

    #[test]
    fn debug_output_holds_no_query_or_fragment() {
        let link = ok("https://meet.example.org/janus?room=5&lang=de#x");
        let shown = format!("{link:?}");
        assert!(shown.contains("wss://meet.example.org/janus"));
        assert!(!shown.contains("lang"));
    }

    /// Deterministic random inputs (the libFuzzer target in `fuzz/` explores further): valid
    /// links mutated byte by byte, and random text. Nothing panics, every refusal is typed, and
    /// whatever is accepted is a ws(s) endpoint that carries no query.
    #[test]
    fn mutated_and_random_input_never_panics() {
        let seeds = [
            "https://meet.example.org/janus?room=1234",
            "runde://a.example:8989/x/y?room=r-1&pin=9",
            "wss://[::1]:8188/?room=5#k=v",
            "http://user:pw@127.0.0.1/",
        ];
        let alphabet = b"abc:/?#&=@[]%.-_ 09\t\x7fxn--\xc3\xa4";
        let mut state = 0x1234_5678_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..(next() % 6) {
                let at = next() as usize % (bytes.len() + 1);
                let b = alphabet[next() as usize % alphabet.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = b,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(link) = parse_link(&text) {
                assert!(matches!(link.endpoint().scheme(), "ws" | "wss"), "{text:?}");
                assert!(link.endpoint().query().is_none(), "{text:?}");
            }
        }
    }
}
