//! Trust decisions at join time: which keys a server must present, whether the user has to review
//! it first, and what the operator indicator may say.

use std::path::PathBuf;

use runde_connect::{OperatorStatement, ServerCertificate, TlsSettings};
use runde_trust::{AddedBy, AdminPolicy, OpenNote, Policy, TrustStore, TrustedServer};
use serde::Serialize;

use crate::UserError;
use crate::indicators::{OperatorIndicator, OperatorSource};

/// A server's certificate as the user reviews it at first contact or after a key change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServerReview {
    /// Scheme, host and port.
    pub origin: String,
    /// Who the certificate is for.
    pub subject: String,
    /// Who signed it.
    pub issuer: String,
    /// The organisation in the certificate, if any (vouched for by the issuer only when
    /// `trusted_by_system`).
    pub organisation: Option<String>,
    /// Valid from (seconds since 1970, UTC).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub not_before: i64,
    /// Valid until (seconds since 1970, UTC).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub not_after: i64,
    /// SHA-256 of the server's public key (base64): what gets pinned.
    pub key_sha256: String,
    /// Whether an authority the system trusts vouches for the certificate.
    pub trusted_by_system: bool,
    /// What the server says about its operator (self-declared), if it publishes a statement.
    pub operator_statement: Option<SelfDeclaredOperator>,
}

/// An operator statement as the server publishes it: self-declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SelfDeclaredOperator {
    /// The operator's name.
    pub name: String,
    /// The legal entity responsible.
    pub legal_entity: Option<String>,
    /// Country of establishment.
    pub country: Option<String>,
    /// How to reach them.
    pub contact: Option<String>,
    /// Privacy policy.
    pub privacy_policy_url: Option<String>,
    /// Data-processing agreement.
    pub data_processing_agreement_url: Option<String>,
    /// Their recording policy, in their words.
    pub recording_policy: Option<String>,
    /// How long connection logs are kept, in days.
    pub log_retention_days: Option<u32>,
}

impl From<&OperatorStatement> for SelfDeclaredOperator {
    fn from(s: &OperatorStatement) -> Self {
        Self {
            name: s.name.clone(),
            legal_entity: s.legal_entity.clone(),
            country: s.country.clone(),
            contact: s.contact.clone(),
            privacy_policy_url: s.privacy_policy_url.clone(),
            data_processing_agreement_url: s.data_processing_agreement_url.clone(),
            recording_policy: s.recording_policy.clone(),
            log_retention_days: s.log_retention_days,
        }
    }
}

impl ServerReview {
    /// The review, with the operator statement if the server publishes one.
    pub(crate) fn with_statement(mut self, statement: Option<&OperatorStatement>) -> Self {
        self.operator_statement = statement.map(SelfDeclaredOperator::from);
        self
    }

    pub(crate) fn new(origin: &str, c: &ServerCertificate) -> Self {
        Self {
            origin: origin.to_owned(),
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            organisation: c.organisation.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            key_sha256: c.key_sha256.clone(),
            trusted_by_system: c.trusted_by_system,
            operator_statement: None,
        }
    }
}

/// Where trust decisions live and what to do with a server seen for the first time.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// The trusted-server store's folder; `None`: no store (each TLS server is only checked
    /// against the system's authorities and is never remembered).
    pub store: Option<PathBuf>,
    /// The user reviewed the server and accepts it: pin its key on this join.
    pub accept_new_server: bool,
    /// Policy files in addition to the system's (they can only add restrictions).
    pub extra_policies: Vec<PathBuf>,
}

/// The administrator's policy as it applies.
pub(crate) fn admin_policy(options: &TrustOptions) -> Result<AdminPolicy, UserError> {
    crate::load_policy(&options.extra_policies)
}

/// What the store says about a server before connecting.
pub(crate) struct Decision {
    pub(crate) tls: TlsSettings,
    pub(crate) entry: Option<TrustedServer>,
    /// The TURN servers the administrator gives this server's calls.
    pub(crate) turn: Vec<runde_media::transport::TurnServer>,
}

