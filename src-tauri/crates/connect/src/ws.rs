//! Opening a signalling WebSocket: TCP, TLS (rustls) for `wss://`, the handshake with a
//! required subprotocol — each failure mapped to what the user can understand.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Error as WsError};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::tls::{Observed, PinningVerifier, ServerCertificate, Verdict};
use rustls::client::WebPkiServerVerifier;

/// An open signalling connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long connecting (TCP, TLS and handshake together) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);

/// Why a server could not be reached or is not one we speak to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// No connection: the name does not resolve, nothing listens, or it took too long.
    #[error("the server cannot be reached: {reason}")]
    Unreachable {
        /// What went wrong, for a log or a details view.
        reason: String,
    },
    /// TLS failed: an untrusted or wrong certificate, or no common protocol.
    #[error("a secure connection to the server failed: {reason}")]
    Tls {
        /// What went wrong.
        reason: String,
    },
    /// Something answers, but not a conferencing server we speak.
    #[error("this is not a conferencing server Runde can talk to: {reason}")]
    NotAConferenceServer {
        /// What it did instead.
        reason: String,
    },
    /// The server presented a key that matches none of its pins: someone may be in between, or
    /// the operator changed the key. The connection was not made.
    #[error("the server's key does not match the one you trusted")]
    KeyChanged {
        /// The certificate it presented.
        presented: Box<ServerCertificate>,
    },
    /// No authority the system trusts vouches for the server's certificate, and no pin admits it.
    /// The user may review it and pin it.
    #[error("no trusted authority vouches for this server's certificate")]
    UntrustedCertificate {
        /// The certificate it presented, for the review.
        presented: Box<ServerCertificate>,
    },
}

impl ConnectError {
    /// Whether trying again later may succeed: nothing answered, or something other than the
    /// server answered (a proxy while the server restarts). A certificate problem is never
    /// transient: the same server is checked again as on first contact, and a changed key blocks.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::NotAConferenceServer { .. }
        )
    }
}

/// TLS settings for `wss://`: the system's trust store (which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`), extra trusted authorities, and the server's pinned keys.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Certificate authorities trusted in addition to the system's.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// SHA-256 hashes (base64) of the public keys this server may present; empty: any key the
    /// trust store vouches for.
    pub pins: Vec<String>,
    /// Accept a certificate no authority vouches for when its key is pinned (a self-signed
    /// server the user reviewed).
    pub allow_pinned_self_signed: bool,
}

impl TlsSettings {
    /// The same TLS configuration for a plain HTTPS request to the server.
    pub(crate) fn client_config_for_fetch(&self) -> Result<Arc<ClientConfig>, ConnectError> {
        self.client_config(&Observed::default())
    }

    /// TLS for a TURN server the call was given (`turns:`): its certificate is checked against
    /// the system's trust store and the extra authorities, as for a server without pins. The
    /// signalling server's pins are not applied: a TURN server is another host with its own key.
    pub fn turn_client_config(&self) -> Result<Arc<ClientConfig>, ConnectError> {
        let turn = Self {
            extra_roots: self.extra_roots.clone(),
            pins: Vec::new(),
            allow_pinned_self_signed: false,
        };
        turn.client_config(&Observed::default())
    }

