//! The Janus VideoRoom protocol as a sans-IO state machine.
//!
//! One Janus session with two handles: the *publisher* handle joins the room (and publishes our
//! media when asked), the *subscriber* handle is one multistream subscription that follows the
//! room — feeds are added as people publish; Janus drops those that stop and renegotiates.
//!
//! Input: text messages from the WebSocket ([`VideoRoom::handle_message`]), the current time
//! ([`VideoRoom::handle_timeout`]) and the caller's decisions (publish an offer, answer a
//! subscription offer, leave). Output: text messages to send ([`VideoRoom::poll_transmit`]),
//! events ([`VideoRoom::poll_event`]) and when to call again ([`VideoRoom::poll_timeout`]).
//! Nothing here reads a clock, does I/O or spawns.
//!
//! What the real server does and this machine relies on (measured against Janus 1.1.2):
//! asynchronous requests get an `ack` and an `event`, **in either order**, correlated by
//! transaction; plugin errors arrive inside `success`/`event` as `error_code`; unsolicited events
//! carry no transaction; a session without a keepalive ends after `session_timeout` (60 s).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::wire::{Incoming, Jsep};
use crate::secret::Secret;

const PLUGIN: &str = "janus.plugin.videoroom";
/// How often the session is kept alive (Janus's default timeout is 60 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(25);
/// How long a request may go unanswered before the server counts as lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the room's public facts (recording, end-to-end requirement) are asked for: Janus
/// sends no event when they change.
pub const ROOM_FACTS_INTERVAL: Duration = Duration::from_secs(4);

/// What the server says about the room, from its public `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomFacts {
    /// The room is listed: its flags as the server states them.
    Listed {
        /// The room is set to record everyone who publishes (`record`).
        record: bool,
        /// The room admits only publishers that declare end-to-end encryption.
        require_e2ee: bool,
    },
    /// The room is not in the public list (a private room): the server says nothing about it.
    Unlisted,
}

/// A VideoRoom room: numeric by default, text when the server uses string ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoomId {
    /// A numeric room id (Janus's default).
    Number(u64),
    /// A text room id (`string_ids = true` on the server).
    Text(String),
}

impl RoomId {
    /// Digits are a number; anything else is text.
    pub fn parse(room: &str) -> Self {
        match room.parse::<u64>() {
            Ok(n) if !room.starts_with('0') || room == "0" => Self::Number(n),
            _ => Self::Text(room.to_owned()),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Number(n) => json!(n),
            Self::Text(t) => json!(t),
        }
    }
}

impl std::fmt::Display for RoomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// What to join.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// The room.
    pub room: RoomId,
    /// The name others see (pseudonyms are fine).
    pub display: String,
    /// The room's pin, if the user gave one.
    pub pin: Option<Secret>,
    /// Subscribe to the others' media (`false`: send only, e.g. a load generator).
    pub receive: bool,
    /// Our media is end-to-end encrypted: the publish offer says so (`"e2ee": true` in the jsep,
    /// which rooms that require end-to-end encryption check).
    pub e2ee: bool,
}

/// Which of our two handles something is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Our own media, going out.
    Publisher,
    /// Everyone else's media, coming in.
    Subscriber,
}

/// Someone in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Janus's id for them.
    pub id: u64,
    /// The name they chose, if they gave one.
    pub display: Option<String>,
    /// Whether they send media.
    pub publishing: bool,
}

/// What kind of media a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// A data channel or anything else.
    Other,
}

/// One stream of our subscription, as Janus describes it with an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStream {
    /// The m-line's mid in the subscription SDP.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// Whose stream it is (absent for inactive slots).
    pub feed: Option<u64>,
    /// Their display name.
    pub feed_display: Option<String>,
    /// Whether the slot is in use (Janus keeps inactive slots after someone stops).
    pub active: bool,
    /// The codec, e.g. "opus", "vp8".
    pub codec: Option<String>,
}

/// Why joining failed. The user can fix the first two by typing the password again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The room needs a password and none was given.
    #[error("this room needs a password")]
    PasswordRequired,
    /// The password was wrong.
    #[error("the password is wrong")]
    WrongPassword,
    /// The room does not exist on this server.
    #[error("there is no such room on this server")]
    RoomNotFound,
    /// The room is full.
    #[error("the room is full")]
    RoomFull,
    /// Anything else the server refused, with its code and words.
    #[error("the server refused to join: {reason} ({code})")]
    Refused {
        /// Janus's error code.
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
}

impl JoinError {
    fn from_plugin(code: i64, reason: String) -> Self {
        match code {
            429 if reason.contains("pin") => Self::PasswordRequired,
            433 if reason.contains("pin") => Self::WrongPassword,
            426 => Self::RoomNotFound,
            432 => Self::RoomFull,
            _ => Self::Refused { code, reason },
        }
    }
}

