//! TLS for signalling: the system's trust store, plus key pinning. A pinned server must present
//! one of its pinned public keys or the connection is refused — whoever signed the certificate.
//! A server no authority vouches for (self-signed) is reachable only through a pin the user
//! reviewed. Every handshake records the server's certificate, so that a first contact can be
//! shown to the user and pinned.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use serde::Serialize;

/// What a server's certificate says, for the first-contact review and the operator indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCertificate {
    /// Who the certificate is for, e.g. `CN=meet.example.org, O=Beratung e.V.`.
    pub subject: String,
    /// Who signed it.
    pub issuer: String,
    /// The organisation named in the subject (`O=`), if any.
    pub organisation: Option<String>,
    /// Valid from, seconds since 1970 (UTC).
    pub not_before: i64,
    /// Valid until, seconds since 1970 (UTC).
    pub not_after: i64,
    /// SHA-256 of the public key (SPKI), base64: what a pin holds.
    pub key_sha256: String,
    /// Whether an authority the system trusts vouched for it (false: self-signed or unknown CA).
    pub trusted_by_system: bool,
}

/// Read the parts of a certificate we show. `None` for something that is not X.509.
pub fn describe(der: &[u8]) -> Option<ServerCertificate> {
    use base64::Engine as _;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let organisation = cert
        .subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
        .map(str::to_owned);
    let spki = cert.tbs_certificate.subject_pki.raw;
    let hash = ring::digest::digest(&ring::digest::SHA256, spki);
    Some(ServerCertificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        organisation,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key_sha256: base64::engine::general_purpose::STANDARD.encode(hash.as_ref()),
        trusted_by_system: false,
    })
}

/// What the last handshake found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed(pub(crate) Arc<Mutex<Option<(ServerCertificate, Verdict)>>>);

/// How the certificate was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted.
    Accepted,
    /// Its key matches none of the pins.
    KeyChanged,
    /// No trusted authority vouches for it, and no pin admits it.
    Untrusted,
    /// Rejected for another reason (expired, wrong name, …).
    Invalid,
}

#[derive(Debug)]
pub(crate) struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<String>,
    allow_pinned_self_signed: bool,
    observed: Observed,
}

impl PinningVerifier {
    pub(crate) fn new(
        inner: Arc<WebPkiServerVerifier>,
        pins: Vec<String>,
        allow_pinned_self_signed: bool,
        observed: Observed,
    ) -> Self {
        Self {
            inner,
            pins,
            allow_pinned_self_signed,
            observed,
        }
    }

    fn record(&self, certificate: ServerCertificate, verdict: Verdict) {
        if let Ok(mut slot) = self.observed.0.lock() {
            *slot = Some((certificate, verdict));
        }
    }
}

fn is_untrusted_issuer(e: &TlsError) -> bool {
    matches!(
        e,
        TlsError::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature
        )
    )
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let Some(mut certificate) = describe(end_entity) else {
            return Err(TlsError::InvalidCertificate(CertificateError::BadEncoding));
        };
        let chain = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        certificate.trusted_by_system = chain.is_ok();
        let pinned = self.pins.contains(&certificate.key_sha256);
        if !self.pins.is_empty() && !pinned {
            self.record(certificate, Verdict::KeyChanged);
            return Err(TlsError::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        match chain {
            Ok(verified) => {
                self.record(certificate, Verdict::Accepted);
                Ok(verified)
            }
            Err(e) if pinned && self.allow_pinned_self_signed && is_untrusted_issuer(&e) => {
                // The user reviewed this very key: the pin is the trust.
                self.record(certificate, Verdict::Accepted);
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => {
                let verdict = if is_untrusted_issuer(&e) {
                    Verdict::Untrusted
                } else {
                    Verdict::Invalid
                };
                self.record(certificate, verdict);
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
