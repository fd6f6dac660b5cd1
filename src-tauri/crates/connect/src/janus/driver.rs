//! The async driver: one tokio task owns the WebSocket and the [`VideoRoom`] state machine and
//! moves messages, commands, events and timers between them. Everything that can be decided is
//! decided in the state machine; this file only waits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::{JoinConfig, RoomEvent, SUBPROTOCOL, VideoRoom};
use crate::secret::Secret;
use crate::tls::ServerCertificate;
use crate::ws::{self, ConnectError, TlsSettings, Ws};

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// e.g. "Janus WebRTC Server".
    pub name: String,
    /// e.g. "1.1.2".
    pub version: String,
    /// Whether the VideoRoom plugin is loaded.
    pub videoroom: bool,
}

/// How long the server may take to answer `info`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Ask the server at `endpoint` what it is (Janus `info`). A server that does not speak the
/// Janus WebSocket protocol, or has no VideoRoom, is [`ConnectError::NotAConferenceServer`].
pub async fn probe(endpoint: &Url, tls: &TlsSettings) -> Result<ServerInfo, ConnectError> {
    let mut socket = ws::open(endpoint, SUBPROTOCOL, tls).await?;
    let request = json!({"janus": "info", "transaction": "probe"}).to_string();
    let lost = |e: tokio_tungstenite::tungstenite::Error| ConnectError::Unreachable {
        reason: e.to_string(),
    };
    socket.send(ws::text(request)).await.map_err(lost)?;
    let reply = tokio::time::timeout(PROBE_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message.map_err(lost)? {
                return Ok(text.to_string());
            }
        }
        Err(ConnectError::Unreachable {
            reason: "the server closed the connection".into(),
        })
    })
    .await
    .map_err(|_| ConnectError::NotAConferenceServer {
        reason: "no answer to a Janus info request".into(),
    })??;
    let _ = socket.close(None).await;
    let value: Value =
        serde_json::from_str(&reply).map_err(|_| ConnectError::NotAConferenceServer {
            reason: "the answer is not JSON".into(),
        })?;
    if value["janus"] != "server_info" {
        return Err(ConnectError::NotAConferenceServer {
            reason: "the answer is not Janus server information".into(),
        });
    }
    let info = ServerInfo {
        name: value["name"].as_str().unwrap_or("Janus").to_owned(),
        version: value["version_string"].as_str().unwrap_or("").to_owned(),
        videoroom: value["plugins"]
            .as_object()
            .is_some_and(|p| p.contains_key("janus.plugin.videoroom")),
    };
    if !info.videoroom {
        return Err(ConnectError::NotAConferenceServer {
            reason: "the Janus server has no VideoRoom plugin".into(),
        });
    }
    Ok(info)
}

enum Command {
    Publish(String),
    Answer(String),
    RetryJoin(Option<Secret>),
    SetStreamActive(String, bool),
    ChooseLayer(String, u8, u8),
    RestartPublisher(String),
    RestartSubscription,
    RenewSubscription,
    Leave,
}

/// A live VideoRoom connection. Dropping it leaves the room.
pub struct JanusConnection {
    certificate: Option<ServerCertificate>,
    local_ip: Option<std::net::IpAddr>,
    peer: Option<std::net::SocketAddr>,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<RoomEvent>,
    task: Option<JoinHandle<()>>,
}

impl JanusConnection {
    /// Connect to `endpoint` and start joining; [`RoomEvent::Joined`] or
    /// [`RoomEvent::JoinFailed`] follows.
    pub async fn join(
        endpoint: &Url,
        config: JoinConfig,
        tls: &TlsSettings,
        tx_prefix: String,
    ) -> Result<Self, ConnectError> {
        let opened = ws::open_with_certificate(endpoint, SUBPROTOCOL, tls).await?;
        let (socket, certificate, local_ip, peer) = (
            opened.socket,
            opened.certificate,
            opened.local_ip,
            opened.peer,
        );
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let room = VideoRoom::new(config, tx_prefix, std::time::Instant::now());
        let task = tokio::spawn(run(socket, room, command_rx, event_tx));
        Ok(Self {
            certificate,
            local_ip,
            peer,
            commands,
            events,
            task: Some(task),
        })
    }

    /// The certificate the server presented (`None` without TLS).
    pub fn certificate(&self) -> Option<&ServerCertificate> {
        self.certificate.as_ref()
    }

