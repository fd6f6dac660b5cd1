//! Joining a room and following it: link → server → room, with typed events for the layers
//! above (the desktop shell, `runde-cli`) and typed errors they can act on.
//!
//! A wrong or missing password does not end the attempt: [`JoinFailure::into_retry`] keeps the
//! connection so that the user only types the password again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use runde_connect::janus::{
    self, JanusConnection, JoinConfig, MediaKind, Participant, RemoteStream, RoomEvent, RoomFacts,
    RoomId,
};
use runde_connect::{ConnectError, Secret, TlsSettings, parse_link};
use runde_media::audio::cue::Cue;

use crate::quality::Quality;

mod rejoining;
use rejoining::{Missing, RejoinProgress, Rejoining, first_missing_due, rejoin_progress};
use runde_media::transport::{
    self, LinkEvent, LinkOptions, LinkState, LocalTrack, PeerLink, TurnServer,
};
use serde::Serialize;

use crate::UserError;
use crate::controls::{CallControls, Control};
use crate::indicators::{
    EncryptionIndicator, Indicators, OperatorIndicator, RecordingChange, RecordingIndicator,
    StreamProof,
};
use crate::media::{
    AudioDevices, AudioIn, AudioOut, DeviceReport, DeviceRole, Engine, EngineReport, FeedTrack,
    MediaChoice, MediaSummary, SendOptions, Sender, Sources,
};
use crate::rejoin::{CaptureRelay, SeenKey};
use crate::renew::Renewals;
use crate::restart::{IceRestart, Repair, RestartCheck};

/// What to join, and as whom.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The link as pasted.
    pub link: String,
    /// The room password, typed separately (never part of the link).
    pub password: Option<Secret>,
    /// The name others see.
    pub display_name: String,
    /// Where trust decisions live, and whether a new server is accepted.
    pub trust: crate::trust::TrustOptions,
    /// What we send and where received media goes.
    pub media: MediaChoice,
    /// Remember the password in the system keyring once it was accepted (the user asked).
    pub remember_password: bool,
    /// End-to-end encrypt our media, and decrypt the others', with the key from this passphrase
    /// (not the room password: the server must never learn it).
    pub e2ee: Option<Secret>,
    /// When the connection to the server is lost during the call, how long to keep trying to
    /// rejoin before the call ends ([`crate::rejoin::REJOIN_FOR`] unless a test or an operator
    /// wants otherwise; zero ends the call at once).
    pub rejoin_for: Duration,
    /// TURN servers that relay media when the network lets nothing else through (the server's,
    /// configured by the user or the administrator's policy; none: no relay).
    pub turn: Vec<TurnServer>,
}

/// Someone in the call. Ids are strings: Janus ids exceed what JavaScript numbers hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    /// The server's id for them.
    pub id: String,
    /// The name they chose, if any.
    pub name: Option<String>,
    /// Whether they send media.
    pub publishing: bool,
}

impl From<&Participant> for ParticipantInfo {
    fn from(p: &Participant) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.display.clone(),
            publishing: p.publishing,
        }
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum TrackKind {
    /// A voice.
    Audio,
    /// A picture.
    Video,
}

/// How the media connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    /// Setting up.
    Connecting,
    /// Media flows both ways (as far as we send and receive).
    Connected,
    /// Connectivity was lost for a moment; it may come back.
    Interrupted,
    /// Media cannot flow.
    Failed,
    /// The connection to the server was lost; Runde is rejoining the call
    /// ([`CallEvent::Reconnecting`] tells each attempt, [`CallEvent::Rejoined`] the way back).
    /// Also while a broken media path is repaired in place (an ICE restart, the server connection
    /// holding): then no attempts are told, and [`ConnectionState::Connected`] follows once media
    /// can flow again.
    Reconnecting,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum EndReason {
    /// We left.
    Left,
    /// A moderator removed us.
    Kicked,
    /// The room's owner closed the room.
    RoomClosed,
    /// The connection to the server was lost.
    Lost {
        /// What happened.
        error: UserError,
    },
}

/// Something that happened in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CallEvent {
    /// We are in; these people were there already.
    Joined {
        /// Our own id.
        me: String,
        /// Everyone else.
        participants: Vec<ParticipantInfo>,
    },
    /// Someone entered.
    ParticipantJoined {
        /// Who.
        participant: ParticipantInfo,
    },
    /// Someone left.
    ParticipantLeft {
        /// Their id.
        id: String,
    },
    /// Someone's audio or video became available to us.
    TrackAdded {
        /// Whose.
        participant: String,
        /// Which kind.
        kind: TrackKind,
    },
    /// Someone's audio or video went away.
    TrackRemoved {
        /// Whose.
        participant: String,
        /// Which kind.
        kind: TrackKind,
    },
    /// The first audio or video from someone was decoded and played: how long after joining
    /// started (link entered, password given) that was.
    MediaStarted {
        /// Whose.
        participant: String,
        /// Which kind.
        kind: TrackKind,
        /// Milliseconds since the join started.
        #[cfg_attr(feature = "typescript", ts(type = "number"))]
        after_ms: u64,
    },
    /// Someone started or stopped talking.
    Speaking {
        /// Who.
        participant: String,
        /// Talking now.
        speaking: bool,
    },
    /// The recording, encryption or operator indicator changed (also sent once after joining).
    Indicators {
        /// All three, as they are now.
        indicators: Indicators,
        /// Set when the recording state changed (not only its reason): the UI announces it
        /// visibly and to screen readers; the engine has already played the sound cue.
        recording_change: Option<RecordingChange>,
    },
    /// End-to-end encrypted calls: whether someone's media decrypts with the call key changed.
    /// `false` means "cannot decrypt" (no key, a different passphrase, or not encrypted at all):
    /// their media is dropped, never shown or played.
    Decryption {
        /// Whose media.
        participant: String,
        /// Decrypting now.
        decrypting: bool,
        /// Only with the key before the last passphrase change: they have not switched yet.
        previous_key: bool,
    },
    /// How well someone's media reaches us changed (judged every 2 s from what we receive;
    /// worse shows at once, better after 4 s).
    Quality {
        /// Whose media.
        participant: String,
        /// How well it arrives now.
        quality: Quality,
        /// The share of their sound lost or late in the last window, in percent.
        audio_lost_percent: u8,
    },
    /// The media connection's state changed (both directions together).
    Connection {
        /// The state now.
        state: ConnectionState,
    },
    /// A microphone, speaker or camera was switched to, or stopped working (the call goes on).
    DeviceChanged {
        /// "microphone", "speaker" or "camera".
        device: String,
        /// Now in use (`true`) or lost (`false`).
        in_use: bool,
        /// The device's name.
        name: String,
        /// Why it was lost, in the system's words.
        reason: Option<String>,
    },
    /// What we send now (also sent once after joining, and after every change: mute, camera,
    /// a device that failed to open).
    Sending {
        /// Our microphone.
        microphone: SendState,
        /// Our camera (or other picture source).
        camera: SendState,
    },
    /// The call is end-to-end encrypted (sent after joining, and again after each passphrase
    /// change): the safety code to compare with the others out of band — the same code means the
    /// same key.
    EndToEnd {
        /// 20 digits in four groups of five.
        safety_code: String,
        /// How many times the passphrase was changed in this call.
        generation: u32,
    },
    /// In an end-to-end encrypted call someone left who knows the passphrase: with it (and the
    /// server's help) they could still read the rest of the call. Agreeing on a new passphrase
    /// ([`CallControls::change_passphrase`](crate::CallControls::change_passphrase)) shuts them out.
    NewPassphraseAdvised {
        /// Who left, by display name.
        left: String,
    },
    /// Push to talk is ready for this call: holding these keys speaks while muted.
    PushToTalk {
        /// The key combination, as set.
        keys: String,
    },
    /// The connection to the server was lost and Runde is trying to rejoin the call (the same
    /// room, name and password); sent at each attempt. Until [`CallEvent::Rejoined`] nobody hears
    /// or sees us and we receive nothing; the indicators say only what is still proven.
    Reconnecting {
        /// Which attempt this is (1: the first, made at once).
        attempt: u32,
        /// Milliseconds since the connection was lost.
        #[cfg_attr(feature = "typescript", ts(type = "number"))]
        since_ms: u64,
        /// Why the connection is gone (or why the last attempt failed).
        error: UserError,
    },
    /// Back in the call after the connection was lost: the server gave us a new id; who left
    /// or came meanwhile follows as [`CallEvent::ParticipantLeft`] and
    /// [`CallEvent::ParticipantJoined`], our media is offered again.
    Rejoined {
        /// Our new id.
        me: String,
        /// Milliseconds from the loss to being back in the room.
        #[cfg_attr(feature = "typescript", ts(type = "number"))]
        after_ms: u64,
        /// How many attempts it took.
        attempts: u32,
    },
    /// Something failed that does not end the call.
    Warning {
        /// What.
        error: UserError,
    },
    /// The call is over.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// Whether we send a kind of media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum SendState {
    /// This call cannot send it (no such device, or not chosen for this call).
    Unavailable,
    /// Off (muted, picture off): nothing is captured or sent.
    Off,
    /// Sent.
    On,
}