/// The administrator's TURN servers for `origin`, checked; a malformed one stops the join with
/// the policy error that names it (an administrator's setting is not silently dropped).
fn preset_turn(
    policy: &AdminPolicy,
    origin: &str,
) -> Result<Vec<runde_media::transport::TurnServer>, UserError> {
    use runde_media::transport::{TurnCredential, TurnServer, TurnUrl};
    let mut servers = Vec::new();
    for preset in policy.turn_for(origin) {
        for url in &preset.urls {
            let parsed = TurnUrl::parse(url).map_err(|e| UserError::PolicyUnreadable {
                detail: format!("the TURN server {url:?} of {origin}: {e}"),
            })?;
            servers.push(TurnServer {
                url: parsed,
                username: preset.username.clone(),
                credential: TurnCredential::new(preset.credential.expose()),
            });
        }
    }
    Ok(servers)
}

fn store_error(e: impl std::fmt::Display) -> UserError {
    UserError::TrustStoreFailed {
        detail: e.to_string(),
    }
}

fn open(options: &TrustOptions) -> Result<Option<TrustStore>, UserError> {
    let Some(folder) = &options.store else {
        return Ok(None);
    };
    let (store, note) = TrustStore::open(folder).map_err(store_error)?;
    if let OpenNote::Recovered { backup, reason } = note {
        tracing::warn!(backup = %backup.display(), %reason, "the trusted-server list was unreadable and was set aside");
    }
    Ok(Some(store))
}

/// What this computer already knows about a server, before contacting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum KnownServer {
    /// Never met (or the list cannot be read): joining shows its certificate and operator first.
    Unknown,
    /// Trusted with its key pinned: reviewed by the user, or set by the administrator.
    Trusted {
        /// What the user (or the administrator) calls it.
        label: String,
        /// The server family, e.g. "janus".
        family: String,
        /// Who operates it, as declared by the user or the administrator.
        operator: Option<String>,
        /// Set by the administrator's policy (the user cannot change it).
        by_admin: bool,
    },
    /// The user blocked it: Runde will not connect.
    Blocked,
    /// The administrator allows only preset servers, and this is not one.
    NotAllowed,
}

/// What the trusted-server list and the administrator's policy say about `origin`; reads only
/// local files.
pub fn known_server(origin: &str, options: &TrustOptions) -> KnownServer {
    let Ok(policy) = admin_policy(options) else {
        return KnownServer::Unknown;
    };
    let preset = policy.preset(origin);
    if preset.is_none() && policy.only_preset_servers {
        return KnownServer::NotAllowed;
    }
    let entry = match preset {
        Some(preset) => Some(preset),
        None => open(options)
            .ok()
            .flatten()
            .and_then(|s| s.find(origin).cloned()),
    };
    match entry {
        None => KnownServer::Unknown,
        Some(e) if e.policy == Policy::Blocked => KnownServer::Blocked,
        Some(e) => KnownServer::Trusted {
            by_admin: e.added_by == runde_trust::AddedBy::Admin,
            label: e.label,
            family: e.family,
            operator: e.operator.map(|o| o.name),
        },
    }
}

/// Before connecting: what the administrator does not allow and what is blocked is refused; a
/// pinned server must present a pinned key. The administrator's preset wins over the user's entry.
pub(crate) fn decide(origin: &str, options: &TrustOptions) -> Result<Decision, UserError> {
    let policy = admin_policy(options)?;
    let preset = policy.preset(origin);
    if preset.is_none() && policy.only_preset_servers {
        return Err(UserError::NotAllowedByPolicy {
            origin: origin.to_owned(),
        });
    }
    let entry = match preset {
        Some(preset) => Some(preset),
        None => open(options)?.and_then(|s| s.find(origin).cloned()),
    };
    if let Some(entry) = &entry
        && entry.policy == Policy::Blocked
    {
        return Err(UserError::ServerBlocked {
            origin: origin.to_owned(),
        });
    }
    let tls = TlsSettings {
        pins: entry.as_ref().map(|e| e.pins.clone()).unwrap_or_default(),
        allow_pinned_self_signed: entry.is_some(),
        ..TlsSettings::default()
    };
    let turn = preset_turn(&policy, origin)?;
    Ok(Decision { tls, entry, turn })
}