    /// The local address the connection leaves from: when the machine loses it, the connection
    /// is as good as gone, whether it noticed yet or not.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.local_ip
    }

    /// The server's address as this connection reached it.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// The next event; `None` once the connection has ended and every event was taken.
    pub async fn next_event(&mut self) -> Option<RoomEvent> {
        self.events.recv().await
    }

    /// Publish our media with this SDP offer.
    pub fn publish(&self, offer_sdp: String) {
        let _ = self.commands.send(Command::Publish(offer_sdp));
    }

    /// Answer the last subscription offer.
    pub fn answer_subscription(&self, answer_sdp: String) {
        let _ = self.commands.send(Command::Answer(answer_sdp));
    }

    /// Try joining again with another password.
    pub fn retry_join(&self, pin: Option<Secret>) {
        let _ = self.commands.send(Command::RetryJoin(pin));
    }

    /// Ask the server to stop or resume forwarding one of our streams.
    pub fn set_stream_active(&self, mid: String, send: bool) {
        let _ = self.commands.send(Command::SetStreamActive(mid, send));
    }

    /// Ask the server to forward this simulcast layer (0: the smallest) up to this temporal
    /// layer (0: the base layer alone) on one of our subscription's video streams.
    pub fn choose_layer(&self, mid: String, layer: u8, temporal: u8) {
        let _ = self
            .commands
            .send(Command::ChooseLayer(mid, layer, temporal));
    }

    /// Restart ICE on our published media with this new offer (new ICE credentials, same
    /// media); the answer comes as [`RoomEvent::PublishAnswer`].
    pub fn restart_publisher(&self, offer_sdp: String) {
        let _ = self.commands.send(Command::RestartPublisher(offer_sdp));
    }

    /// Ask the server for an ICE restart of our subscription; its offer comes as
    /// [`RoomEvent::SubscriptionRestart`].
    pub fn restart_subscription(&self) {
        let _ = self.commands.send(Command::RestartSubscription);
    }

    /// Replace our subscription by a new one (new handle, new peer connection); its offer comes
    /// as [`RoomEvent::SubscriptionOffer`].
    pub fn renew_subscription(&self) {
        let _ = self.commands.send(Command::RenewSubscription);
    }

    /// Leave the room; [`RoomEvent::Left`] follows.
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }

    /// Leave and wait until the connection is closed (bounded by the reply timeout).
    pub async fn close(mut self) {
        self.leave();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(super::REPLY_TIMEOUT * 2, task).await;
        }
    }
}

impl Drop for JanusConnection {
    fn drop(&mut self) {
        // The task sees the closed command channel and leaves on its own.
        let _ = self.commands.send(Command::Leave);
    }
}

async fn run(
    mut socket: Ws,
    mut room: VideoRoom,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<RoomEvent>,
) {
    let mut commands_open = true;
    loop {
        while let Some(text) = room.poll_transmit() {
            if let Err(e) = socket.send(ws::text(text)).await {
                room.handle_disconnect(format!("the connection broke: {e}"));
                break;
            }
        }
        while let Some(event) = room.poll_event() {
            tracing::debug!(event = event_name(&event), "janus event");
            let _ = events.send(event);
        }
        if room.is_closed() {
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
            return;
        }
        let deadline = room.poll_timeout().map(Instant::from_std);
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = room.handle_message(&text, std::time::Instant::now()) {
                        tracing::warn!(error = %e, "ignored a malformed message from the server");
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    room.handle_disconnect("the server closed the connection".into());
                }
                Some(Err(e)) => room.handle_disconnect(format!("the connection broke: {e}")),
                Some(Ok(_)) => {}
            },
            command = commands.recv(), if commands_open => match command {
                Some(command) => apply(&mut room, command),
                None => {
                    commands_open = false;
                    room.leave(std::time::Instant::now());
                }
            },
            () = sleep_until(deadline) => room.handle_timeout(std::time::Instant::now()),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn apply(room: &mut VideoRoom, command: Command) {
    let now = std::time::Instant::now();
    match command {
        Command::Publish(sdp) => room.publish(&sdp, now),
        Command::Answer(sdp) => room.answer_subscription(&sdp, now),
        Command::RetryJoin(pin) => room.retry_join(pin, now),
        Command::SetStreamActive(mid, send) => room.set_stream_active(&mid, send, now),
        Command::ChooseLayer(mid, layer, temporal) => room.choose_layer(&mid, layer, temporal, now),
        Command::RestartPublisher(sdp) => room.restart_publisher(&sdp, now),
        Command::RestartSubscription => room.restart_subscription(now),
        Command::RenewSubscription => room.renew_subscription(now),
        Command::Leave => room.leave(now),
    }
}

/// The event's name, for logs (events can carry SDP and names; logs get the kind only).
fn event_name(event: &RoomEvent) -> &'static str {
    match event {
        RoomEvent::Joined { .. } => "joined",
        RoomEvent::JoinFailed(_) => "join-failed",
        RoomEvent::ParticipantJoined(_) => "participant-joined",
        RoomEvent::ParticipantPublishing(_) => "participant-publishing",
        RoomEvent::ParticipantUnpublished { .. } => "participant-unpublished",
        RoomEvent::ParticipantLeft { .. } => "participant-left",
        RoomEvent::PublishAnswer(_) => "publish-answer",
        RoomEvent::PublishFailed { .. } => "publish-failed",
        RoomEvent::SubscriptionOffer { .. } => "subscription-offer",
        RoomEvent::SubscriptionRestart(_) => "subscription-restart",
        RoomEvent::SubscriptionReplaced => "subscription-replaced",
        RoomEvent::RestartFailed { .. } => "restart-failed",
        RoomEvent::Talking { .. } => "talking",
        RoomEvent::WebRtcUp(_) => "webrtc-up",
        RoomEvent::MediaFlowing { .. } => "media",
        RoomEvent::Hangup { .. } => "hangup",
        RoomEvent::RoomFacts(_) => "room-facts",
        RoomEvent::RoomDestroyed => "room-destroyed",
        RoomEvent::Kicked => "kicked",
        RoomEvent::Left => "left",
        RoomEvent::SessionLost { .. } => "session-lost",
        RoomEvent::RequestFailed { .. } => "request-failed",
        RoomEvent::ProtocolError { .. } => "protocol-error",
    }
}
