//! The operator statement: a small JSON document an operator publishes on the conferencing server
//! itself, at `https://<server>/.well-known/runde-operator.json`, saying who runs it and how it
//! treats recordings and logs — the facts GDPR Art. 13 asks a controller to give. Runde shows it
//! labelled *self-declared*: the server says so, nobody vouches for it.
//!
//! It is fetched from the same origin as signalling, over the same pinned TLS, with a plain
//! HTTP/1.1 GET; nothing else is contacted.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::ws::{ConnectError, TlsSettings};

/// Where the statement lives on the server.
pub const WELL_KNOWN_PATH: &str = "/.well-known/runde-operator.json";
/// The format this build reads.
pub const STATEMENT_VERSION: u32 = 1;
/// Statements are small; anything larger is refused.
const MAX_BYTES: usize = 64 * 1024;
/// How long fetching may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// What an operator says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorStatement {
    /// Format version (1).
    pub version: u32,
    /// The name people know the operator by.
    pub name: String,
    /// The legal entity responsible (the GDPR controller).
    #[serde(default)]
    pub legal_entity: Option<String>,
    /// Country of establishment (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<String>,
    /// How to reach them (e-mail address or URL).
    #[serde(default)]
    pub contact: Option<String>,
    /// Privacy policy.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    /// Data-processing agreement for organisations.
    #[serde(default)]
    pub data_processing_agreement_url: Option<String>,
    /// When calls are recorded, in the operator's words.
    #[serde(default)]
    pub recording_policy: Option<String>,
    /// How long connection logs are kept, in days.
    #[serde(default)]
    pub log_retention_days: Option<u32>,
}

/// Fetch the statement for the server at `endpoint` (`wss://` only). `Ok(None)` when the server
/// publishes none (404) or answers with something that is not a statement.
pub async fn fetch_statement(
    endpoint: &Url,
    tls: &TlsSettings,
) -> Result<Option<OperatorStatement>, ConnectError> {
    if endpoint.scheme() != "wss" {
        return Ok(None);
    }
    let unreachable = |e: &dyn std::fmt::Display| ConnectError::Unreachable {
        reason: e.to_string(),
    };
    let host = endpoint
        .host_str()
        .ok_or_else(|| unreachable(&"no host"))?
        .to_owned();
    let port = endpoint.port_or_known_default().unwrap_or(443);
    let work = async {
        let config = tls.client_config_for_fetch()?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name =
            rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| unreachable(&e))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(&e))?;
        let mut stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Tls {
                reason: e.to_string(),
            })?;
        let host_header = match endpoint.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let request = format!(
            "GET {WELL_KNOWN_PATH} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: Runde\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| unreachable(&e))?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
            if response.len() > MAX_BYTES {
                return Ok(None);
            }
        }
        Ok(parse_response(&response))
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .unwrap_or(Ok(None))
}

/// The statement in an HTTP response, if it is a 200 with a valid statement body.
fn parse_response(response: &[u8]) -> Option<OperatorStatement> {
    let text = std::str::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|line| line.split_whitespace().nth(1) == Some("200"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !status_ok || chunked {
        return None;
    }
    parse_statement(body)
}

/// A statement document, if it is one this build understands.
pub fn parse_statement(body: &str) -> Option<OperatorStatement> {
    let statement: OperatorStatement = serde_json::from_str(body).ok()?;
    (statement.version == STATEMENT_VERSION && !statement.name.trim().is_empty())
        .then_some(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_statement_and_refuses_what_is_not_one() {
        let body = r#"{"version": 1, "name": "Beratung e.V.", "country": "DE",
            "recordingPolicy": "never", "logRetentionDays": 7, "futureField": 1}"#;
        let ok = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        let statement = parse_response(ok.as_bytes()).expect("a statement");
        assert_eq!(statement.name, "Beratung e.V.");
        assert_eq!(statement.log_retention_days, Some(7));
        for bad in [
            "HTTP/1.1 404 Not Found\r\n\r\n".to_owned(),
            format!(
                "HTTP/1.1 200 OK\r\n\r\n{}",
                r#"{"version": 2, "name": "x"}"#
            ),
            format!(
                "HTTP/1.1 200 OK\r\n\r\n{}",
                r#"{"version": 1, "name": "  "}"#
            ),
            "HTTP/1.1 200 OK\r\n\r\n<html>".to_owned(),
            "garbage".to_owned(),
        ] {
            assert_eq!(parse_response(bad.as_bytes()), None, "{bad}");
        }
    }
}