/// After connecting: a server without an entry is a first contact. With the user's acceptance it
/// is pinned and remembered; without, the join stops with the review to show.
pub(crate) fn first_contact(
    origin: &str,
    family: &str,
    certificate: &ServerCertificate,
    statement: Option<&OperatorStatement>,
    options: &TrustOptions,
) -> Result<Option<TrustedServer>, UserError> {
    let Some(mut store) = open(options)? else {
        return Ok(None);
    };
    if admin_policy(options)?.lock_settings {
        return Err(UserError::NotAllowedByPolicy {
            origin: origin.to_owned(),
        });
    }
    if !options.accept_new_server {
        return Err(UserError::NewServer {
            review: Box::new(ServerReview::new(origin, certificate).with_statement(statement)),
        });
    }
    let entry = TrustedServer {
        label: origin.to_owned(),
        origin: origin.to_owned(),
        family: family.to_owned(),
        operator: None,
        pins: vec![certificate.key_sha256.clone()],
        policy: Policy::Trusted,
        added_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        added_by: AddedBy::UserReview,
    };
    store.upsert(entry.clone()).map_err(store_error)?;
    Ok(Some(entry))
}

/// The operator indicator from the strongest source we have.
pub(crate) fn operator(
    entry: Option<&TrustedServer>,
    certificate: Option<&ServerCertificate>,
    statement: Option<&OperatorStatement>,
) -> OperatorIndicator {
    if let Some(entry) = entry
        && let Some(operator) = &entry.operator
    {
        let source = match entry.added_by {
            AddedBy::Admin => OperatorSource::DeclaredByAdmin,
            AddedBy::User | AddedBy::UserReview => OperatorSource::DeclaredByUser,
        };
        return OperatorIndicator {
            source,
            name: Some(operator.name.clone()),
        };
    }
    if let Some(c) = certificate
        && c.trusted_by_system
        && let Some(organisation) = &c.organisation
    {
        return OperatorIndicator {
            source: OperatorSource::CertificateOrganisation,
            name: Some(organisation.clone()),
        };
    }
    if let Some(statement) = statement {
        return OperatorIndicator {
            source: OperatorSource::SelfDeclared,
            name: Some(statement.name.clone()),
        };
    }
    OperatorIndicator::unknown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runde-known-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    fn server(origin: &str, policy: Policy) -> TrustedServer {
        TrustedServer {
            label: "Verein".into(),
            origin: origin.into(),
            family: "janus".into(),
            operator: None,
            pins: vec!["AAAA".into()],
            policy,
            added_at: 0,
            added_by: AddedBy::UserReview,
        }
    }

    #[test]
    fn a_link_says_what_this_computer_knows_about_its_server() {
        let dir = folder("store");
        let store_dir = dir.join("store");
        let Ok((mut store, _)) = TrustStore::open(&store_dir) else {
            panic!("store");
        };
        assert!(
            store
                .upsert(server("wss://verein.example:443", Policy::Trusted))
                .is_ok()
        );
        assert!(
            store
                .upsert(server("wss://bad.example:443", Policy::Blocked))
                .is_ok()
        );
        let mut options = TrustOptions {
            store: Some(store_dir),
            accept_new_server: false,
            extra_policies: Vec::new(),
        };
        assert_eq!(
            known_server("wss://verein.example:443", &options),
            KnownServer::Trusted {
                label: "Verein".into(),
                family: "janus".into(),
                operator: None,
                by_admin: false,
            }
        );
        assert_eq!(
            known_server("wss://bad.example:443", &options),
            KnownServer::Blocked
        );
        assert_eq!(
            known_server("wss://new.example:443", &options),
            KnownServer::Unknown
        );

        // The administrator allows one preset server only: it is trusted by the administrator,
        // everything else (even the user's own entry) is not allowed.
        let policy = dir.join("policy.json");
        let written = std::fs::write(
            &policy,
            r#"{"version": 1, "onlyPresetServers": true, "servers": [{"label": "Beratung",
                "origin": "wss://beratung.example:443", "operator": {"name": "Beratung Nord e.V."}}]}"#,
        );
        assert!(written.is_ok());
        options.extra_policies = vec![policy];
        assert_eq!(
            known_server("wss://verein.example:443", &options),
            KnownServer::NotAllowed
        );
        assert!(matches!(
            known_server("wss://beratung.example:443", &options),
            KnownServer::Trusted { by_admin: true, operator: Some(ref o), .. } if o == "Beratung Nord e.V."
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
