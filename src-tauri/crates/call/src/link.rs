//! What Runde can tell about a pasted link before it contacts any server.

use serde::Serialize;

use crate::UserError;
use crate::session::origin_of;
use crate::trust::{KnownServer, TrustOptions, known_server};

/// The facts a pasted link establishes on its own, without any network traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    /// The server as people recognise it: host, and port when not the default.
    pub server: String,
    /// The signalling endpoint Runde would connect to.
    pub endpoint: String,
    /// The room the link names, if it names one.
    pub room: Option<String>,
    /// Whether the connection to the server is TLS-protected. False only for loopback servers.
    pub tls: bool,
    /// What this computer knows about the server (trusted, blocked …); `None` when not looked up.
    pub known: Option<KnownServer>,
}

/// Check a pasted link. Sends nothing anywhere; a link with a password is refused.
pub fn inspect_link(text: &str) -> Result<LinkReport, UserError> {
    let link = runde_connect::parse_link(text)?;
    Ok(LinkReport {
        server: link.server(),
        endpoint: link.endpoint().to_string(),
        room: link.room().map(str::to_owned),
        tls: link.is_tls(),
        known: None,
    })
}

/// Like [`inspect_link`], and what the trusted-server list and the administrator's policy say
/// about the server. Reads only local files; sends nothing.
pub fn inspect_link_known(text: &str, options: &TrustOptions) -> Result<LinkReport, UserError> {
    let mut report = inspect_link(text)?;
    let link = runde_connect::parse_link(text)?;
    report.known = Some(known_server(&origin_of(link.endpoint()), options));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_serialises_with_camel_case_fields() -> Result<(), serde_json::Error> {
        let report = inspect_link("https://meet.example.org/janus?room=42")
            .map_err(|e| serde_json::Error::io(std::io::Error::other(e.to_string())))?;
        let json = serde_json::to_value(&report)?;
        assert_eq!(
            json,
            serde_json::json!({
                "server": "meet.example.org",
                "endpoint": "wss://meet.example.org/janus",
                "room": "42",
                "tls": true,
                "known": null
            })
        );
        Ok(())
    }

    #[test]
    fn refused_link_serialises_as_code_and_data() -> Result<(), serde_json::Error> {
        let Err(e) = inspect_link("https://meet.example.org/?room=1&pin=99") else {
            panic!("a link with a pin must be refused");
        };
        assert_eq!(
            serde_json::to_value(&e)?,
            serde_json::json!({
                "code": "PasswordInLink",
                "withoutSecret": "https://meet.example.org/?room=1"
            })
        );
        Ok(())
    }

    #[test]
    fn code_matches_the_serialised_tag() -> Result<(), serde_json::Error> {
        for text in [
            "",
            "x",
            "ftp://a/",
            "https://",
            "http://a.example/",
            "https://a@b/",
            "https://a/?room=",
        ] {
            let Err(e) = inspect_link(text) else {
                panic!("{text:?} must be refused");
            };
            assert_eq!(serde_json::to_value(&e)?["code"], e.code(), "{text:?}");
        }
        Ok(())
    }
}