impl SendState {
    fn of(available: bool, on: bool) -> Self {
        match (available, on) {
            (false, _) => Self::Unavailable,
            (true, false) => Self::Off,
            (true, true) => Self::On,
        }
    }
}

/// A device report in the events' words: (device, in use, name, why it was lost).
pub(crate) fn device_event(report: DeviceReport) -> (String, bool, String, Option<String>) {
    let device = match report.role {
        DeviceRole::Microphone => "microphone",
        DeviceRole::Speaker => "speaker",
        DeviceRole::Camera => "camera",
    }
    .to_owned();
    match report.change {
        runde_media::audio::input::DeviceChange::Switched { name } => (device, true, name, None),
        runde_media::audio::input::DeviceChange::Lost { name, reason } => {
            (device, false, name, Some(reason))
        }
    }
}

/// What the server at a link says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServerReport {
    /// The server family, e.g. "janus".
    pub family: String,
    /// Its name for itself.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Find out what answers at a link, without joining.
pub async fn probe_server(link: &str, tls: &TlsSettings) -> Result<ServerReport, UserError> {
    let link = parse_link(link)?;
    let origin = origin_of(link.endpoint());
    let info = janus::probe(link.endpoint(), tls)
        .await
        .map_err(|e| UserError::from_connect(e, &origin))?;
    Ok(ServerReport {
        family: "janus".into(),
        name: info.name,
        version: info.version,
    })
}

/// A join that failed; for a password problem it can be retried on the same connection.
#[derive(Debug)]
pub struct JoinFailure {
    /// What went wrong.
    pub error: UserError,
    retry: Option<RetryJoin>,
}

impl JoinFailure {
    /// The connection to try again on, if another password can fix it.
    pub fn into_retry(self) -> Option<RetryJoin> {
        self.retry
    }
}

impl From<UserError> for JoinFailure {
    fn from(error: UserError) -> Self {
        Self { error, retry: None }
    }
}

/// A connection waiting for the right password.
pub struct RetryJoin {
    conn: JanusConnection,
    context: JoinContext,
}

/// What a join carries from its start to the call.
struct JoinContext {
    media: MediaChoice,
    /// The call key (as it changes during the call), when the call is end-to-end encrypted.
    e2ee: Option<runde_e2ee::KeyChain>,
    /// What the call key is derived for: the signalling origin and the room.
    room_identity: String,
    started: Instant,
    operator: OperatorIndicator,
    /// Where to remember an accepted password: origin, room, and whether the policy forbids it.
    remember: Option<(String, String, bool)>,
    /// What rejoining after a lost connection needs (set once the server is known).
    rejoin: Option<RejoinTarget>,
    /// How media connections are made: the TURN servers and what a TLS one must prove.
    links: LinkOptions,
}

/// What a rejoin needs: the same server, room, name and password (in memory only, as for the
/// join itself), and how the server was trusted.
struct RejoinTarget {
    endpoint: url::Url,
    origin: String,
    config: JoinConfig,
    trust: crate::trust::TrustOptions,
    /// The key the server presented when we joined (TLS only).
    seen_key: Option<SeenKey>,
    limit: Duration,
}

/// Remember an accepted password if the user asked; a keyring problem is a warning, not a failure.
fn remember_password(
    call: &mut Call,
    context: &Option<(String, String, bool)>,
    password: Option<&Secret>,
) {
    let (Some((origin, room, forbidden)), Some(password)) = (context, password) else {
        return;
    };
    if let Err(e) = runde_trust::secrets::remember(origin, room, password.expose(), *forbidden) {
        call.queued.push_back(CallEvent::Warning {
            error: UserError::PasswordNotRemembered {
                detail: e.to_string(),
            },
        });
    }
}

/// `wss://host:port` of an endpoint, with the default port spelled out.
pub(crate) fn origin_of(endpoint: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        endpoint.scheme(),
        endpoint.host_str().unwrap_or_default(),
        endpoint.port_or_known_default().unwrap_or(0)
    )
}

impl std::fmt::Debug for RetryJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryJoin")
    }
}

impl RetryJoin {
    /// Try again with this password.
    pub async fn with_password(self, password: Option<Secret>) -> Result<Call, JoinFailure> {
        self.conn.retry_join(password.clone());
        let mut context = JoinContext {
            started: Instant::now(),
            ..self.context
        };
        if let Some(target) = &mut context.rejoin {
            target.config.pin = password.clone();
        }
        let remember = context.remember.clone();
        let mut call = await_joined(self.conn, context).await?;
        remember_password(&mut call, &remember, password.as_ref());
        Ok(call)
    }

    /// Give up: close the connection.
    pub async fn cancel(self) {
        self.conn.close().await;
    }
}