    fn client_config(&self, observed: &Observed) -> Result<Arc<ClientConfig>, ConnectError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A certificate the system lists but rustls cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(|e| ConnectError::Tls {
                reason: format!("a trusted certificate is not usable: {e}"),
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_err = |e: &dyn std::fmt::Display| ConnectError::Tls {
            reason: e.to_string(),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_err(&e))?;
        let verifier = PinningVerifier::new(
            webpki,
            self.pins.clone(),
            self.allow_pinned_self_signed,
            observed.clone(),
        );
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(&e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// An open signalling connection and, over TLS, the certificate the server presented.
pub struct Opened {
    /// The WebSocket.
    pub socket: Ws,
    /// The server's certificate (`None` for plain `ws://` on loopback).
    pub certificate: Option<ServerCertificate>,
    /// Our end of the connection: the local address it leaves from.
    pub local_ip: Option<std::net::IpAddr>,
    /// The server's end: the address it was reached at.
    pub peer: Option<std::net::SocketAddr>,
}

/// Open `endpoint` (ws:// or wss://) asking for `subprotocol`; a server that does not agree to it
/// is not one we speak to.
pub async fn open(
    endpoint: &Url,
    subprotocol: &str,
    tls: &TlsSettings,
) -> Result<Ws, ConnectError> {
    open_with_certificate(endpoint, subprotocol, tls)
        .await
        .map(|o| o.socket)
}

/// Like [`open`], also returning the server's certificate.
pub async fn open_with_certificate(
    endpoint: &Url,
    subprotocol: &str,
    tls: &TlsSettings,
) -> Result<Opened, ConnectError> {
    let observed = Observed::default();
    let mut request =
        endpoint
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Unreachable {
                reason: e.to_string(),
            })?;
    let protocol =
        HeaderValue::from_str(subprotocol).map_err(|e| ConnectError::NotAConferenceServer {
            reason: e.to_string(),
        })?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol);
    let connector = match endpoint.scheme() {
        "wss" => Some(Connector::Rustls(tls.client_config(&observed)?)),
        _ => Some(Connector::Plain),
    };
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector);
    let (ws, response) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => {
            return Err(ConnectError::Unreachable {
                reason: format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
            });
        }
        Ok(result) => result.map_err(|e| classify(e, &observed))?,
    };
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if agreed != Some(subprotocol) {
        return Err(ConnectError::NotAConferenceServer {
            reason: format!("the WebSocket does not speak {subprotocol}"),
        });
    }
    let certificate = observed
        .0
        .lock()
        .ok()
        .and_then(|slot| slot.as_ref().map(|(c, _)| c.clone()));
    let tcp = match ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => Some(tcp),
        MaybeTlsStream::Rustls(tls) => Some(tls.get_ref().0),
        _ => None,
    };
    let local_ip = tcp.and_then(|tcp| tcp.local_addr().ok()).map(|a| a.ip());
    let peer = tcp.and_then(|tcp| tcp.peer_addr().ok());
    Ok(Opened {
        socket: ws,
        certificate,
        local_ip,
        peer,
    })
}

fn classify(error: WsError, observed: &Observed) -> ConnectError {
    let seen = observed.0.lock().ok().and_then(|slot| slot.clone());
    match (seen, &error) {
        (Some((certificate, Verdict::KeyChanged)), _) => {
            return ConnectError::KeyChanged {
                presented: Box::new(certificate),
            };
        }
        (Some((certificate, Verdict::Untrusted)), _) => {
            return ConnectError::UntrustedCertificate {
                presented: Box::new(certificate),
            };
        }
        _ => {}
    }
    match error {
        // rustls errors reach us wrapped in I/O errors.
        WsError::Io(e) => match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => ConnectError::Tls {
                reason: tls.to_string(),
            },
            None => ConnectError::Unreachable {
                reason: e.to_string(),
            },
        },
        WsError::Tls(e) => ConnectError::Tls {
            reason: e.to_string(),
        },
        WsError::Http(response) => ConnectError::NotAConferenceServer {
            reason: format!("it answered HTTP {}", response.status()),
        },
        WsError::Url(e) => ConnectError::Unreachable {
            reason: e.to_string(),
        },
        // A server that drops the handshake (Janus does without the subprotocol) or speaks
        // something else entirely.
        WsError::Protocol(e) => ConnectError::NotAConferenceServer {
            reason: e.to_string(),
        },
        other @ (WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Capacity(_)
        | WsError::WriteBufferFull(_)
        | WsError::Utf8(_)
        | WsError::AttackAttempt
        | WsError::HttpFormat(_)) => ConnectError::NotAConferenceServer {
            reason: other.to_string(),
        },
    }
}

/// A text frame.
pub(crate) fn text(message: String) -> tungstenite::Message {
    tungstenite::Message::text(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_server_is_worth_trying_again() {
        let certificate = Box::new(ServerCertificate {
            subject: "CN=meet.example.org".into(),
            issuer: "CN=meet.example.org".into(),
            organisation: None,
            not_before: 0,
            not_after: 0,
            key_sha256: "KEY".into(),
            trusted_by_system: false,
        });
        let unreachable = ConnectError::Unreachable {
            reason: "connection refused".into(),
        };
        let proxy = ConnectError::NotAConferenceServer {
            reason: "502 Bad Gateway".into(),
        };
        assert!(unreachable.is_transient() && proxy.is_transient());
        for blocked in [
            ConnectError::KeyChanged {
                presented: certificate.clone(),
            },
            ConnectError::UntrustedCertificate {
                presented: certificate,
            },
            ConnectError::Tls {
                reason: "bad certificate".into(),
            },
        ] {
            assert!(!blocked.is_transient(), "{blocked}");
        }
    }
}