/// What happened, for the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// We are in the room; these people were there already.
    Joined {
        /// Our id.
        me: u64,
        /// Everyone else.
        participants: Vec<Participant>,
    },
    /// Joining failed; [`VideoRoom::retry_join`] may try again with another password.
    JoinFailed(JoinError),
    /// Someone entered the room.
    ParticipantJoined(Participant),
    /// Someone started sending media.
    ParticipantPublishing(Participant),
    /// Someone stopped sending media.
    ParticipantUnpublished {
        /// Their id.
        id: u64,
    },
    /// Someone left.
    ParticipantLeft {
        /// Their id.
        id: u64,
    },
    /// The server's answer to our publish offer (also to an ICE restart offer).
    PublishAnswer(Jsep),
    /// The server refused our media.
    PublishFailed {
        /// Janus's error code.
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
    /// A new or changed subscription: answer it with [`VideoRoom::answer_subscription`].
    SubscriptionOffer {
        /// The offer.
        jsep: Jsep,
        /// The streams it describes.
        streams: Vec<RemoteStream>,
    },
    /// The server's offer after [`VideoRoom::restart_subscription`]: the same streams, new ICE
    /// credentials. Answer it with [`VideoRoom::answer_subscription`].
    SubscriptionRestart(Jsep),
    /// The subscription's handle is gone ([`VideoRoom::renew_subscription`]): its peer connection
    /// and streams are done with. A new handle's [`RoomEvent::SubscriptionOffer`] follows; every
    /// offer before this event was the old handle's.
    SubscriptionReplaced,
    /// An ICE restart asked for on one handle was refused; that handle's media path stays broken.
    RestartFailed {
        /// Which handle.
        role: Role,
        /// Janus's error code (0: the server answered without a session description).
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
    /// Someone started or stopped talking (the server's voice-activity detection).
    Talking {
        /// Their id.
        id: u64,
        /// Talking now.
        talking: bool,
    },
    /// The server's media path for one handle is up (ICE and DTLS done).
    WebRtcUp(Role),
    /// The server started or stopped receiving a kind of media on one handle.
    MediaFlowing {
        /// Which handle.
        role: Role,
        /// "audio" or "video".
        kind: String,
        /// Receiving now.
        flowing: bool,
    },
    /// The server closed the media path of one handle.
    Hangup {
        /// Which handle.
        role: Role,
        /// The server's words.
        reason: String,
    },
    /// What the server says about the room; sent after joining and whenever it changes.
    RoomFacts(RoomFacts),
    /// The room was destroyed by its owner.
    RoomDestroyed,
    /// We were removed from the room by a moderator.
    Kicked,
    /// We left; the session is closed.
    Left,
    /// The session is gone (timeout, server restart, unanswered requests).
    SessionLost {
        /// What happened, in words for a log.
        reason: String,
    },
    /// The server broke the protocol in a way we cannot continue from; the session is closed.
    ProtocolError {
        /// What it did, in words for a log.
        reason: String,
    },
    /// A request failed in a way that does not end the call.
    RequestFailed {
        /// Which request.
        request: &'static str,
        /// Janus's error code.
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Create,
    AttachPublisher,
    Join,
    Publish,
    Configure,
    /// `configure` with a new publish offer carrying new ICE credentials.
    RestartPublisher,
    /// `configure` with `restart: true` on the subscription.
    RestartSubscription,
    /// Our candidates for a restarted handle (answered with an ack only).
    Trickle,
    Leave,
    AttachSubscriber,
    /// Detach a subscription's handle that a new one replaces.
    DetachSubscriber,
    Subscribe,
    Update,
    Start,
    Keepalive,
    Destroy,
    List,
}

impl Request {
    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::AttachPublisher | Self::AttachSubscriber => "attach",
            Self::DetachSubscriber => "detach",
            Self::Join | Self::Subscribe => "join",
            Self::Publish => "publish",
            Self::Configure | Self::RestartPublisher | Self::RestartSubscription => "configure",
            Self::Trickle => "trickle",
            Self::Leave => "leave",
            Self::Update => "update",
            Self::Start => "start",
            Self::Keepalive => "keepalive",
            Self::Destroy => "destroy",
            Self::List => "list",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Joining,
    JoinFailed,
    InRoom,
    Leaving,
    Closed,
}

/// The subscriber handle's state.
#[derive(Debug, Default)]
struct Subscription {
    handle: Option<u64>,
    attaching: bool,
    /// Joined (the first offer arrived).
    joined: bool,
    /// An offer is out and not yet answered, or a request is in flight: wait before changing.
    busy: bool,
    /// Feeds in the subscription.
    feeds: BTreeSet<u64>,
    /// An ICE restart is wanted once the request in flight is done.
    restart_wanted: bool,
    /// The offer out (or being answered) is an ICE restart: our answer's candidates are
    /// trickled once the server took it.
    restarting: bool,
    /// Candidates of our restart answer, trickled when the server confirms the answer.
    trickle: Vec<Value>,
    /// A new subscription (a new handle) is wanted once the request in flight is done.
    renew_wanted: bool,
}

/// One participant's VideoRoom connection: see the module documentation.
#[derive(Debug)]
pub struct VideoRoom {
    config: JoinConfig,
    tx_prefix: String,
    tx_counter: u64,
    phase: Phase,
    session: Option<u64>,
    publisher: Option<u64>,
    me: Option<u64>,
    private_id: Option<u64>,
    subscription: Subscription,
    /// Everyone else in the room, by id.
    participants: BTreeMap<u64, Participant>,
    pending: HashMap<String, (Request, Instant)>,
    out: VecDeque<String>,
    events: VecDeque<RoomEvent>,
    next_keepalive: Option<Instant>,
    /// When to ask for the room's facts next (while in the room).
    next_facts: Option<Instant>,
    facts: Option<RoomFacts>,
    /// Candidates of our restart offer, trickled once the server answered it.
    publisher_trickle: Vec<Value>,
}

impl VideoRoom {
    /// Start joining: the first message (create a session) is ready at once. `tx_prefix` makes
    /// transaction ids unique across connections (give it a few random characters).
    pub fn new(config: JoinConfig, tx_prefix: impl Into<String>, now: Instant) -> Self {
        let mut room = Self {
            config,
            tx_prefix: tx_prefix.into(),
            tx_counter: 0,
            phase: Phase::Connecting,
            session: None,
            publisher: None,
            me: None,
            private_id: None,
            subscription: Subscription::default(),
            participants: BTreeMap::new(),
            pending: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_keepalive: None,
            next_facts: None,
            facts: None,
            publisher_trickle: Vec::new(),
        };
        room.send(Request::Create, json!({"janus": "create"}), now);
        room
    }

    /// Our id in the room, once joined.
    pub fn me(&self) -> Option<u64> {
        self.me
    }

    /// Everyone else in the room.
    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.values()
    }

    /// Whether the session is over (left, lost or destroyed).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The next message to send over the WebSocket.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RoomEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        let reply = self
            .pending
            .values()
            .map(|(_, sent)| *sent + REPLY_TIMEOUT)
            .min();
        [reply, self.next_keepalive, self.next_facts]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time passed: send keepalives, give up on unanswered requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if let Some((request, _)) = self
            .pending
            .values()
            .find(|(_, sent)| now >= *sent + REPLY_TIMEOUT)
        {
            let reason = format!(
                "no answer to {} within {} s",
                request.name(),
                REPLY_TIMEOUT.as_secs()
            );
            self.lose(reason);
            return;
        }
        if self.phase == Phase::InRoom
            && self.next_facts.is_some_and(|due| now >= due)
            && !self.pending.values().any(|(r, _)| *r == Request::List)
        {
            self.next_facts = Some(now + ROOM_FACTS_INTERVAL);
            self.message(
                Request::List,
                self.publisher,
                json!({"request": "list"}),
                None,
                now,
            );
        }
        if let (Some(session), Some(due)) = (self.session, self.next_keepalive)
            && now >= due
        {
            self.send(
                Request::Keepalive,
                json!({"janus": "keepalive", "session_id": session}),
                now,
            );
        }
    }

    /// After [`RoomEvent::JoinFailed`]: try again, with the password the user typed now.
    pub fn retry_join(&mut self, pin: Option<Secret>, now: Instant) {
        if self.phase != Phase::JoinFailed {
            return;
        }
        self.config.pin = pin;
        self.join(now);
    }

    /// Publish our media: `offer` is our SDP offer. The answer comes as
    /// [`RoomEvent::PublishAnswer`].
    pub fn publish(&mut self, offer_sdp: &str, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        let body = json!({"request": "publish", "display": self.config.display});
        let mut jsep = json!({"type": "offer", "sdp": offer_sdp});
        if self.config.e2ee {
            jsep["e2ee"] = json!(true);
        }
        self.message(Request::Publish, self.publisher, body, Some(jsep), now);
    }

    /// Tell the server to stop or resume forwarding one of our published streams.
    pub fn set_stream_active(&mut self, mid: &str, send: bool, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        let body = json!({"request": "configure", "streams": [{"mid": mid, "send": send}]});
        self.message(Request::Configure, self.publisher, body, None, now);
    }

    /// Restart ICE on the publisher handle: `offer_sdp` is a new offer of the same media with new
    /// ICE credentials (Janus notices them and restarts its side). The answer comes as
    /// [`RoomEvent::PublishAnswer`]; then the offer's candidates are trickled too, so that the
    /// server's restarted ICE agent knows them (Janus drops its remote candidates on a restart).
    /// A refusal comes as [`RoomEvent::RestartFailed`].
    pub fn restart_publisher(&mut self, offer_sdp: &str, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        let mut jsep = json!({"type": "offer", "sdp": offer_sdp});
        if self.config.e2ee {
            jsep["e2ee"] = json!(true);
        }
        self.publisher_trickle = candidates(offer_sdp);
        let body = json!({"request": "configure"});
        self.message(
            Request::RestartPublisher,
            self.publisher,
            body,
            Some(jsep),
            now,
        );
    }

    /// Restart ICE on the subscription: Janus sends a new offer with new ICE credentials
    /// ([`RoomEvent::SubscriptionRestart`]), answered as any subscription offer. While another
    /// offer or request of the subscription is under way, the restart waits for it (Janus would
    /// hold a restart back until its last offer is answered, without a reply meanwhile).
    pub fn restart_subscription(&mut self, now: Instant) {
        if self.phase != Phase::InRoom || self.subscription.handle.is_none() {
            return;
        }
        self.subscription.restart_wanted = true;
        self.follow_publishers(now);
    }

    /// Replace the subscription by a new one: the handle is detached (the server closes its
    /// peer connection) and a new handle subscribes to every feed the old one had, with a new
    /// offer ([`RoomEvent::SubscriptionOffer`]) for a new peer connection: new keys, new
    /// streams. For streams that reach us and cannot be decrypted. While another offer or
    /// request of the subscription is under way, it waits for that.
    pub fn renew_subscription(&mut self, now: Instant) {
        if self.phase != Phase::InRoom || self.subscription.handle.is_none() {
            return;
        }
        self.subscription.renew_wanted = true;
        self.follow_publishers(now);
    }

    /// Ask the server to forward simulcast layer `layer` (0: the smallest; Janus's `substream`)
    /// on one of our subscription's video streams, its frames up to temporal layer `temporal`
    /// (0: the base layer alone; 2: every frame). A stream sent as a single layer ignores the
    /// layer; one sent without temporal layers ignores `temporal`.
    pub fn choose_layer(&mut self, mid: &str, layer: u8, temporal: u8, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        let body = json!({
            "request": "configure",
            "streams": [{"mid": mid, "substream": layer.min(2), "temporal": temporal.min(2)}],
        });
        let handle = self.subscription.handle;
        self.message(Request::Configure, handle, body, None, now);
    }

    /// Our answer to the last [`RoomEvent::SubscriptionOffer`].
    pub fn answer_subscription(&mut self, answer_sdp: &str, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        let jsep = json!({"type": "answer", "sdp": answer_sdp});
        if self.subscription.restarting {
            self.subscription.trickle = candidates(answer_sdp);
        }
        let handle = self.subscription.handle;
        self.message(
            Request::Start,
            handle,
            json!({"request": "start"}),
            Some(jsep),
            now,
        );
    }

    /// Leave the room and close the session. [`RoomEvent::Left`] follows.
    pub fn leave(&mut self, now: Instant) {
        match self.phase {
            Phase::InRoom => {
                self.phase = Phase::Leaving;
                self.next_facts = None;
                self.message(
                    Request::Leave,
                    self.publisher,
                    json!({"request": "leave"}),
                    None,
                    now,
                );
            }
            Phase::Connecting | Phase::Joining | Phase::JoinFailed => self.destroy(now),
            Phase::Leaving | Phase::Closed => {}
        }
    }

    /// The WebSocket is gone: the session is lost (or, if we were leaving, left).
    pub fn handle_disconnect(&mut self, reason: String) {
        if self.phase != Phase::Closed {
            self.lose(reason);
        }
    }

    /// One text message from the WebSocket. Malformed input is reported as an error and changes
    /// nothing.
    pub fn handle_message(&mut self, text: &str, now: Instant) -> Result<(), super::WireError> {
        let msg = Incoming::parse(text)?;
        if self.phase == Phase::Closed {
            return Ok(());
        }
        if let (Some(ours), Some(theirs)) = (self.session, msg.session_id)
            && ours != theirs
        {
            return Ok(());
        }
        let answered = msg.transaction.as_ref().and_then(|tx| {
            self.pending
                .get(tx)
                .map(|(request, _)| (tx.clone(), *request))
        });
        match msg.janus.as_str() {
            "ack" => {
                // Only keepalives and trickles end with an ack; other requests wait for their
                // event, which may also have come already.
                if let Some((tx, Request::Keepalive | Request::Trickle)) = answered {
                    self.pending.remove(&tx);
                }
            }
            "success" | "event" => match answered {
                Some((tx, request)) => {
                    self.pending.remove(&tx);
                    self.on_reply(request, &msg, now);
                }
                None => self.on_unsolicited(&msg, now),
            },
            "error" => {
                let (code, reason) = msg.error.clone().unwrap_or((0, String::new()));
                if let Some((tx, request)) = answered {
                    self.pending.remove(&tx);
                    self.on_core_error(request, code, reason, now);
                } else if code == 458 {
                    self.lose(format!("the server no longer knows the session ({reason})"));
                }
            }
            "timeout" => self.lose("the server ended the session (keepalive timeout)".into()),
            "webrtcup" => {
                if let Some(role) = self.role_of(msg.sender) {
                    self.events.push_back(RoomEvent::WebRtcUp(role));
                }
            }
            "media" => {
                if let (Some(role), Some((kind, flowing))) = (self.role_of(msg.sender), msg.media) {
                    self.events.push_back(RoomEvent::MediaFlowing {
                        role,
                        kind,
                        flowing,
                    });
                }
            }
            "hangup" => {
                if let Some(role) = self.role_of(msg.sender) {
                    let reason = msg.reason.clone().unwrap_or_default();
                    self.events.push_back(RoomEvent::Hangup { role, reason });
                }
            }
            // detached, slowlink, trickle, server_info and anything newer: nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn role_of(&self, sender: Option<u64>) -> Option<Role> {
        let sender = sender?;
        if Some(sender) == self.publisher {
            Some(Role::Publisher)
        } else if Some(sender) == self.subscription.handle {
            Some(Role::Subscriber)
        } else {
            None
        }
    }

    fn next_tx(&mut self) -> String {
        self.tx_counter += 1;
        format!("{}-{}", self.tx_prefix, self.tx_counter)
    }

    fn send(&mut self, request: Request, mut msg: Value, now: Instant) {
        let tx = self.next_tx();
        if let Value::Object(map) = &mut msg {
            map.insert("transaction".into(), json!(tx));
        }
        self.pending.insert(tx, (request, now));
        self.out.push_back(msg.to_string());
        if self.session.is_some() {
            // Any message keeps the session alive.
            self.next_keepalive = Some(now + KEEPALIVE_INTERVAL);
        }
    }

    fn message(
        &mut self,
        request: Request,
        handle: Option<u64>,
        body: Value,
        jsep: Option<Value>,
        now: Instant,
    ) {
        let (Some(session), Some(handle)) = (self.session, handle) else {
            return;
        };
        let mut msg =
            json!({"janus": "message", "session_id": session, "handle_id": handle, "body": body});
        if let (Some(jsep), Value::Object(map)) = (jsep, &mut msg) {
            map.insert("jsep".into(), jsep);
        }
        self.send(request, msg, now);
    }

    fn attach(&mut self, request: Request, now: Instant) {
        if let Some(session) = self.session {
            self.send(
                request,
                json!({"janus": "attach", "plugin": PLUGIN, "session_id": session}),
                now,
            );
        }
    }

    fn join(&mut self, now: Instant) {
        self.phase = Phase::Joining;
        let mut body = json!({
            "request": "join",
            "ptype": "publisher",
            "room": self.config.room.to_json(),
            "display": self.config.display,
        });
        if let (Some(pin), Value::Object(map)) = (&self.config.pin, &mut body) {
            map.insert("pin".into(), json!(pin.expose()));
        }
        self.message(Request::Join, self.publisher, body, None, now);
    }

    fn destroy(&mut self, now: Instant) {
        match self.session {
            Some(session) => {
                self.phase = Phase::Leaving;
                self.send(
                    Request::Destroy,
                    json!({"janus": "destroy", "session_id": session}),
                    now,
                );
            }
            None => self.close(RoomEvent::Left),
        }
    }

    fn close(&mut self, event: RoomEvent) {
        self.phase = Phase::Closed;
        self.pending.clear();
        self.next_keepalive = None;
        self.next_facts = None;
        self.events.push_back(event);
    }

    fn lose(&mut self, reason: String) {
        if self.phase == Phase::Leaving {
            // Whatever went wrong, we were on our way out.
            self.close(RoomEvent::Left);
        } else {
            self.close(RoomEvent::SessionLost { reason });
        }
    }

    fn on_core_error(&mut self, request: Request, code: i64, reason: String, now: Instant) {
        match request {
            Request::Create | Request::AttachPublisher | Request::Keepalive => {
                self.lose(format!("{} failed: {reason} ({code})", request.name()));
            }
            Request::Destroy | Request::Leave if self.phase == Phase::Leaving => {
                self.close(RoomEvent::Left);
            }
            Request::Publish => {
                self.events
                    .push_back(RoomEvent::PublishFailed { code, reason });
            }
            _ if code == 458 => {
                self.lose(format!("the server no longer knows the session ({reason})"))
            }
            // The handle is being replaced: whether the server still had it changes nothing.
            Request::DetachSubscriber => {}
            Request::RestartPublisher | Request::RestartSubscription => {
                self.restart_failed(request, code, reason);
                self.follow_publishers(now);
            }
            _ => {
                if matches!(
                    request,
                    Request::Start | Request::Update | Request::Subscribe
                ) {
                    self.subscription.busy = false;
                    self.subscription.restarting = false;
                }
                self.events.push_back(RoomEvent::RequestFailed {
                    request: request.name(),
                    code,
                    reason,
                });
                self.follow_publishers(now);
            }
        }
    }

    fn on_reply(&mut self, request: Request, msg: &Incoming, now: Instant) {
        if let Some((code, reason)) = msg.plugin_error() {
            self.on_plugin_error(request, code, reason, now);
            return;
        }
        match request {
            Request::Create => {
                self.session = msg.created_id;
                if self.session.is_none() {
                    self.close(RoomEvent::ProtocolError {
                        reason: "the server created a session without an id".into(),
                    });
                    return;
                }
                self.next_keepalive = Some(now + KEEPALIVE_INTERVAL);
                self.attach(Request::AttachPublisher, now);
            }
            Request::AttachPublisher => {
                self.publisher = msg.created_id;
                if self.publisher.is_none() {
                    self.close(RoomEvent::ProtocolError {
                        reason: "the server attached the plugin without a handle id".into(),
                    });
                    return;
                }
                self.join(now);
            }
            Request::Join => self.on_joined(msg, now),
            Request::Publish => match &msg.jsep {
                Some(jsep) => self
                    .events
                    .push_back(RoomEvent::PublishAnswer(jsep.clone())),
                None => self.events.push_back(RoomEvent::PublishFailed {
                    code: 0,
                    reason: "the server sent no answer".into(),
                }),
            },
            Request::RestartPublisher => match &msg.jsep {
                Some(jsep) => {
                    self.events
                        .push_back(RoomEvent::PublishAnswer(jsep.clone()));
                    let candidates = std::mem::take(&mut self.publisher_trickle);
                    self.trickle(self.publisher, candidates, now);
                }
                None => self.restart_failed(request, 0, "the server sent no answer".into()),
            },
            Request::RestartSubscription => match &msg.jsep {
                Some(jsep) => {
                    self.subscription.restarting = true;
                    self.events
                        .push_back(RoomEvent::SubscriptionRestart(jsep.clone()));
                }
                None => {
                    self.restart_failed(request, 0, "the server sent no offer".into());
                    self.follow_publishers(now);
                }
            },
            Request::AttachSubscriber => {
                self.subscription.attaching = false;
                self.subscription.handle = msg.created_id;
                self.follow_publishers(now);
            }
            Request::Subscribe | Request::Update => {
                self.subscription.joined = true;
                if msg.jsep.is_some() {
                    self.on_subscription_offer(msg);
                } else {
                    self.subscription.busy = false;
                    self.follow_publishers(now);
                }
            }
            Request::Start => {
                self.subscription.busy = false;
                if std::mem::take(&mut self.subscription.restarting) {
                    let candidates = std::mem::take(&mut self.subscription.trickle);
                    self.trickle(self.subscription.handle, candidates, now);
                }
                self.follow_publishers(now);
            }
            Request::Leave => self.destroy(now),
            Request::Destroy => self.close(RoomEvent::Left),
            Request::List => self.on_list(msg),
            Request::Configure
            | Request::Keepalive
            | Request::Trickle
            | Request::DetachSubscriber => {}
        }
        // A reply can carry room news too (a join's event lists publishers already).
        if request != Request::Join {
            self.on_room_news(msg, now);
        }
    }

    /// An ICE restart was refused (or answered without a session description).
    fn restart_failed(&mut self, request: Request, code: i64, reason: String) {
        let role = if request == Request::RestartSubscription {
            self.subscription.busy = false;
            self.subscription.restarting = false;
            Role::Subscriber
        } else {
            self.publisher_trickle.clear();
            Role::Publisher
        };
        self.events
            .push_back(RoomEvent::RestartFailed { role, code, reason });
    }

    /// Trickle `candidates` (then the end of them) on `handle`.
    fn trickle(&mut self, handle: Option<u64>, candidates: Vec<Value>, now: Instant) {
        let (Some(session), Some(handle)) = (self.session, handle) else {
            return;
        };
        if candidates.is_empty() {
            return;
        }
        for candidate in [json!(candidates), json!({"completed": true})] {
            self.send(
                Request::Trickle,
                json!({"janus": "trickle", "session_id": session, "handle_id": handle,
                    "candidate": candidate}),
                now,
            );
        }
    }

    fn on_plugin_error(&mut self, request: Request, code: i64, reason: String, now: Instant) {
        match request {
            Request::Join => {
                self.phase = Phase::JoinFailed;
                self.events
                    .push_back(RoomEvent::JoinFailed(JoinError::from_plugin(code, reason)));
            }
            Request::Publish => self
                .events
                .push_back(RoomEvent::PublishFailed { code, reason }),
            Request::Leave if self.phase == Phase::Leaving => self.destroy(now),
            Request::RestartPublisher | Request::RestartSubscription => {
                self.restart_failed(request, code, reason);
                self.follow_publishers(now);
            }
            Request::Subscribe | Request::Update => {
                // Most likely a feed left between its announcement and our request (428): forget
                // the feeds of this request and follow the room as it is now.
                self.subscription.busy = false;
                if !self.subscription.joined {
                    self.subscription.feeds.clear();
                }
                self.subscription
                    .feeds
                    .retain(|feed| self.participants.get(feed).is_some_and(|p| p.publishing));
                if code != 428 {
                    self.events.push_back(RoomEvent::RequestFailed {
                        request: request.name(),
                        code,
                        reason,
                    });
                }
                self.follow_publishers(now);
            }
            _ => {
                if request == Request::Start {
                    self.subscription.busy = false;
                    self.subscription.restarting = false;
                }
                self.events.push_back(RoomEvent::RequestFailed {
                    request: request.name(),
                    code,
                    reason,
                });
            }
        }
    }

    /// The public room list: find our room and report its facts when they changed.
    fn on_list(&mut self, msg: &Incoming) {
        let Some(rooms) = msg.field("list").and_then(Value::as_array) else {
            return;
        };
        let ours = self.config.room.to_json();
        let facts =
            rooms
                .iter()
                .find(|r| r.get("room") == Some(&ours))
                .map_or(RoomFacts::Unlisted, |r| RoomFacts::Listed {
                    record: r.get("record").and_then(Value::as_bool).unwrap_or(false),
                    require_e2ee: r
                        .get("require_e2ee")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
        if self.facts != Some(facts) {
            self.facts = Some(facts);
            self.events.push_back(RoomEvent::RoomFacts(facts));
        }
    }

    fn on_joined(&mut self, msg: &Incoming, now: Instant) {
        if msg.videoroom() != Some("joined") {
            // A server that answers a join with something else is not one we can follow.
            self.close(RoomEvent::ProtocolError {
                reason: format!(
                    "the server answered the join with {:?}",
                    msg.videoroom().unwrap_or(msg.janus.as_str())
                ),
            });
            return;
        }
        self.phase = Phase::InRoom;
        self.next_facts = Some(now);
        self.me = msg.field("id").and_then(Value::as_u64);
        self.private_id = msg.field("private_id").and_then(Value::as_u64);
        for p in list(msg.field("publishers"), true) {
            self.participants.insert(p.id, p);
        }
        for p in list(msg.field("attendees"), false) {
            self.participants.entry(p.id).or_insert(p);
        }
        let me = self.me.unwrap_or(0);
        self.participants.remove(&me);
        self.events.push_back(RoomEvent::Joined {
            me,
            participants: self.participants.values().cloned().collect(),
        });
        self.follow_publishers(now);
    }

    fn on_unsolicited(&mut self, msg: &Incoming, now: Instant) {
        // An offer of a handle already replaced is none for the current one.
        let current = msg.sender.is_none() || msg.sender == self.subscription.handle;
        if msg.videoroom() == Some("updated") && msg.jsep.is_some() && current {
            self.on_subscription_offer(msg);
            return;
        }
        self.on_room_news(msg, now);
    }

    /// News about the room, in replies and unsolicited events alike.
    fn on_room_news(&mut self, msg: &Incoming, now: Instant) {
        match msg.videoroom() {
            Some("talking") | Some("stopped-talking") => {
                if let Some(id) = msg.field("id").and_then(Value::as_u64) {
                    let talking = msg.videoroom() == Some("talking");
                    self.events.push_back(RoomEvent::Talking { id, talking });
                }
                return;
            }
            Some("destroyed") => {
                self.close(RoomEvent::RoomDestroyed);
                return;
            }
            Some("event") => {}
            _ => return,
        }
        if let Some(p) = msg.field("joining").and_then(|j| participant(j, false))
            && Some(p.id) != self.me
            && !self.participants.contains_key(&p.id)
        {
            self.participants.insert(p.id, p.clone());
            self.events.push_back(RoomEvent::ParticipantJoined(p));
        }
        let mut changed = false;
        for p in list(msg.field("publishers"), true) {
            if Some(p.id) == self.me {
                continue;
            }
            let known = self.participants.get(&p.id).cloned();
            if known.as_ref().is_some_and(|k| k.publishing) {
                continue;
            }
            if known.is_none() {
                self.events
                    .push_back(RoomEvent::ParticipantJoined(Participant {
                        publishing: false,
                        ..p.clone()
                    }));
            }
            self.participants.insert(p.id, p.clone());
            self.events.push_back(RoomEvent::ParticipantPublishing(p));
            changed = true;
        }
        if let Some(id) = msg.field("unpublished").and_then(Value::as_u64) {
            if let Some(p) = self.participants.get_mut(&id)
                && p.publishing
            {
                p.publishing = false;
                self.events
                    .push_back(RoomEvent::ParticipantUnpublished { id });
            }
            self.subscription.feeds.remove(&id);
        }
        match msg.field("leaving") {
            Some(Value::Number(n)) => {
                if let Some(id) = n.as_u64() {
                    self.subscription.feeds.remove(&id);
                    if let Some(p) = self.participants.remove(&id) {
                        if p.publishing {
                            self.events
                                .push_back(RoomEvent::ParticipantUnpublished { id });
                        }
                        self.events.push_back(RoomEvent::ParticipantLeft { id });
                    }
                }
            }
            Some(Value::String(s)) if s == "ok" && self.phase == Phase::InRoom => {
                // "leaving: ok" without our asking: a moderator removed us.
                self.phase = Phase::Leaving;
                self.events.push_back(RoomEvent::Kicked);
                self.destroy(now);
            }
            _ => {}
        }
        if changed {
            self.follow_publishers(now);
        }
    }

    fn on_subscription_offer(&mut self, msg: &Incoming) {
        let Some(jsep) = msg.jsep.clone() else {
            return;
        };
        self.subscription.busy = true;
        let streams: Vec<RemoteStream> = msg
            .field("streams")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(remote_stream).collect())
            .unwrap_or_default();
        for s in &streams {
            if let (Some(feed), true) = (s.feed, s.active) {
                self.subscription.feeds.insert(feed);
            }
        }
        self.events
            .push_back(RoomEvent::SubscriptionOffer { jsep, streams });
    }

    /// Make the subscription follow who publishes: attach and join the subscriber handle for the
    /// first publisher, add later ones with `update` — one request at a time.
    fn follow_publishers(&mut self, now: Instant) {
        if !self.config.receive
            || self.phase != Phase::InRoom
            || self.subscription.busy
            || self.subscription.attaching
        {
            return;
        }
        if self.subscription.renew_wanted {
            // Everything of the old handle goes (a restart wanted for it too); the feeds are
            // all missing from the new one below.
            if let (Some(session), Some(handle)) = (self.session, self.subscription.handle) {
                self.send(
                    Request::DetachSubscriber,
                    json!({"janus": "detach", "session_id": session, "handle_id": handle}),
                    now,
                );
            }
            self.subscription = Subscription::default();
            self.events.push_back(RoomEvent::SubscriptionReplaced);
        }
        if self.subscription.restart_wanted && self.subscription.joined {
            self.subscription.restart_wanted = false;
            self.subscription.busy = true;
            let body = json!({"request": "configure", "restart": true});
            let handle = self.subscription.handle;
            self.message(Request::RestartSubscription, handle, body, None, now);
            return;
        }
        let missing: Vec<u64> = self
            .participants
            .values()
            .filter(|p| p.publishing && !self.subscription.feeds.contains(&p.id))
            .map(|p| p.id)
            .collect();
        if missing.is_empty() {
            return;
        }
        if self.subscription.handle.is_none() {
            self.subscription.attaching = true;
            self.attach(Request::AttachSubscriber, now);
            return;
        }
        let streams: Vec<Value> = missing.iter().map(|feed| json!({"feed": feed})).collect();
        self.subscription.busy = true;
        self.subscription.feeds.extend(missing);
        let handle = self.subscription.handle;
        if self.subscription.joined {
            let body = json!({"request": "update", "subscribe": streams});
            self.message(Request::Update, handle, body, None, now);
        } else {
            self.send_subscribe_join(streams, now);
        }
    }

    fn send_subscribe_join(&mut self, streams: Vec<Value>, now: Instant) {
        let mut body = json!({
            "request": "join",
            "ptype": "subscriber",
            "room": self.config.room.to_json(),
            "streams": streams,
        });
        if let Value::Object(map) = &mut body {
            if let Some(private_id) = self.private_id {
                map.insert("private_id".into(), json!(private_id));
            }
            if let Some(pin) = &self.config.pin {
                map.insert("pin".into(), json!(pin.expose()));
            }
        }
        let handle = self.subscription.handle;
        self.message(Request::Subscribe, handle, body, None, now);
    }
}

/// The candidates in an SDP of ours, as trickle candidates: those of the first media section
/// (the bundle carries everything there; Janus reads only that one).
fn candidates(sdp: &str) -> Vec<Value> {
    let mut mid: Option<&str> = None;
    let mut found = Vec::new();
    let mut section = 0usize;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            section += 1;
            if section > 1 {
                break;
            }
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value);
        } else if let Some(candidate) = line.strip_prefix("a=")
            && section == 1
            && candidate.starts_with("candidate:")
        {
            found.push(candidate.to_owned());
        }
    }
    found
        .into_iter()
        .map(|candidate| json!({"candidate": candidate, "sdpMid": mid.unwrap_or("0"), "sdpMLineIndex": 0}))
        .collect()
}

fn participant(value: &Value, publishing: bool) -> Option<Participant> {
    Some(Participant {
        id: value.get("id")?.as_u64()?,
        display: value
            .get("display")
            .and_then(Value::as_str)
            .map(str::to_owned),
        publishing,
    })
}

fn list(value: Option<&Value>, publishing: bool) -> Vec<Participant> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| participant(v, publishing))
                .collect()
        })
        .unwrap_or_default()
}

fn remote_stream(value: &Value) -> Option<RemoteStream> {
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    Some(RemoteStream {
        mid: text("mid")?,
        kind: match value.get("type").and_then(Value::as_str) {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => MediaKind::Other,
        },
        feed: value.get("feed_id").and_then(Value::as_u64),
        feed_display: text("feed_display"),
        active: value.get("active").and_then(Value::as_bool).unwrap_or(true),
        codec: text("codec"),
    })
}