/// Join the room a link names.
pub async fn join(options: JoinOptions) -> Result<Call, JoinFailure> {
    let mut context = JoinContext {
        media: options.media,
        e2ee: None,
        room_identity: String::new(),
        started: Instant::now(),
        operator: OperatorIndicator::unknown(),
        remember: None,
        rejoin: None,
        links: LinkOptions::default(),
    };
    let link = parse_link(&options.link).map_err(UserError::from)?;
    let room = link.room().ok_or(UserError::LinkWithoutRoom)?;
    let origin = origin_of(link.endpoint());
    context.room_identity = format!("{origin}/{room}");
    // The call key comes from the end-to-end passphrase and this room's identity, before anything
    // is sent: a passphrase that cannot be used stops the join here.
    if let Some(passphrase) = &options.e2ee {
        let key = runde_e2ee::CallKey::derive(passphrase.expose(), &context.room_identity)
            .map_err(|e| UserError::E2eeUnavailable {
                detail: e.to_string(),
            })?;
        context.e2ee = Some(runde_e2ee::KeyChain::new(key));
    }
    // No password typed: one remembered in the keyring (if any) is used.
    let password = match options.password {
        Some(p) => Some(p),
        None => match runde_trust::secrets::recall(&origin, room) {
            Ok(remembered) => remembered.map(Secret::new),
            Err(e) => {
                tracing::debug!(error = %e, "no remembered password");
                None
            }
        },
    };
    if options.remember_password {
        let forbidden = crate::trust::admin_policy(&options.trust)?.forbid_remembering_passwords;
        context.remember = Some((origin.clone(), room.to_owned(), forbidden));
    }
    let config = JoinConfig {
        room: RoomId::parse(room),
        display: options.display_name,
        pin: password.clone(),
        receive: !context.media.send_only,
        e2ee: context.e2ee.is_some(),
    };
    let rejoin_config = config.clone();
    let tls_link = link.is_tls();
    // The administrator's policy applies to every link; keys are pinned only over TLS.
    let decision = crate::trust::decide(&origin, &options.trust)?;
    // The TURN servers the user gave, then the administrator's for this server.
    let mut turn = options.turn;
    turn.extend(decision.turn.iter().cloned());
    context.links = link_options(turn, &decision.tls)?;
    let mut trusted = decision.entry;
    let conn =
        match JanusConnection::join(link.endpoint(), config.clone(), &decision.tls, tx_prefix())
            .await
        {
            Ok(conn) => conn,
            // A server no authority vouches for, which the user reviewed and accepts: pin its key,
            // then connect trusting exactly that key.
            Err(runde_connect::ConnectError::UntrustedCertificate { presented })
                if options.trust.accept_new_server && trusted.is_none() =>
            {
                trusted = crate::trust::first_contact(
                    &origin,
                    "janus",
                    &presented,
                    None,
                    &options.trust,
                )?;
                let tls = TlsSettings {
                    pins: vec![presented.key_sha256.clone()],
                    allow_pinned_self_signed: true,
                    ..TlsSettings::default()
                };
                JanusConnection::join(link.endpoint(), config, &tls, tx_prefix())
                    .await
                    .map_err(|e| UserError::from_connect(e, &origin))?
            }
            Err(e) => return Err(UserError::from_connect(e, &origin).into()),
        };
    // What the server says about its operator: for the first-contact review, and for the
    // operator indicator when nothing stronger is known.
    let needs_statement = trusted.as_ref().is_none_or(|e| e.operator.is_none())
        && conn
            .certificate()
            .is_none_or(|c| !c.trusted_by_system || c.organisation.is_none());
    let statement = if tls_link && needs_statement {
        let tls = TlsSettings {
            pins: conn
                .certificate()
                .map(|c| vec![c.key_sha256.clone()])
                .unwrap_or_default(),
            allow_pinned_self_signed: true,
            ..TlsSettings::default()
        };
        runde_connect::fetch_statement(link.endpoint(), &tls)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    if tls_link
        && trusted.is_none()
        && let Some(certificate) = conn.certificate()
    {
        match crate::trust::first_contact(
            &origin,
            "janus",
            certificate,
            statement.as_ref(),
            &options.trust,
        ) {
            Ok(entry) => trusted = entry,
            Err(e) => {
                conn.close().await;
                return Err(e.into());
            }
        }
    }
    let operator = crate::trust::operator(trusted.as_ref(), conn.certificate(), statement.as_ref());
    let rejoin = RejoinTarget {
        endpoint: link.endpoint().clone(),
        origin,
        config: rejoin_config,
        trust: options.trust,
        seen_key: conn.certificate().map(|c| SeenKey {
            key_sha256: c.key_sha256.clone(),
            vouched: c.trusted_by_system,
        }),
        limit: options.rejoin_for,
    };
    let context = JoinContext {
        operator,
        rejoin: Some(rejoin),
        ..context
    };
    let remember = context.remember.clone();
    let mut call = await_joined(conn, context).await?;
    remember_password(&mut call, &remember, password.as_ref());
    Ok(call)
}

async fn await_joined(
    mut conn: JanusConnection,
    context: JoinContext,
) -> Result<Call, JoinFailure> {
    loop {
        match conn.next_event().await {
            Some(RoomEvent::Joined { me, participants }) => {
                // Without a passphrase, first learn from the room list whether the room requires
                // end-to-end encryption (asked for right after joining): then nothing plain is
                // offered, and nothing received is decoded as if it were media.
                let (sealed_room, early) = if context.e2ee.is_none() {
                    room_requirement(&mut conn).await
                } else {
                    (false, Vec::new())
                };
                let mut call = Call::new(conn, me, participants, context);
                call.sealed_room = sealed_room;
                if let Err(error) = call.start_media().await {
                    let _ = call.leave().await;
                    return Err(error.into());
                }
                for event in early {
                    call.on_room_event(event).await;
                }
                return Ok(call);
            }
            Some(RoomEvent::JoinFailed(e)) => {
                let error = UserError::from(e);
                if error.is_password_problem() {
                    return Err(JoinFailure {
                        error,
                        retry: Some(RetryJoin { conn, context }),
                    });
                }
                conn.close().await;
                return Err(error.into());
            }
            Some(RoomEvent::SessionLost { reason }) => {
                return Err(UserError::ServerLost { detail: reason }.into());
            }
            Some(RoomEvent::ProtocolError { reason }) => {
                conn.close().await;
                return Err(UserError::ProtocolError { detail: reason }.into());
            }
            None => {
                return Err(UserError::ServerLost {
                    detail: "the connection ended while joining".into(),
                }
                .into());
            }
            Some(_) => {}
        }
    }
}

/// Whether the room's public facts say it requires end-to-end encryption, and the events that
/// came before them (for the call to handle in order). A room that is not listed, or a list that
/// fails, says nothing: the call goes on as if it did not (Janus then refuses a plain offer
/// itself, which is explained as [`UserError::E2eeRequired`]).
async fn room_requirement(conn: &mut JanusConnection) -> (bool, Vec<RoomEvent>) {
    let mut early = Vec::new();
    while let Some(event) = conn.next_event().await {
        let answer = match &event {
            RoomEvent::RoomFacts(RoomFacts::Listed { require_e2ee, .. }) => Some(*require_e2ee),
            RoomEvent::RoomFacts(RoomFacts::Unlisted) => Some(false),
            RoomEvent::RequestFailed {
                request: "list", ..
            } => Some(false),
            _ => None,
        };
        let ends = matches!(
            event,
            RoomEvent::SessionLost { .. } | RoomEvent::ProtocolError { .. }
        );
        early.push(event);
        if let Some(required) = answer {
            return (required, early);
        }
        if ends {
            break;
        }
    }
    (false, early)
}

/// A transaction-id prefix unique enough to tell our connections apart in a server log.
fn tx_prefix() -> String {
    use std::hash::BuildHasher;
    let seed =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{seed:016x}")[..10].to_owned()
}

/// Our published media: the peer connection and its tracks.
struct Publisher {
    link: PeerLink,
    audio: Option<std::sync::Arc<LocalTrack>>,
    /// Our picture's simulcast layers, smallest first (one for a single stream).
    video: Vec<std::sync::Arc<LocalTrack>>,
}

/// A call in progress.
pub struct Call {
    conn: JanusConnection,
    me: u64,
    participants: BTreeMap<u64, ParticipantInfo>,
    /// The (participant, kind) tracks the subscription currently carries.
    tracks: BTreeSet<(u64, TrackKind)>,
    queued: std::collections::VecDeque<CallEvent>,
    ended: bool,
    context: JoinContext,
    /// The room requires end-to-end encryption and we have no passphrase: we offer nothing and
    /// open nothing.
    sealed_room: bool,
    publisher: Option<Publisher>,
    sender: Option<Sender>,
    subscriber: Option<PeerLink>,
    /// Retransmissions (RTX) that arrived on subscriber connections already closed.
    retransmissions_received: u64,
    /// Whose stream each subscription mid and SSRC is.
    feed_by_mid: HashMap<String, u64>,
    /// Which simulcast layer of each picture we ask the server for.
    layers: crate::layers::LayerChoice,
    feed_by_ssrc: HashMap<u32, u64>,
    engine: Option<Engine>,
    /// A sound cue that came before playout started.
    pending_cue: Option<Cue>,
    speaking: HashMap<u64, bool>,
    /// End-to-end encrypted calls: whose media opens with the call key (as the engine proved).
    decrypting: HashMap<u64, StreamProof>,
    devices: Option<AudioDevices>,
    /// The last state of each media connection (publisher, subscriber) and what we reported.
    link_states: [Option<LinkState>; 2],
    /// The server closed this media path itself (publisher, subscriber: e.g. the last publisher
    /// left): its silence is no broken network.
    hung_up: [bool; 2],
    /// Whether a media connection was ever up in this call (a rejoin keeps it): one that never
    /// was tells of a network that blocks media, which rejoining cannot fix.
    media_connected: bool,
    reported_state: Option<ConnectionState>,
    indicators: Indicators,
    /// Our opened sources, until the sender takes them.
    sources: Option<Sources>,
    /// What the user wants sent, and what this call can send at all.
    muted: bool,
    video_off: bool,
    can_send: (bool, bool),
    reported_sending: Option<(SendState, SendState)>,
    device_tx: tokio::sync::mpsc::UnboundedSender<DeviceReport>,
    device_rx: tokio::sync::mpsc::UnboundedReceiver<DeviceReport>,
    /// The user's requests ([`Call::controls`]), carried out between events.
    controls_tx: tokio::sync::mpsc::UnboundedSender<Control>,
    controls_rx: tokio::sync::mpsc::UnboundedReceiver<Control>,
    /// Holding the push-to-talk key unmuted us (letting go mutes again, and only then).
    talking: bool,
    /// Whether `conn` still delivers events (a lost one is kept only until a rejoin replaces it).
    conn_open: bool,
    /// While the connection to the server is lost: the rejoin under way.
    rejoining: Option<Rejoining>,
    /// Media paths being repaired by an ICE restart (the server connection still open).
    restart: IceRestart,
    /// Replacing the subscription because a stream of it does not decrypt.
    renewals: Renewals,
    /// The microphone's frames, for whichever sender is current (a rejoin starts a new one).
    capture_relay: Option<CaptureRelay>,
    /// End-to-end encrypted calls: who was not in the room when we rejoined, until they are back
    /// or their grace ends.
    missing: Vec<Missing>,
}

/// The next event of an optional peer connection; never, without one.
pub(crate) async fn next_link(link: Option<&mut PeerLink>) -> Option<LinkEvent> {
    match link {
        Some(link) => link.next_event().await,
        None => std::future::pending().await,
    }
}

/// The next report of an optional engine; never, without one.
pub(crate) async fn next_report(engine: &mut Option<Engine>) -> Option<EngineReport> {
    match engine {
        Some(engine) => engine.next_report().await,
        None => std::future::pending().await,
    }
}

/// At `at`; never, without it.
async fn at_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// When the ICE restart under way must be looked at again; never, without one.
async fn restart_due(restart: &IceRestart) {
    match restart.check(Instant::now()) {
        RestartCheck::Until(at) => {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
        }
        RestartCheck::GiveUp(_) => {}
        RestartCheck::Idle => std::future::pending().await,
    }
}

/// How this call's media connections are made: through `turn` (a `turns:` server's certificate
/// checked against the same trust store as the signalling server's).
fn link_options(turn: Vec<TurnServer>, tls: &TlsSettings) -> Result<LinkOptions, UserError> {
    let needs_tls = turn
        .iter()
        .any(|t| t.url.transport == transport::TurnTransport::Tls);
    let turn_tls = if needs_tls {
        let config = tls.turn_client_config().map_err(|e| UserError::TlsFailed {
            detail: e.to_string(),
        })?;
        Some(transport::TurnTls(config))
    } else {
        None
    };
    Ok(LinkOptions {
        turn,
        turn_tls,
        ..LinkOptions::default()
    })
}

fn media_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

impl Call {
    fn new(
        conn: JanusConnection,
        me: u64,
        participants: Vec<Participant>,
        context: JoinContext,
    ) -> Self {
        let (device_tx, device_rx) = tokio::sync::mpsc::unbounded_channel();
        let (controls_tx, controls_rx) = tokio::sync::mpsc::unbounded_channel();
        let participants: BTreeMap<u64, ParticipantInfo> = participants
            .iter()
            .map(|p| (p.id, ParticipantInfo::from(p)))
            .collect();
        let joined = CallEvent::Joined {
            me: me.to_string(),
            participants: participants.values().cloned().collect(),
        };
        let indicators = Indicators {
            recording: RecordingIndicator::from_janus(None),
            encryption: EncryptionIndicator::from_streams(
                context.e2ee.is_some(),
                participants.values().filter(|p| p.publishing).map(|p| {
                    let name = p.name.clone().unwrap_or_else(|| p.id.clone());
                    (name, StreamProof::Nothing)
                }),
            ),
            operator: context.operator.clone(),
        };
        let first_indicators = CallEvent::Indicators {
            indicators: indicators.clone(),
            recording_change: None,
        };
        let (muted, video_off) = (context.media.start_muted, context.media.start_video_off);
        let safety = context.e2ee.as_ref().map(|keys| CallEvent::EndToEnd {
            safety_code: keys.current().safety_code(),
            generation: u32::try_from(keys.generation()).unwrap_or(u32::MAX),
        });
        Self {
            conn,
            me,
            participants,
            tracks: BTreeSet::new(),
            queued: [Some(joined), Some(first_indicators), safety]
                .into_iter()
                .flatten()
                .collect(),
            ended: false,
            context,
            publisher: None,
            sender: None,
            subscriber: None,
            retransmissions_received: 0,
            feed_by_mid: HashMap::new(),
            layers: crate::layers::LayerChoice::default(),
            feed_by_ssrc: HashMap::new(),
            engine: None,
            pending_cue: None,
            speaking: HashMap::new(),
            decrypting: HashMap::new(),
            devices: None,
            link_states: [None, None],
            hung_up: [false, false],
            media_connected: false,
            reported_state: None,
            indicators,
            sources: None,
            muted,
            video_off,
            can_send: (false, false),
            reported_sending: None,
            device_tx,
            device_rx,
            controls_tx,
            controls_rx,
            talking: false,
            sealed_room: false,
            conn_open: true,
            rejoining: None,
            restart: IceRestart::default(),
            renewals: Renewals::default(),
            capture_relay: None,
            missing: Vec::new(),
        }
    }

    /// Start playout and, if we send anything, offer our media to the server.
    async fn start_media(&mut self) -> Result<(), UserError> {
        let media = &self.context.media;
        // In a room that requires end-to-end encryption, without a passphrase, nothing is
        // captured: no microphone opens, no camera light goes on.
        let microphone = match &media.audio_in {
            AudioIn::Microphone(id) if !self.sealed_room => Some(id.clone()),
            _ => None,
        };
        let speaker = match &media.audio_out {
            AudioOut::Speaker(id) => Some(id.clone()),
            _ => None,
        };
        // A speaker that cannot be opened does not keep anyone out of a call: go on without
        // sound and say so. A microphone the user chose to send must work.
        let (started, speaker_lost) = AudioDevices::start_sparing_speaker(
            microphone,
            !self.muted,
            speaker,
            self.device_tx.clone(),
        )?;
        if let Some(lost) = speaker_lost {
            let (device, in_use, name, reason) = device_event(lost);
            self.queued.push_back(CallEvent::DeviceChanged {
                device,
                in_use,
                name,
                reason,
            });
        }
        let captured = started.map(|(devices, frames)| {
            self.devices = Some(devices);
            let (relay, frames) = CaptureRelay::start(frames);
            self.capture_relay = Some(relay);
            frames
        });
        let sources = if self.sealed_room {
            None
        } else {
            Some(Sources::open(
                &media.audio_in,
                &media.video_in,
                captured,
                self.video_off,
                media.single_layer,
            )?)
        };
        let speaker_sink = self.devices.as_ref().map(AudioDevices::speaker_sink);
        let decryptor = match (&self.context.e2ee, self.sealed_room) {
            (Some(keys), _) => Some(runde_e2ee::FrameDecryptor::following(keys.clone())),
            (None, true) => Some(runde_e2ee::FrameDecryptor::without_key()),
            (None, false) => None,
        };
        let engine = Engine::start(&media.audio_out, &media.video_out, speaker_sink, decryptor)?;
        if let Some(cue) = self.pending_cue.take() {
            engine.play_cue(cue);
        }
        self.engine = Some(engine);
        let Some(sources) = sources else {
            // Janus would refuse a plain offer: say why now, send nothing.
            self.queued.push_back(CallEvent::Warning {
                error: UserError::E2eeRequired,
            });
            self.report_sending();
            return Ok(());
        };
        let (audio, video) = (sources.has_audio(), sources.has_video());
        self.sources = Some(sources);
        self.can_send = (audio, video);
        self.report_sending();
        self.offer_media().await
    }

    /// Offer what `sources` holds to the server on a new peer connection (the sender starts
    /// with the answer).
    async fn offer_media(&mut self) -> Result<(), UserError> {
        let Some(sources) = &self.sources else {
            return Ok(());
        };
        let (audio, video) = (sources.has_audio(), sources.has_video());
        let layers = sources.video_layers();
        if !audio && !video {
            return Ok(());
        }
        let mut link = PeerLink::new(&self.context.links)
            .await
            .map_err(media_failed)?;
        let audio = if audio {
            Some(std::sync::Arc::new(
                link.add_track(transport::TrackKind::Audio)
                    .await
                    .map_err(media_failed)?,
            ))
        } else {
            None
        };
        let video = if video {
            link.add_video_layers(layers)
                .await
                .map_err(media_failed)?
                .into_iter()
                .map(std::sync::Arc::new)
                .collect()
        } else {
            Vec::new()
        };
        let offer = link.create_offer().await.map_err(media_failed)?;
        self.conn.publish(offer);
        self.publisher = Some(Publisher { link, audio, video });
        Ok(())
    }

    /// Stop or resume sending our sound. Muted, nothing is sent and a microphone is closed (the
    /// system's microphone light goes out); unmuting opens it again. A microphone that cannot be
    /// opened leaves us muted, with a warning. The outcome comes as [`CallEvent::Sending`].
    pub async fn set_audio_muted(&mut self, muted: bool) {
        if !muted && !self.can_send.0 {
            // Nothing to unmute (no microphone in this call, or a sealed room without the key).
            self.report_sending();
            return;
        }
        if !muted
            && matches!(self.context.media.audio_in, AudioIn::Microphone(_))
            && let Some(devices) = &self.devices
            && let Err(error) = devices.set_microphone_open(true).await
        {
            self.queued.push_back(CallEvent::Warning { error });
            self.report_sending();
            return;
        }
        self.muted = muted;
        if let Some(sender) = &self.sender {
            sender.set_audio_muted(muted);
        }
        if muted
            && let Some(devices) = &self.devices
            && let Err(error) = devices.set_microphone_open(false).await
        {
            tracing::debug!(error = %error, "the microphone did not close");
        }
        self.report_sending();
    }

    /// The tiles the others' pictures are shown in now, by participant, in device pixels. A
    /// participant without a tile is not seen. Each picture is asked of the server in the
    /// smallest simulcast layer that fills its tile.
    pub fn set_tiles(&mut self, tiles: HashMap<u64, (u32, u32)>) {
        self.layers.set_tiles(tiles);
        self.request_layers();
    }

    /// Everyone without a tile of their own is shown in a tile of this size (device pixels):
    /// for a headless viewer.
    pub fn set_tile_for_others(&mut self, size: (u32, u32)) {
        self.layers.set_tile_for_others(size);
        self.request_layers();
    }

    /// Ask the server for the layers whose choice changed.
    fn request_layers(&mut self) {
        for (mid, step) in self.layers.changes(Instant::now()) {
            let (layer, temporal) = (step.substream(), step.temporal());
            tracing::debug!(mid, layer, temporal, "simulcast layer asked for");
            self.conn.choose_layer(mid, layer, temporal);
        }
    }

    /// Turn our picture off or on. Off, nothing is sent and a camera is closed; on, it opens
    /// again (a camera that cannot be opened leaves the picture off and is reported). The outcome
    /// comes as [`CallEvent::Sending`].
    pub fn set_video_off(&mut self, off: bool) {
        self.video_off = off;
        if let Some(sender) = &self.sender {
            sender.set_video_off(off);
        }
        self.report_sending();
    }

    /// The encryption indicator from what the media path proves: end-to-end only when every
    /// publishing participant's media has opened with the call key.
    fn update_encryption(&mut self) {
        let encryption = self.encryption_now();
        if encryption != self.indicators.encryption {
            self.indicators.encryption = encryption;
            self.queued.push_back(CallEvent::Indicators {
                indicators: self.indicators.clone(),
                recording_change: None,
            });
        }
    }

    /// The encryption indicator as the media path proves it now.
    fn encryption_now(&self) -> EncryptionIndicator {
        EncryptionIndicator::from_streams(
            self.context.e2ee.is_some(),
            self.participants
                .values()
                .filter(|p| p.publishing)
                .filter_map(|p| {
                    let id = p.id.parse::<u64>().ok()?;
                    let name = p.name.clone().unwrap_or_else(|| p.id.clone());
                    let proof = self
                        .decrypting
                        .get(&id)
                        .copied()
                        .unwrap_or(StreamProof::Nothing);
                    Some((name, proof))
                }),
        )
    }

    /// Use a new end-to-end key during the call (everyone still here agreed on a new passphrase,
    /// e.g. after someone left: [`CallControls::change_passphrase`] derives it). From our next
    /// frame on we seal with the new key; the others' media opens with the new key or, until they
    /// switch, the old one — shown as
    /// [`crate::indicators::EncryptionReason::SomeOnPreviousKey`]. The new safety code comes as
    /// [`CallEvent::EndToEnd`].
    fn change_key(&mut self, key: runde_e2ee::CallKey) -> Result<(), UserError> {
        let Some(keys) = self.context.e2ee.clone() else {
            return Err(UserError::E2eeUnavailable {
                detail: "this call is not end-to-end encrypted".into(),
            });
        };
        keys.rotate(key);
        self.queued.push_back(CallEvent::EndToEnd {
            safety_code: keys.current().safety_code(),
            generation: u32::try_from(keys.generation()).unwrap_or(u32::MAX),
        });
        // Whoever opened with the old key is now on the previous one, until their frames say
        // otherwise.
        for proof in self.decrypting.values_mut() {
            if *proof == StreamProof::Opens {
                *proof = StreamProof::OpensWithPreviousKey;
            }
        }
        self.update_encryption();
        Ok(())
    }

    /// A handle for the user's requests while [`next_event`](Self::next_event) is awaited: they
    /// are carried out between events (see [`crate::controls`]).
    pub fn controls(&self) -> CallControls {
        let key_identity = self
            .context
            .e2ee
            .is_some()
            .then(|| self.context.room_identity.clone());
        CallControls::new(self.controls_tx.clone(), key_identity)
    }

    async fn on_control(&mut self, control: Control) {
        match control {
            Control::MuteMicrophone(muted) => {
                self.talking = false;
                self.set_audio_muted(muted).await;
            }
            Control::PushToTalk(true) => {
                if self.muted && !self.talking {
                    self.talking = true;
                    self.set_audio_muted(false).await;
                }
            }
            Control::PushToTalk(false) => {
                if self.talking {
                    self.talking = false;
                    self.set_audio_muted(true).await;
                }
            }
            Control::SwitchDevice(device, id) => self.switch_device(device, id).await,
            Control::VideoOff(off) => self.set_video_off(off),
            Control::Tiles(tiles) => self.set_tiles(tiles),
            Control::ChangeKey(key, done) => {
                let _ = done.send(self.change_key(key));
            }
        }
    }

    /// Whether we are muted now.
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Queue a [`CallEvent::Sending`] when what we send changed.
    fn report_sending(&mut self) {
        if let Some(sender) = &self.sender {
            // The sender has the last word: a camera that failed to open turned its picture off.
            let (_, video_on) = sender.sending();
            if video_on == Some(false) {
                self.video_off = true;
            }
        }
        let now = (
            SendState::of(self.can_send.0, !self.muted),
            SendState::of(self.can_send.1, !self.video_off),
        );
        if self.reported_sending != Some(now) {
            self.reported_sending = Some(now);
            self.queued.push_back(CallEvent::Sending {
                microphone: now.0,
                camera: now.1,
            });
        }
    }

    fn audio_devices(&self) -> Result<&AudioDevices, UserError> {
        self.devices.as_ref().ok_or_else(|| UserError::MediaFailed {
            detail: "this call uses no audio devices".into(),
        })
    }

    /// Use another microphone (`None`: the default) without a gap; on failure the current one
    /// stays in use.
    pub async fn switch_microphone(&self, id: Option<String>) -> Result<(), UserError> {
        self.audio_devices()?
            .switch(DeviceRole::Microphone, id)
            .await
    }

    /// Use another speaker (`None`: the default); on failure the current one stays in use.
    pub async fn switch_speaker(&self, id: Option<String>) -> Result<(), UserError> {
        self.audio_devices()?.switch(DeviceRole::Speaker, id).await
    }

    /// Use another camera (`None`: the first); on failure the current one stays in use.
    pub async fn switch_camera(&self, id: Option<String>) -> Result<(), UserError> {
        match &self.sender {
            Some(sender) => sender.switch_camera(id).await,
            None => Err(UserError::MediaFailed {
                detail: "this call sends no video".into(),
            }),
        }
    }

    /// Tell the window something from outside the engine (e.g. push to talk is ready).
    pub fn announce(&mut self, event: CallEvent) {
        self.queued.push_back(event);
    }

    /// Use another microphone, speaker or camera (`None`: the default); the outcome comes as a
    /// [`CallEvent::DeviceChanged`] or, when it failed (the current one stays), a warning. A
    /// microphone or camera that is off is only remembered and opens when turned on.
    pub async fn switch_device(&mut self, device: crate::devices::DeviceKind, id: Option<String>) {
        use crate::devices::DeviceKind;
        let name = id.clone().unwrap_or_else(|| "default".into());
        // Borrow only the part that switches: the call as a whole is not shared across threads.
        let no_audio = || UserError::MediaFailed {
            detail: "this call uses no audio devices".into(),
        };
        let result = match device {
            DeviceKind::Microphone => match &self.devices {
                Some(d) => d.switch(DeviceRole::Microphone, id).await,
                None => Err(no_audio()),
            },
            DeviceKind::Speaker => match &self.devices {
                Some(d) => d.switch(DeviceRole::Speaker, id).await,
                None => Err(no_audio()),
            },
            DeviceKind::Camera => match &self.sender {
                Some(s) => s.switch_camera(id).await,
                None => Err(UserError::MediaFailed {
                    detail: "this call sends no video".into(),
                }),
            },
        };
        match result {
            Ok(()) => {
                let kind = match device {
                    DeviceKind::Microphone => "microphone",
                    DeviceKind::Speaker => "speaker",
                    DeviceKind::Camera => "camera",
                };
                self.queued.push_back(CallEvent::DeviceChanged {
                    device: kind.into(),
                    in_use: true,
                    name,
                    reason: None,
                });
            }
            Err(error) => self.queued.push_back(CallEvent::Warning { error }),
        }
    }

    /// Play the sound cue for a recording change (now, or once playout has started).
    fn cue(&mut self, change: RecordingChange) {
        let cue = match change {
            RecordingChange::Raised => Cue::Rising,
            RecordingChange::Lowered => Cue::Falling,
        };
        match &self.engine {
            Some(engine) => engine.play_cue(cue),
            None => self.pending_cue = Some(cue),
        }
    }

    /// The indicators as they are now.
    pub fn indicators(&self) -> &Indicators {
        &self.indicators
    }

    /// Our id in the room.
    pub fn me(&self) -> String {
        self.me.to_string()
    }

    /// Everyone else in the call now.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.participants.values().cloned().collect()
    }

    /// The next event; `None` after [`CallEvent::Ended`].
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                if matches!(event, CallEvent::Ended { .. }) {
                    self.ended = true;
                }
                return Some(event);
            }
            if self.ended {
                return None;
            }
            tokio::select! {
                event = self.conn.next_event(), if self.conn_open => match event {
                    Some(event) => self.on_room_event(event).await,
                    None => self.on_lost(UserError::ServerLost {
                        detail: "the connection ended".into(),
                    }),
                },
                progress = rejoin_progress(self.rejoining.as_mut()) => match progress {
                    RejoinProgress::Due => self.start_attempt(),
                    RejoinProgress::Connected(result) => self.on_attempt_connected(result),
                },
                () = first_missing_due(&self.missing) => self.advise_missing(),
                () = restart_due(&self.restart) => self.on_restart_due(),
                () = at_or_never(self.renewals.due()) => self.renew_if_due(),
                () = at_or_never(self.layers.next_change()) => self.request_layers(),
                Some(event) = next_link(self.publisher.as_mut().map(|p| &mut p.link)) => {
                    self.on_publisher_link(event).await;
                }
                Some(event) = next_link(self.subscriber.as_mut()) => {
                    self.on_subscriber_link(event).await;
                }
                Some(report) = next_report(&mut self.engine) => self.on_report(report),
                Some(report) = self.device_rx.recv() => self.on_device(report),
                Some(control) = self.controls_rx.recv() => self.on_control(control).await,
            }
        }
    }

    /// Leave the call, close every connection, finish the output files; how the received media
    /// fared.
    pub async fn leave(mut self) -> MediaSummary {
        if let Some(mut sender) = self.sender.take() {
            sender.stop();
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.link.close().await;
        }
        if let Some(subscriber) = self.take_subscriber() {
            subscriber.close().await;
        }
        let mut summary = match self.engine.take() {
            Some(engine) => engine.finish().await,
            None => MediaSummary::default(),
        };
        summary.retransmissions_received = self.retransmissions_received;
        // Closes the microphone and speaker (joins their thread).
        drop(self.devices.take());
        self.conn.close().await;
        summary
    }

    /// Take the subscription's connection away, keeping its count of retransmissions.
    fn take_subscriber(&mut self) -> Option<PeerLink> {
        let link = self.subscriber.take()?;
        self.retransmissions_received += link.retransmissions_received();
        Some(link)
    }

    fn on_device(&mut self, report: DeviceReport) {
        let role = report.role;
        let (device, in_use, name, reason) = device_event(report);
        let event = CallEvent::DeviceChanged {
            device,
            in_use,
            name,
            reason,
        };
        self.queued.push_back(event);
        if role == DeviceRole::Camera {
            self.report_sending();
        }
    }

    /// Combine both connections' states into one and report changes.
    /// A media connection's new state (0: sending, 1: receiving); a failed one is also a warning.
    async fn on_link_event_state(&mut self, index: usize, state: LinkState) {
        self.on_link_state(index, state).await;
        if state == LinkState::Failed {
            let which = if index == 0 { "sending" } else { "receiving" };
            self.queued.push_back(CallEvent::Warning {
                error: UserError::MediaPathLost {
                    detail: format!("the media connection for {which} failed"),
                },
            });
        }
    }

    async fn on_link_state(&mut self, index: usize, state: LinkState) {
        // Nothing has come back on a media path for 1.5 s (ICE's keepalives go every 500 ms):
        // the network changed under us (another address, an interface down and up) or dropped.
        // While the server connection is open the path is repaired in place by an ICE restart
        // (new candidates from the addresses we have now, on the same handles); otherwise, or
        // when that does not help, the call rejoins as when the server connection is lost.
        if state == LinkState::Connected {
            self.hung_up[index] = false;
            self.media_connected = true;
            if self.restart.restarting(index) {
                self.restart_connected(index);
            }
            if index == 1
                && let Some(took) = self.renewals.connected(Instant::now())
            {
                tracing::info!(
                    after_ms = took.as_millis() as u64,
                    "the new subscription's media connection is up"
                );
            }
        }
        if state == LinkState::Failed && !self.media_connected && self.rejoining.is_none() {
            self.media_blocked();
            return;
        }
        if matches!(state, LinkState::Disconnected | LinkState::Failed) && !self.hung_up[index] {
            let which = if index == 0 { "sending" } else { "receiving" };
            let detail = format!("nothing arrived on the media connection for {which} for a while");
            if self.media_broke(&[index], detail).await {
                return;
            }
        }
        self.link_states[index] = Some(state);
        if self.restart.is_active() || self.renewals.is_active() {
            // Restarting (or replacing the subscription) counts as reconnecting until every
            // path being repaired is back.
            self.set_connection(ConnectionState::Reconnecting);
            return;
        }
        let states = self.link_states.iter().flatten();
        let combined = if states.clone().any(|s| *s == LinkState::Failed) {
            ConnectionState::Failed
        } else if states.clone().any(|s| *s == LinkState::Disconnected) {
            ConnectionState::Interrupted
        } else if states.clone().all(|s| *s == LinkState::Connected) {
            ConnectionState::Connected
        } else {
            ConnectionState::Connecting
        };
        self.set_connection(combined);
    }

    /// No media connection came up at all (ICE gives up after 7.5 s of checks): the server is
    /// reachable, its media ports are not. Rejoining would end the same way for two minutes, so
    /// the call ends now and says why.
    fn media_blocked(&mut self) {
        let ending = self
            .queued
            .iter()
            .any(|e| matches!(e, CallEvent::Ended { .. }));
        if self.ended || ending {
            return;
        }
        let detail = if self.context.links.turn.is_empty() {
            "no TURN server is configured".to_owned()
        } else {
            "not through the TURN servers either".to_owned()
        };
        tracing::warn!(reason = %detail, "no media connection came up");
        self.end(EndReason::Lost {
            error: UserError::MediaBlocked { detail },
        });
    }

    /// Media paths broke (`paths`: 0 sending, 1 receiving): restart ICE on them while the server
    /// connection is open, rejoin otherwise; whether a repair is under way now.
    async fn media_broke(&mut self, paths: &[usize], detail: String) -> bool {
        self.media_broke_with(paths, detail, self.conn_open).await
    }

    async fn media_broke_with(
        &mut self,
        paths: &[usize],
        detail: String,
        signalling_open: bool,
    ) -> bool {
        let rejoins = self
            .context
            .rejoin
            .as_ref()
            .is_some_and(|target| !target.limit.is_zero());
        let mut repairing = false;
        for &index in paths {
            let exists = match index {
                0 => self.publisher.is_some(),
                _ => self.subscriber.is_some(),
            };
            if !exists || self.hung_up[index] {
                continue;
            }
            let repair = crate::restart::repair(
                signalling_open,
                self.restart.restarting(index),
                self.rejoining.is_some(),
                rejoins,
            );
            match repair {
                Repair::Restart => {
                    repairing |= self.restart_path(index, &detail).await;
                }
                Repair::Rejoin => return self.rejoin_for_media(detail),
                Repair::Nothing => {
                    repairing |= self.restart.restarting(index) || self.rejoining.is_some();
                }
            }
        }
        repairing
    }

    /// Restart ICE on one media path: a new offer for our published media, a request for a new
    /// offer for our subscription. Whether the restart started (a failure falls back to a rejoin).
    async fn restart_path(&mut self, index: usize, detail: &str) -> bool {
        if !self.restart.begin(index, Instant::now()) {
            return true;
        }
        tracing::info!(path = index, reason = %detail, "a media path broke; restarting ICE");
        self.set_connection(ConnectionState::Reconnecting);
        if index == 0 {
            let offer = match &mut self.publisher {
                Some(publisher) => publisher.link.restart_offer().await,
                None => return false,
            };
            match offer {
                Ok(offer) => self.conn.restart_publisher(offer),
                Err(e) => {
                    self.restart_gave_up(format!("no ICE restart offer: {e}"));
                    return self.rejoining.is_some();
                }
            }
        } else {
            // Our tracks stay: the engine tells when their media arrives again.
            if let Some(engine) = &self.engine {
                engine.media_again();
            }
            self.conn.restart_subscription();
        }
        true
    }

    /// A restarted path connected again: when it was the last one, the repair is done.
    fn restart_connected(&mut self, index: usize) {
        if let Some(took) = self.restart.connected(index, Instant::now()) {
            tracing::info!(
                after_ms = took.as_millis() as u64,
                "the media paths are back after an ICE restart"
            );
        }
    }

    /// The time of the restart under way came: rejoin if it did not work.
    fn on_restart_due(&mut self) {
        if let RestartCheck::GiveUp(reason) = self.restart.check(Instant::now()) {
            self.restart_gave_up(reason);
        }
    }

    /// An ICE restart did not bring media back: rejoin (when the call rejoins at all).
    fn restart_gave_up(&mut self, reason: String) {
        tracing::info!(reason = %reason, "the ICE restart did not help; rejoining");
        self.restart.clear();
        if !self.rejoin_for_media(reason) {
            // This call does not rejoin: media cannot flow on the paths that broke.
            self.set_connection(ConnectionState::Failed);
        }
    }

    /// Rejoin because the media paths broke (when rejoining is wanted and not under way);
    /// whether it started.
    fn rejoin_for_media(&mut self, detail: String) -> bool {
        let rejoins = self
            .context
            .rejoin
            .as_ref()
            .is_some_and(|target| !target.limit.is_zero());
        if !rejoins || self.rejoining.is_some() {
            return false;
        }
        tracing::info!(reason = %detail, "the media paths broke; rejoining");
        self.on_lost(UserError::MediaPathLost { detail });
        true
    }

    /// A local address a connection used is gone: its paths are broken now, whatever ICE says
    /// yet. Every path is repaired (they all had the machine's addresses).
    async fn on_address_lost(&mut self, address: std::net::IpAddr) {
        let detail = format!("this computer's address {address} went away");
        // The server connection left from that address too: it is gone, whether it noticed yet
        // or not, and only a rejoin helps.
        let signalling_open = self.conn_open && self.conn.local_ip() != Some(address);
        self.media_broke_with(&[0, 1], detail, signalling_open)
            .await;
    }

    /// Report the connection's state when it changed.
    fn set_connection(&mut self, state: ConnectionState) {
        if self.reported_state != Some(state) {
            self.reported_state = Some(state);
            self.queued.push_back(CallEvent::Connection { state });
        }
    }

    async fn on_publisher_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::AddressLost(address) => self.on_address_lost(address).await,
            // We publish: the server sends us no tracks (nor any RTP that could fail).
            LinkEvent::Track(_) | LinkEvent::Undecryptable { .. } => {}
            LinkEvent::State(state) => self.on_link_event_state(0, state).await,
        }
    }

    async fn on_subscriber_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::AddressLost(address) => self.on_address_lost(address).await,
            LinkEvent::Track(track) => {
                let by_mid = track
                    .track_id
                    .strip_prefix("janus")
                    .and_then(|mid| self.feed_by_mid.get(mid));
                let feed = self.feed_by_ssrc.get(&track.ssrc).or(by_mid).copied();
                match (feed, &self.engine) {
                    (Some(feed), Some(engine)) => engine.add_track(FeedTrack { feed, track }),
                    _ => tracing::debug!(ssrc = track.ssrc, "a track nobody owns; ignored"),
                }
            }
            LinkEvent::State(state) => self.on_link_event_state(1, state).await,
            LinkEvent::Undecryptable { ssrc } => self.on_undecryptable(ssrc),
        }
    }

    /// A stream of our subscription arrives and does not decrypt: it stays dark on this
    /// connection, so the subscription is replaced (`renew.rs`), at once or when allowed.
    fn on_undecryptable(&mut self, ssrc: u32) {
        let Some(feed) = self.feed_by_ssrc.get(&ssrc).copied() else {
            tracing::debug!(ssrc, "a stream nobody owns does not decrypt; ignored");
            return;
        };
        tracing::warn!(
            participant = feed,
            ssrc,
            "a stream of the subscription arrives but does not decrypt; subscribing anew"
        );
        self.renewals.ask(Instant::now());
        self.renew_if_due();
    }

    /// Replace the subscription when a renewal asked for is due: the server gets a new handle
    /// with the same feeds, and its offer makes a new connection
    /// ([`on_subscription_replaced`](Self::on_subscription_replaced) drops the old one).
    fn renew_if_due(&mut self) {
        if self.rejoining.is_some() || !self.conn_open {
            // A rejoin replaces the subscription anyway.
            self.renewals.cancel();
            return;
        }
        if !self.renewals.start_if_due(Instant::now()) {
            return;
        }
        self.set_connection(ConnectionState::Reconnecting);
        self.conn.renew_subscription();
    }

    /// The server's side of the subscription is gone (after any offer of the old handle, which
    /// the old connection answered): drop that connection and what belonged to it. Participants'
    /// tiles stay; their media starts again on the new connection (reported as it comes).
    fn on_subscription_replaced(&mut self) {
        // Dropped peer connections close in the background.
        self.take_subscriber();
        let feeds: BTreeSet<u64> = self.feed_by_mid.values().copied().collect();
        if let Some(engine) = &self.engine {
            for feed in &feeds {
                engine.remove_feed(*feed);
            }
        }
        for feed in &feeds {
            self.set_speaking(*feed, false);
            self.decrypting.remove(feed);
        }
        self.feed_by_mid.clear();
        self.feed_by_ssrc.clear();
        self.layers.forget_requests();
        self.link_states[1] = None;
        self.update_encryption();
    }

    fn on_report(&mut self, report: EngineReport) {
        match report {
            EngineReport::FirstMedia { feed, kind } => {
                self.queued.push_back(CallEvent::MediaStarted {
                    participant: feed.to_string(),
                    kind: match kind {
                        transport::TrackKind::Audio => TrackKind::Audio,
                        transport::TrackKind::Video => TrackKind::Video,
                    },
                    after_ms: self.context.started.elapsed().as_millis() as u64,
                });
            }
            EngineReport::Speaking { feed, speaking } => self.set_speaking(feed, speaking),
            EngineReport::Decryption {
                feed,
                decrypting,
                previous_key,
            } => {
                let proof = match (decrypting, previous_key) {
                    (false, _) => StreamProof::Fails,
                    (true, false) => StreamProof::Opens,
                    (true, true) => StreamProof::OpensWithPreviousKey,
                };
                self.decrypting.insert(feed, proof);
                self.queued.push_back(CallEvent::Decryption {
                    participant: feed.to_string(),
                    decrypting,
                    previous_key,
                });
                self.update_encryption();
            }
            EngineReport::PictureSize { feed, height } => {
                // A picture the server let fall back to a smaller layer is asked for again.
                self.layers.set_arriving(feed, height, Instant::now());
            }
            EngineReport::Quality {
                feed,
                quality,
                audio_missing_percent,
            } => {
                // Our link does not carry their picture well: a smaller layer.
                self.layers.set_quality(feed, quality);
                self.request_layers();
                self.queued.push_back(CallEvent::Quality {
                    participant: feed.to_string(),
                    quality,
                    audio_lost_percent: audio_missing_percent,
                });
            }
        }
    }

    fn set_speaking(&mut self, feed: u64, speaking: bool) {
        if self.speaking.insert(feed, speaking) != Some(speaking) {
            self.queued.push_back(CallEvent::Speaking {
                participant: feed.to_string(),
                speaking,
            });
        }
    }

    async fn on_publish_answer(&mut self, sdp: String) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        // The answer to a restart offer: the server has restarted its side.
        self.restart.answered(0);
        if let Err(e) = publisher.link.accept_answer(sdp).await {
            self.queued.push_back(CallEvent::Warning {
                error: media_failed(e),
            });
            return;
        }
        let Some(sources) = self.sources.take() else {
            return;
        };
        let (audio, video) = (publisher.audio.clone(), publisher.video.clone());
        match Sender::start(
            sources,
            audio,
            video,
            self.device_tx.clone(),
            SendOptions {
                self_view: self.context.media.self_view.clone(),
                muted: self.muted,
                video_off: self.video_off,
                levels: None,
                // Our participant id makes our key ids unique in the call: one per track.
                e2ee: self.context.e2ee.as_ref().map(|keys| {
                    let [audio, video] = runde_e2ee::sender_key_ids(self.me);
                    (keys, (audio, video))
                }),
            },
        ) {
            Ok(sender) => self.sender = Some(sender),
            Err(error) => self.queued.push_back(CallEvent::Warning { error }),
        }
    }

    async fn on_subscription_offer(&mut self, sdp: String, streams: &[RemoteStream]) {
        for stream in streams {
            if let (Some(feed), true) = (stream.feed, stream.active) {
                self.feed_by_mid.insert(stream.mid.clone(), feed);
            }
        }
        for (mid, ssrcs) in transport::ssrcs_by_mid(&sdp) {
            if let Some(feed) = self.feed_by_mid.get(&mid).copied() {
                for ssrc in ssrcs {
                    self.feed_by_ssrc.insert(ssrc, feed);
                }
            }
        }
        if self.subscriber.is_none() {
            // Janus offers its subscribers retransmissions on a stream of their own.
            let options = LinkOptions {
                receive_rtx: true,
                ..self.context.links.clone()
            };
            match PeerLink::new(&options).await {
                Ok(link) => self.subscriber = Some(link),
                Err(e) => {
                    self.queued.push_back(CallEvent::Warning {
                        error: media_failed(e),
                    });
                    return;
                }
            }
        }
        let Some(link) = &mut self.subscriber else {
            return;
        };
        match link.answer_offer(sdp).await {
            Ok(answer) => self.conn.answer_subscription(answer),
            Err(e) => self.queued.push_back(CallEvent::Warning {
                error: media_failed(e),
            }),
        }
    }

    /// The server's new offer for our subscription after we asked for an ICE restart: the same
    /// streams (their owners and tracks stay), new ICE credentials.
    async fn on_subscription_restart(&mut self, sdp: String) {
        self.restart.answered(1);
        let Some(link) = &mut self.subscriber else {
            return;
        };
        match link.answer_offer(sdp).await {
            Ok(answer) => self.conn.answer_subscription(answer),
            Err(e) => self.restart_gave_up(format!("no answer to the restart offer: {e}")),
        }
    }

    fn end(&mut self, reason: EndReason) {
        self.queued.push_back(CallEvent::Ended { reason });
    }

    async fn on_room_event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::ParticipantJoined(p) | RoomEvent::ParticipantPublishing(p) => {
                let info = ParticipantInfo::from(&p);
                self.came_back(&info);
                let known = self.participants.insert(p.id, info.clone());
                if known.is_none() {
                    self.queued
                        .push_back(CallEvent::ParticipantJoined { participant: info });
                }
                self.update_encryption();
            }
            RoomEvent::ParticipantUnpublished { id } => {
                if let Some(p) = self.participants.get_mut(&id) {
                    p.publishing = false;
                }
                if let Some(engine) = &self.engine {
                    engine.remove_feed(id);
                }
                self.decrypting.remove(&id);
                self.update_encryption();
            }
            RoomEvent::ParticipantLeft { id } => {
                if let Some(engine) = &self.engine {
                    engine.remove_feed(id);
                }
                self.drop_tracks(|(feed, _)| *feed == id);
                if let Some(gone) = self.participants.remove(&id) {
                    self.queued
                        .push_back(CallEvent::ParticipantLeft { id: id.to_string() });
                    if self.context.e2ee.is_some() {
                        self.queued.push_back(CallEvent::NewPassphraseAdvised {
                            left: gone.name.unwrap_or(gone.id),
                        });
                    }
                }
                self.decrypting.remove(&id);
                self.update_encryption();
            }
            RoomEvent::SubscriptionOffer { jsep, streams } => {
                self.on_streams(&streams);
                self.on_subscription_offer(jsep.sdp, &streams).await;
            }
            RoomEvent::PublishAnswer(jsep) => self.on_publish_answer(jsep.sdp).await,
            RoomEvent::SubscriptionRestart(jsep) => self.on_subscription_restart(jsep.sdp).await,
            RoomEvent::SubscriptionReplaced => self.on_subscription_replaced(),
            RoomEvent::RestartFailed { role, code, reason } => {
                let which = match role {
                    janus::Role::Publisher => "sending",
                    janus::Role::Subscriber => "receiving",
                };
                if self.restart.is_active() {
                    self.restart_gave_up(format!(
                        "the server refused an ICE restart for {which}: {reason} ({code})"
                    ));
                }
            }
            RoomEvent::Talking { id, talking } => self.set_speaking(id, talking),
            // Janus: "Room requires end-to-end encrypted media".
            RoomEvent::PublishFailed { code: 433, .. } if self.context.e2ee.is_none() => {
                self.queued.push_back(CallEvent::Warning {
                    error: UserError::E2eeRequired,
                });
            }
            RoomEvent::PublishFailed { code, reason }
            | RoomEvent::RequestFailed { code, reason, .. } => {
                self.queued.push_back(CallEvent::Warning {
                    error: UserError::JoinRefused {
                        detail: format!("{reason} ({code})"),
                    },
                });
            }
            RoomEvent::RoomFacts(facts) => {
                let recording = RecordingIndicator::from_janus(Some(facts));
                if recording != self.indicators.recording {
                    let change = self.indicators.recording.state.change_to(recording.state);
                    self.indicators.recording = recording;
                    if let Some(change) = change {
                        self.cue(change);
                    }
                    self.queued.push_back(CallEvent::Indicators {
                        indicators: self.indicators.clone(),
                        recording_change: change,
                    });
                }
            }
            RoomEvent::RoomDestroyed => self.end(EndReason::RoomClosed),
            RoomEvent::Kicked => self.end(EndReason::Kicked),
            RoomEvent::Left => self.end(EndReason::Left),
            RoomEvent::SessionLost { reason } => {
                self.on_lost(UserError::ServerLost { detail: reason });
            }
            RoomEvent::Joined { me, participants } => self.on_rejoined(me, participants).await,
            // Our own ghost (the session the server has not noticed is gone) may still hold
            // the last place: it is freed soon.
            RoomEvent::JoinFailed(janus::JoinError::RoomFull) if self.rejoining.is_some() => {
                self.on_lost(UserError::from(janus::JoinError::RoomFull));
            }
            RoomEvent::JoinFailed(e) if self.rejoining.is_some() => {
                self.rejoining = None;
                self.end(EndReason::Lost {
                    error: UserError::from(e),
                });
            }
            RoomEvent::ProtocolError { reason } => self.end(EndReason::Lost {
                error: UserError::ProtocolError { detail: reason },
            }),
            RoomEvent::JoinFailed(_) | RoomEvent::WebRtcUp(_) | RoomEvent::MediaFlowing { .. } => {}
            RoomEvent::Hangup { role, .. } => {
                let index = match role {
                    janus::Role::Publisher => 0,
                    janus::Role::Subscriber => 1,
                };
                self.hung_up[index] = true;
            }
        }
    }

    /// The subscription now carries these streams: announce what appeared and what went away.
    fn on_streams(&mut self, streams: &[RemoteStream]) {
        let now: BTreeSet<(u64, TrackKind)> = streams
            .iter()
            .filter(|s| s.active)
            .filter_map(|s| {
                let kind = match s.kind {
                    MediaKind::Audio => TrackKind::Audio,
                    MediaKind::Video => TrackKind::Video,
                    MediaKind::Other => return None,
                };
                Some((s.feed?, kind))
            })
            .collect();
        self.drop_tracks(|track| !now.contains(track));
        let video_mids = streams
            .iter()
            .filter(|s| s.active && s.kind == MediaKind::Video)
            .filter_map(|s| Some((s.feed?, s.mid.clone())))
            .collect();
        self.layers.set_streams(video_mids);
        self.request_layers();
        for (feed, kind) in now {
            if self.tracks.insert((feed, kind)) {
                self.queued.push_back(CallEvent::TrackAdded {
                    participant: feed.to_string(),
                    kind,
                });
            }
        }
    }

    fn drop_tracks(&mut self, gone: impl Fn(&(u64, TrackKind)) -> bool) {
        let removed: Vec<_> = self.tracks.iter().filter(|t| gone(t)).copied().collect();
        for (feed, kind) in removed {
            self.tracks.remove(&(feed, kind));
            self.queued.push_back(CallEvent::TrackRemoved {
                participant: feed.to_string(),
                kind,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialise_with_string_ids_and_camel_case() -> Result<(), serde_json::Error> {
        let joined = CallEvent::Joined {
            me: u64::MAX.to_string(),
            participants: vec![ParticipantInfo {
                id: "2548594793317464".into(),
                name: Some("Alice".into()),
                publishing: true,
            }],
        };
        assert_eq!(
            serde_json::to_value(&joined)?,
            json!({"event": "joined", "me": "18446744073709551615",
                "participants": [{"id": "2548594793317464", "name": "Alice", "publishing": true}]})
        );
        let ended = CallEvent::Ended {
            reason: EndReason::Lost {
                error: UserError::ServerLost {
                    detail: "keepalive timeout".into(),
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&ended)?,
            json!({"event": "ended", "reason": {"kind": "lost",
                "error": {"code": "ServerLost", "detail": "keepalive timeout"}}})
        );
        let track = CallEvent::TrackAdded {
            participant: "7".into(),
            kind: TrackKind::Video,
        };
        assert_eq!(
            serde_json::to_value(&track)?,
            json!({"event": "trackAdded", "participant": "7", "kind": "video"})
        );
        Ok(())
    }

    #[test]
    fn rejoin_events_serialise_for_the_ui_and_the_cli() -> Result<(), serde_json::Error> {
        let state = CallEvent::Connection {
            state: ConnectionState::Reconnecting,
        };
        assert_eq!(
            serde_json::to_value(&state)?,
            json!({"event": "connection", "state": "reconnecting"})
        );
        let reconnecting = CallEvent::Reconnecting {
            attempt: 2,
            since_ms: 512,
            error: UserError::ServerUnreachable {
                detail: "connection refused".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&reconnecting)?,
            json!({"event": "reconnecting", "attempt": 2, "sinceMs": 512,
                "error": {"code": "ServerUnreachable", "detail": "connection refused"}})
        );
        let rejoined = CallEvent::Rejoined {
            me: "42".into(),
            after_ms: 3516,
            attempts: 4,
        };
        assert_eq!(
            serde_json::to_value(&rejoined)?,
            json!({"event": "rejoined", "me": "42", "afterMs": 3516, "attempts": 4})
        );
        Ok(())
    }
}
