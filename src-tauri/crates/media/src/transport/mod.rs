//! The WebRTC transport: ICE, DTLS-SRTP and RTP/RTCP, through webrtc-rs — which only this
//! module names, so that an upgrade of that fast-moving dependency touches one place.
//!
//! A [`PeerLink`] is one peer connection: a *publisher* offers our audio and video tracks, a
//! *subscriber* answers an offer of remote tracks. Media goes in and out as RTP payloads: audio
//! is Opus packets, video is our own VP8 RTP payloads ([`crate::rtp::vp8`]), so packetization,
//! jitter buffering and frame assembly stay in our tested code. Incoming RTCP sender reports are
//! handed out for lip sync, keyframe requests go back as PLI behind a receiver report that names
//! the stream; lost packets are asked for again (NACK) and answered (webrtc-rs's interceptors).
//!
//! Privacy: no STUN or TURN servers unless the caller names them, multicast DNS off, host
//! candidates only on the machine's real interfaces.

mod bandwidth;
mod coverage;
mod feedback;
mod inbound;
mod liveness;
mod rtx;
mod sdp;
mod socket;
pub mod turn;
mod undecryptable;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport as RtcpSenderReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

pub use bandwidth::Bandwidth;
pub use sdp::ssrcs_by_mid;
pub use turn::{TurnCredential, TurnServer, TurnTls, TurnTransport, TurnUrl, TurnUrlError};

use crate::MediaError;
use crate::congestion::EstimatorConfig;
use crate::rtp::report::{ReceptionStats, ReportBlock};
use crate::sync::SenderReport;
use inbound::InboundOnly;
use liveness::Liveness;

/// RTP stream ids of simulcast layers, highest first (what janus.js names them).
const LAYER_RIDS: [&str; 3] = ["h", "m", "l"];
/// Opus's RTP payload type in our offers (what browsers use).
const OPUS_PT: u8 = 111;
/// VP8's RTP payload type in our offers.
const VP8_PT: u8 = 96;
/// VP8 retransmissions' payload type, on links that take them.
const RTX_PT: u8 = 97;
/// The only SRTP protection profile we agree to: AES counter mode with HMAC-SHA1 (80-bit tags),
/// which every WebRTC endpoint must implement (RFC 8827). Not AES-GCM: a video packet we send
/// again after a NACK goes out on its own stream under the same sequence number, so the same
/// SRTP packet index, with another transport-wide number in its header (webrtc-rs numbers
/// every packet it sends). Under AES-GCM that is one nonce for two different messages, which
/// gives away the authentication key to anyone who sees both (RFC 7714 forbids it); under AES-CM
/// the payload encrypts to the same bytes and HMAC-SHA1 authenticates each header on its own.
/// A server that retransmits the same way is covered too.
const SRTP_PROFILES: [SrtpProtectionProfile; 1] =
    [SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80];
/// How long closing a connection may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long gathering local candidates may take (host candidates only: milliseconds).
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between ICE connectivity checks. webrtc-rs's default of 200 ms alone made up most of
/// the join time; libwebrtc paces checks at about 50 ms.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// How long a relayed path (through a TURN server) that works must wait before it may be chosen,
/// so that a direct one checked at the same time wins when it works too. webrtc-rs waits 2 s:
/// on a network where only the relay works, that was 2 s of every join (3.3 s to the first
/// sound instead of 1.2 s). Direct checks go out every 20 ms and answer within a round trip.
const RELAY_ACCEPTANCE_WAIT: Duration = Duration::from_millis(250);
/// A path that has carried nothing back for this long is reported disconnected (webrtc-rs: 5 s):
/// the call can start repairing it while people still wait, not after they gave up.
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_millis(1500);
/// ... and failed after this long (webrtc-rs: 25 s).
const ICE_FAILED_AFTER: Duration = Duration::from_secs(6);
/// Connectivity checks on an otherwise quiet path this often, so that silence means a broken
/// path (a publisher's link carries little back while nobody reports on it).
const ICE_KEEPALIVE: Duration = Duration::from_millis(500);
/// How often a missing video packet is asked for again (NACK), and at most how often. webrtc-rs
/// asks every 100 ms without end: a retransmission lost once came 200 ms late, and a packet that
/// is gone for good (its sender's history overwritten) was asked for until the stream moved on.
/// 40 ms is a few round trips on the paths we serve; ten tries cover 400 ms, as long as the frame
/// assembler waits for a retransmission.
const NACK_INTERVAL: Duration = Duration::from_millis(40);
const NACK_TRIES: u16 = 10;
/// The sending estimate before the server has said anything (bit/s): what Runde sent as a fixed
/// rate before it estimated, so a good path starts as it always did.
const START_BPS: u32 = 900_000;
/// Never estimate below this: Opus speech and its packet overhead, with room for a small picture.
const MIN_BPS: u32 = 60_000;
/// Never above this: 720p video and audio with headroom.
const MAX_BPS: u32 = 3_000_000;

fn transport_err(what: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Transport {
        reason: format!("{what}: {e}"),
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// Opus audio.
    Audio,
    /// VP8 video.
    Video,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Local UDP addresses to bind. `0.0.0.0:0` (the default) means every non-loopback
    /// interface, an ephemeral port each.
    pub udp_bind: Vec<SocketAddr>,
    /// Offer loopback candidates too (only for peers on the same machine).
    pub include_loopback: bool,
    /// TURN servers to gather relayed candidates from (none: no relay, no traffic to any).
    pub turn: Vec<TurnServer>,
    /// What a `turns:` server's certificate is checked against.
    pub turn_tls: Option<TurnTls>,
    /// Take video retransmissions on a stream of their own (RFC 4588 RTX) when the other side
    /// offers them, as Janus does to its subscribers. Only for links that receive: on a sending
    /// link webrtc-rs 0.21 would retransmit as RTX without the repaired-stream id with which
    /// Janus assigns a retransmission to its simulcast layer, and Janus would drop it. A sender
    /// retransmits on the original stream, which every server takes.
    pub receive_rtx: bool,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            udp_bind: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            include_loopback: false,
            turn: Vec::new(),
            turn_tls: None,
            receive_rtx: false,
        }
    }
}

/// The ICE servers webrtc-rs is given for `servers`: UDP ones as they are, TCP and TLS ones as
/// a relay of ours on 127.0.0.1 (returned: they run as long as the connection).
async fn ice_servers(
    servers: &[TurnServer],
    tls: Option<&TurnTls>,
) -> Result<(Vec<RTCIceServer>, Vec<turn::StreamRelay>), MediaError> {
    let mut ice = Vec::new();
    let mut relays = Vec::new();
    for server in servers {
        let url = match server.url.transport {
            TurnTransport::Udp => server.url.to_string(),
            TurnTransport::Tcp | TurnTransport::Tls => {
                let relay = turn::StreamRelay::start(&server.url, tls.cloned()).await?;
                let url = relay.local_url();
                relays.push(relay);
                url
            }
        };
        ice.push(RTCIceServer {
            urls: vec![url],
            username: server.username.clone(),
            credential: server.credential.expose().to_owned(),
        });
    }
    Ok((ice, relays))
}

/// The path media takes, as far as our side shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPath {
    /// Our candidate's type (`host`, `srflx`, `prflx`, `relay`): `relay` when media goes
    /// through a TURN server.
    pub local: String,
    /// The SRTP protection profile DTLS agreed on (RFC 5764's name).
    pub srtp: String,
}

/// The connection's state, as far as media can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// ICE and DTLS in progress.
    Connecting,
    /// Media can flow.
    Connected,
    /// Connectivity was lost for a moment; it may come back.
    Disconnected,
    /// Connectivity failed for good.
    Failed,
    /// Closed by us or the peer.
    Closed,
}

/// What a [`PeerLink`] reports.
pub enum LinkEvent {
    /// The connection state changed.
    State(LinkState),
    /// A local address the connection was set up with is gone (the network changed): the
    /// server's side of its paths points at an address we no longer have.
    AddressLost(std::net::IpAddr),
    /// Media from the peer started arriving on a new track.
    Track(RemoteTrack),
    /// Packets of this stream keep arriving, and none of them decrypts (fails SRTP
    /// authentication): the stream stays dark on this connection for good.
    Undecryptable {
        /// The stream's SSRC, as the packets name it.
        ssrc: u32,
    },
}

impl std::fmt::Debug for LinkEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::State(s) => write!(f, "State({s:?})"),
            Self::AddressLost(a) => write!(f, "AddressLost({a})"),
            Self::Track(t) => write!(f, "Track({:?}, ssrc {})", t.kind, t.ssrc),
            Self::Undecryptable { ssrc } => write!(f, "Undecryptable(ssrc {ssrc})"),
        }
    }
}

struct Handler {
    events: mpsc::UnboundedSender<LinkEvent>,
    gathered: Arc<watch::Sender<bool>>,
    liveness: Liveness,
    /// Connection state changes so far: a "disconnected" held back is dropped once another
    /// state came.
    changes: Arc<AtomicU64>,
}

impl Handler {
    /// ICE found the path disconnected (no connectivity check answered for
    /// [`ICE_DISCONNECTED_AFTER`]); `change` is this state change's number. Passed on once
    /// nothing authenticated arrived for as long either (see [`liveness`]).
    fn disconnected(&self, change: u64) {
        let held = self
            .liveness
            .hold_until(Instant::now(), ICE_DISCONNECTED_AFTER);
        let (Some(until), Ok(runtime)) = (held, tokio::runtime::Handle::try_current()) else {
            let _ = self.events.send(LinkEvent::State(LinkState::Disconnected));
            return;
        };
        tracing::info!(
            "connectivity checks went unanswered, but packets still arrive: the path is kept"
        );
        let (liveness, changes, events) = (
            self.liveness.clone(),
            Arc::clone(&self.changes),
            self.events.clone(),
        );
        runtime.spawn(async move {
            let mut until = until;
            loop {
                tokio::time::sleep_until(until.into()).await;
                if changes.load(Ordering::SeqCst) != change {
                    return;
                }
                match liveness.hold_until(Instant::now(), ICE_DISCONNECTED_AFTER) {
                    Some(later) => until = later,
                    None => {
                        tracing::info!("nothing arrives on the path any more either");
                        let _ = events.send(LinkEvent::State(LinkState::Disconnected));
                        return;
                    }
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let change = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        let state = match state {
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
            RTCPeerConnectionState::Failed => LinkState::Failed,
            RTCPeerConnectionState::Closed => LinkState::Closed,
            _ => LinkState::Connecting,
        };
        if state == LinkState::Disconnected {
            self.disconnected(change);
        } else {
            let _ = self.events.send(LinkEvent::State(state));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Audio => TrackKind::Audio,
            _ => TrackKind::Video,
        };
        let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let track_id = track.track_id().await.to_string();
        let _ = self.events.send(LinkEvent::Track(RemoteTrack::new(
            track, kind, ssrc, track_id,
        )));
    }
}

/// The candidate pair `pc`'s media flows over now, if one is selected.
async fn path_of(pc: &dyn PeerConnection) -> Option<LinkPath> {
    use webrtc::peer_connection::{RTCStatsReportEntry as Entry, StatsSelector};
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let (pair_id, srtp) = report.iter().find_map(|e| match e {
        Entry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
            Some((t.selected_candidate_pair_id.clone(), t.srtp_cipher.clone()))
        }
        _ => None,
    })?;
    let pair = report.candidate_pairs().find(|p| p.stats.id == pair_id)?;
    // webrtc-rs 0.21 lists only local candidates, under an id with a prefix the pair's
    // reference lacks.
    let local = report.iter().find_map(|e| match e {
        Entry::LocalCandidate(c) if c.stats.id.ends_with(&pair.local_candidate_id) => {
            Some(c.candidate_type.to_string())
        }
        _ => None,
    })?;
    Some(LinkPath { local, srtp })
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Retransmissions of VP8 on a stream of their own (RFC 4588).
fn rtx_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/rtx".to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!("apt={VP8_PT}"),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/VP8".to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// How often the machine's addresses are compared with those a connection started with.
const ADDRESS_CHECK: Duration = Duration::from_millis(250);

/// The machine's addresses a connection can use (what webrtc-rs makes host candidates of).
fn usable_addresses() -> Vec<std::net::IpAddr> {
    rtc::shared::ifaces::ifaces()
        .map(|interfaces| {
            interfaces
                .into_iter()
                .filter_map(|i| i.addr.map(|a| a.ip()))
                .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
                .collect()
        })
        .unwrap_or_default()
}

/// Watch the machine's addresses for as long as the connection's events are read: when one it
/// had disappears, say so at once. ICE would notice only when nothing comes back for a while
/// (1.5 s); browsers follow the system's address changes the same way. After a loss the
/// addresses of that moment are watched (an ICE restart moves the connection onto them).
fn watch_addresses(events: mpsc::UnboundedSender<LinkEvent>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut known = usable_addresses();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(ADDRESS_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !events.is_closed() {
            tick.tick().await;
            let now = usable_addresses();
            if let Some(gone) = known.iter().find(|a| !now.contains(a)) {
                let _ = events.send(LinkEvent::AddressLost(*gone));
            }
            known = now;
        }
    });
}

/// The interceptor chain: NACK both ways (asking more often, and not forever), RTCP reports,
/// TWCC (numbering what we send, reporting what we receive), send-side congestion control
/// feeding `bandwidth` (with what the server's reports named noted first), and delivery of the feedback the engine reads. Registers the RTCP
/// feedback and header extensions these need on `media`.
fn interceptors(
    media: &mut MediaEngine,
    bandwidth: &Bandwidth,
    retransmissions: &Arc<AtomicU64>,
    tally: &undecryptable::SharedTally,
    liveness: &Liveness,
) -> Result<Registry, MediaError> {
    use rtc::interceptor::{
        CongestionControlBuilder, NackGeneratorBuilder, NackResponderBuilder, Slot,
        TwccSenderBuilder,
    };
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
    };
    use rtc::rtp_transceiver::rtp_sender::RTCPFeedback;
    for parameter in ["", "pli"] {
        media.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(media).map_err(|e| transport_err("interceptors", e))?;
    // Registers the transport-wide sequence number extension and `transport-cc` feedback for
    // audio and video, and reports what we receive.
    let registry = configure_twcc_receiver_only(Registry::new(), media)
        .map_err(|e| transport_err("interceptors", e))?;
    Ok(configure_rtcp_reports(registry)
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            undecryptable::SLOT,
            InboundOnly::new(undecryptable::NoteAuthenticated(Arc::clone(tally))),
        )
        .with(
            liveness::SLOT,
            InboundOnly::new(liveness::NoteArrival(liveness.clone())),
        )
        .with(
            rtx::SLOT,
            InboundOnly::new(rtx::UnwrapRtx::counting(Arc::clone(retransmissions))),
        )
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_interval(NACK_INTERVAL)
                .with_max_nacks_per_packet(NACK_TRIES)
                .build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(
            coverage::SLOT,
            InboundOnly::new(coverage::NoteCoverage::new(bandwidth.clone())),
        )
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(bandwidth.driver()).build(),
        )
        .with(feedback::SLOT, InboundOnly::new(feedback::DeliverFeedback)))
}

/// One WebRTC peer connection.
pub struct PeerLink {
    pc: Arc<dyn PeerConnection>,
    events: mpsc::UnboundedReceiver<LinkEvent>,
    gathered: watch::Receiver<bool>,
    /// Set back to `false` when an ICE restart gathers anew.
    gathering: Arc<watch::Sender<bool>>,
    bandwidth: Bandwidth,
    /// Video packets that arrived again on a retransmission stream (RTX).
    retransmissions: Arc<AtomicU64>,
    /// When anything authenticated last arrived.
    liveness: Liveness,
    /// Relays to TCP and TLS TURN servers, for as long as the connection lives.
    _relays: Vec<turn::StreamRelay>,
}

impl PeerLink {
    /// A peer connection with Opus and VP8, NACK, RTCP reports; the TURN servers `options`
    /// names, no STUN servers.
    pub async fn new(options: &LinkOptions) -> Result<Self, MediaError> {
        let mut media = MediaEngine::default();
        let mut codecs = vec![
            (opus_codec(), OPUS_PT, RtpCodecKind::Audio),
            (vp8_codec(), VP8_PT, RtpCodecKind::Video),
        ];
        if options.receive_rtx {
            codecs.push((rtx_codec(), RTX_PT, RtpCodecKind::Video));
        }
        for (codec, payload_type, kind) in codecs {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: codec,
                        payload_type,
                    },
                    kind,
                )
                .map_err(|e| transport_err("codec", e))?;
        }
        let bandwidth = Bandwidth::new(EstimatorConfig {
            start_bps: START_BPS,
            min_bps: MIN_BPS,
            max_bps: MAX_BPS,
        });
        let retransmissions = Arc::new(AtomicU64::new(0));
        let tally = undecryptable::SharedTally::default();
        let liveness = Liveness::default();
        let registry = interceptors(&mut media, &bandwidth, &retransmissions, &tally, &liveness)?;
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_include_loopback_candidate(options.include_loopback)
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None)
            .with_relay_acceptance_min_wait(Some(RELAY_ACCEPTANCE_WAIT))
            .with_ice_timeouts(
                Some(ICE_DISCONNECTED_AFTER),
                Some(ICE_FAILED_AFTER),
                Some(ICE_KEEPALIVE),
            )
            // When we answer (a server's subscription offer), the server starts DTLS once its
            // own checks succeed. As the DTLS client we could send our hello before the server
            // accepts media on the path, lose it and wait for the 1 s retransmission.
            .with_answering_dtls_role(RTCDtlsRole::Server)
            // An ICE restart (ours, or the server's offer with new credentials) binds new
            // sockets on the addresses the machine has now and gathers from those only: after a
            // network change the old sockets' addresses are gone.
            .with_discard_local_candidates_during_ice_restart(true)
            .with_srtp_protection_profiles(SRTP_PROFILES.to_vec())
            .build();
        let (event_tx, events) = mpsc::unbounded_channel();
        watch_addresses(event_tx.clone());
        undecryptable::watch(Arc::clone(&tally), event_tx.clone());
        let (gathered_tx, gathered) = watch::channel(false);
        let gathered_tx = Arc::new(gathered_tx);
        let handler = Arc::new(Handler {
            events: event_tx,
            gathered: Arc::clone(&gathered_tx),
            liveness: liveness.clone(),
            changes: Arc::default(),
        });
        let (ice, relays) = ice_servers(&options.turn, options.turn_tls.as_ref()).await?;
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().with_ice_servers(ice).build())
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(options.udp_bind.clone())
            .with_runtime(Arc::new(socket::LinkRuntime::new(tally)))
            .build()
            .await
            .map_err(|e| transport_err("peer connection", e))?;
        Ok(Self {
            pc: Arc::new(pc),
            events,
            gathered,
            gathering: gathered_tx,
            bandwidth,
            retransmissions,
            liveness,
            _relays: relays,
        })
    }

    /// What the connection can carry in our sending direction, as estimated from the server's
    /// feedback.
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }

    /// Video packets that arrived again on a stream of their own (RTX), so far.
    pub fn retransmissions_received(&self) -> u64 {
        self.retransmissions.load(Ordering::Relaxed)
    }

    /// Add a track we send.
    pub async fn add_track(&self, kind: TrackKind) -> Result<LocalTrack, MediaError> {
        let mut tracks = self.add_tracks(kind, 1).await?;
        tracks
            .pop()
            .ok_or_else(|| transport_err("add track", "no track"))
    }

    /// Add our video as `layers` simulcast layers (1 to 3): one SSRC each, named by an RTP
    /// stream id (rid) in the offer, highest first as Janus reads them by default. The tracks
    /// come back smallest first. With one layer this is an ordinary track.
    pub async fn add_video_layers(&self, layers: usize) -> Result<Vec<LocalTrack>, MediaError> {
        self.add_tracks(TrackKind::Video, layers.clamp(1, LAYER_RIDS.len()))
            .await
    }

    async fn add_tracks(
        &self,
        kind: TrackKind,
        layers: usize,
    ) -> Result<Vec<LocalTrack>, MediaError> {
        let (codec, rtc_kind, name) = match kind {
            TrackKind::Audio => (opus_codec(), RtpCodecKind::Audio, "audio"),
            TrackKind::Video => (vp8_codec(), RtpCodecKind::Video, "video"),
        };
        // Highest first; no rid for a single layer.
        let rids: Vec<Option<&'static str>> = if layers > 1 {
            LAYER_RIDS[LAYER_RIDS.len() - layers..]
                .iter()
                .map(|r| Some(*r))
                .collect()
        } else {
            vec![None]
        };
        let ssrcs: Vec<u32> = rids.iter().map(|_| crate::rtp::random_start()).collect();
        let encodings = rids
            .iter()
            .zip(&ssrcs)
            .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: rid.unwrap_or_default().into(),
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            })
            .collect();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "runde".to_owned(),
            format!("runde-{name}"),
            format!("runde-{name}"),
            rtc_kind,
            encodings,
        )));
        let sender = self
            .pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| transport_err("add track", e))?;
        let tracks = rids
            .iter()
            .zip(ssrcs)
            .rev()
            .map(|(rid, ssrc)| LocalTrack {
                track: Arc::clone(&track),
                sender: Arc::clone(&sender),
                pc: Arc::clone(&self.pc),
                kind,
                ssrc,
                rid: rid.map(|r| Bytes::from_static(r.as_bytes())),
                extensions: tokio::sync::OnceCell::new(),
                payload_type: AtomicU32::new(u32::MAX),
                sequence: AtomicU16::new(crate::rtp::first_sequence()),
                bandwidth: self.bandwidth.clone(),
            })
            .collect();
        Ok(tracks)
    }

    /// Our offer, with all candidates (the servers we speak to prefer complete SDP).
    pub async fn create_offer(&mut self) -> Result<String, MediaError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| transport_err("offer", e))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| transport_err("local offer", e))?;
        self.local_sdp().await
    }

    /// An offer that restarts ICE: new credentials, new sockets on the addresses the machine has
    /// now and their candidates (all of them: the servers we speak to prefer complete SDP). The
    /// media, the DTLS session and its keys stay; the answer goes to
    /// [`accept_answer`](Self::accept_answer) as any.
    pub async fn restart_offer(&mut self) -> Result<String, MediaError> {
        self.path_replaced();
        let offer = self
            .pc
            .create_offer(Some(RTCOfferOptions { ice_restart: true }))
            .await
            .map_err(|e| transport_err("restart offer", e))?;
        // webrtc-rs 0.21 writes the candidates of the generation being replaced into the offer
        // (`create_offer` stages the restart; the old candidates go only at
        // `set_local_description`), and the local description keeps them beside the new ones:
        // they name sockets that are closed and, after a network change, addresses we no longer
        // have. They are left out of what we send.
        let offered = offer.sdp.clone();
        let stale = sdp::candidate_lines(&offered);
        // Gathering starts again with the new generation: wait for its end, not the last one's.
        self.gathering.send_replace(false);
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| transport_err("local restart offer", e))?;
        let local = self.local_sdp().await?;
        Ok(sdp::without_candidates(&local, &stale))
    }

    /// Take the peer's answer to our offer.
    pub async fn accept_answer(&self, sdp: String) -> Result<(), MediaError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| transport_err("answer", e))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| transport_err("remote answer", e))
    }

    /// Answer the peer's offer (also a renegotiation, or an ICE restart: an offer with new ICE
    /// credentials, answered from new sockets on the addresses the machine has now), with all
    /// candidates.
    pub async fn answer_offer(&mut self, sdp: String) -> Result<String, MediaError> {
        let current = self.pc.current_remote_description().await;
        if current.is_some_and(|c| sdp::ice_credentials(&c.sdp) != sdp::ice_credentials(&sdp)) {
            // webrtc-rs restarts ICE while it applies the offer and gathers anew: wait for the
            // new generation's candidates.
            self.gathering.send_replace(false);
            self.path_replaced();
        }
        let offer = RTCSessionDescription::offer(sdp).map_err(|e| transport_err("offer", e))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| transport_err("remote offer", e))?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| transport_err("answer", e))?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(|e| transport_err("local answer", e))?;
        self.local_sdp().await
    }

    /// ICE restarts: what we send until the new path carries it is not judged for the rate.
    fn path_replaced(&self) {
        let now = Instant::now();
        self.bandwidth
            .path_replaced(self.liveness.last().unwrap_or(now), now);
    }

    async fn local_sdp(&mut self) -> Result<String, MediaError> {
        let wait = self.gathered.wait_for(|done| *done);
        if tokio::time::timeout(GATHER_TIMEOUT, wait).await.is_err() {
            tracing::warn!("candidate gathering did not finish; sending what we have");
        }
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| transport_err("local description", "missing"))
    }

    /// The next event; `None` once the connection is gone.
    ///
    /// Cancel-safe: callers wait for it in a `select!` beside other inputs, so nothing is awaited
    /// after an event is taken from the queue (an event taken and then dropped with the future
    /// would be lost — a `Connected` lost that way left a call "connecting" for good).
    pub async fn next_event(&mut self) -> Option<LinkEvent> {
        let event = self.events.recv().await;
        if let Some(LinkEvent::State(LinkState::Connected)) = &event {
            // Candidate types only, no addresses: whether media goes through a TURN relay. Read
            // beside the caller, for the reason above.
            let pc = Arc::clone(&self.pc);
            tokio::spawn(async move {
                if let Some(path) = path_of(pc.as_ref()).await {
                    tracing::info!(local = %path.local, srtp = %path.srtp, "media path selected");
                }
            });
        }
        event
    }

    /// The candidate pair media flows over now, if one is selected.
    pub async fn path(&self) -> Option<LinkPath> {
        path_of(self.pc.as_ref()).await
    }

    /// Close the connection.
    pub async fn close(&self) {
        // Leaving never waits on a connection that does not finish closing.
        if tokio::time::timeout(CLOSE_WAIT, self.pc.close())
            .await
            .is_err()
        {
            tracing::warn!(
                "the connection did not close within {} s; it is left to end on its own",
                CLOSE_WAIT.as_secs()
            );
        }
    }
}

impl Drop for PeerLink {
    /// webrtc-rs keeps a connection's driver task alive until `close()`: a link dropped without
    /// closing (an error path, a cancelled join) is closed in the background.
    fn drop(&mut self) {
        let pc = Arc::clone(&self.pc);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

/// A track we send: RTP payloads in, packets out with our SSRC and sequence numbers.
pub struct LocalTrack {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    pc: Arc<dyn PeerConnection>,
    kind: TrackKind,
    ssrc: u32,
    /// The simulcast layer's RTP stream id, carried in every packet with the media id, so that
    /// the server can tell the layers apart (it learns SSRCs from them).
    rid: Option<Bytes>,
    /// Negotiated ids of the mid and rid header extensions, and our mid (looked up once).
    extensions: tokio::sync::OnceCell<LayerExtensions>,
    /// Negotiated payload type (`u32::MAX` until known).
    payload_type: AtomicU32,
    sequence: AtomicU16,
    bandwidth: Bandwidth,
}

impl LocalTrack {
    /// What the connection this track leaves on can carry (shared by all its tracks).
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }

    /// Audio or video.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    async fn payload_type(&self) -> Result<u8, MediaError> {
        let known = self.payload_type.load(Ordering::Relaxed);
        if known != u32::MAX {
            return Ok(known as u8);
        }
        let parameters = self
            .sender
            .get_parameters()
            .await
            .map_err(|e| transport_err("sender parameters", e))?;
        let pt = parameters
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or_else(|| transport_err("sender", "no negotiated codec"))?;
        self.payload_type.store(u32::from(pt), Ordering::Relaxed);
        Ok(pt)
    }

    /// The header extensions a simulcast layer's packets carry, once negotiated (looked up until
    /// they are: before the offer there is no mid yet).
    async fn layer_extensions(&self) -> Option<&LayerExtensions> {
        self.rid.as_ref()?;
        if let Some(known) = self.extensions.get() {
            return Some(known);
        }
        let parameters = self.sender.get_parameters().await.ok()?;
        let id = |uri: &str| {
            parameters
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == uri)
                .map(|e| e.id as u8)
        };
        let mid_id = id(rtc::sdp::extmap::SDES_MID_URI)?;
        let rid_id = id(rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI)?;
        let mut mid = None;
        for transceiver in self.pc.get_transceivers().await {
            if let Ok(Some(sender)) = transceiver.sender().await
                && sender.id() == self.sender.id()
            {
                mid = transceiver.mid().await.ok().flatten();
            }
        }
        let found = LayerExtensions {
            mid_id,
            mid: Bytes::from(mid?),
            rid_id,
        };
        Some(self.extensions.get_or_init(|| async { found }).await)
    }

    /// Send one RTP packet with this payload.
    pub async fn send(
        &self,
        payload: Bytes,
        timestamp: u32,
        marker: bool,
    ) -> Result<(), MediaError> {
        let payload_type = self.payload_type().await?;
        let sequence_number = self.sequence.fetch_add(1, Ordering::Relaxed);
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload,
        };
        let mut packet = packet;
        if let (Some(rid), Some(ext)) = (&self.rid, self.layer_extensions().await) {
            packet
                .header
                .set_extension(ext.mid_id, ext.mid.clone())
                .and_then(|()| packet.header.set_extension(ext.rid_id, rid.clone()))
                .map_err(|e| transport_err("layer extensions", e))?;
        }
        self.track
            .write_rtp(packet)
            .await
            .map_err(|e| transport_err("send", e))
    }

    /// The next feedback from the receiver: `true` for a keyframe request (PLI or FIR).
    pub async fn next_feedback(&self) -> Option<bool> {
        self.next_keyframe_requests()
            .await
            .map(|ssrcs| !ssrcs.is_empty())
    }

    /// The SSRCs the receiver asks keyframes for in its next feedback (PLI or FIR; empty for
    /// other feedback). The layers of a simulcast track share their feedback: read it from one
    /// of them only.
    pub async fn next_keyframe_requests(&self) -> Option<Vec<u32>> {
        use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
        loop {
            if let TrackLocalEvent::OnRtcpPacket(packets) = self.track.poll().await? {
                let mut ssrcs = Vec::new();
                for packet in &packets {
                    let any = packet.as_any();
                    if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                        ssrcs.push(pli.media_ssrc);
                    } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                        ssrcs.extend(fir.fir.iter().map(|e| e.ssrc));
                    }
                }
                return Some(ssrcs);
            }
        }
    }
}

/// The header extensions that name a simulcast layer: its transceiver's mid and its rid.
#[derive(Debug)]
struct LayerExtensions {
    mid_id: u8,
    mid: Bytes,
    rid_id: u8,
}

/// One RTP packet received.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// The marker bit (last packet of a video frame).
    pub marker: bool,
    /// The payload.
    pub payload: Bytes,
}

/// What arrives on a remote track.
#[derive(Debug, Clone)]
pub enum RemoteEvent {
    /// Media.
    Rtp(RtpPacket),
    /// The sender's clock pair, for lip sync.
    SenderReport(SenderReport),
}

/// A track the peer sends us.
pub struct RemoteTrack {
    inner: Arc<dyn TrackRemote>,
    /// Audio or video.
    pub kind: TrackKind,
    /// The SSRC of its first packet.
    pub ssrc: u32,
    /// The track id from the SDP's msid (Janus: `janus<mid>`).
    pub track_id: String,
    /// Our SSRC as the sender of RTCP about this track (we send no media on a subscription, so
    /// it is ours alone; never 0, which Janus takes for its first m-line).
    reporter_ssrc: u32,
    /// What a receiver report block says about this track, kept from every packet (boxed: a
    /// track travels in events by value).
    reception: Box<Mutex<ReceptionStats>>,
    /// The clock `reception` is told.
    epoch: Instant,
}

impl RemoteTrack {
    fn new(inner: Arc<dyn TrackRemote>, kind: TrackKind, ssrc: u32, track_id: String) -> Self {
        let clock_rate = match kind {
            TrackKind::Audio => 48_000,
            TrackKind::Video => 90_000,
        };
        Self {
            inner,
            kind,
            ssrc,
            track_id,
            reporter_ssrc: crate::rtp::random_start().max(1),
            reception: Box::new(Mutex::new(ReceptionStats::new(clock_rate))),
            epoch: Instant::now(),
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Our reception statistics, updated (a poisoned lock only means a panic elsewhere mid-count:
    /// the counts are still usable).
    fn reception(&self) -> std::sync::MutexGuard<'_, ReceptionStats> {
        self.reception
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next packet or report; `None` when the track has ended.
    pub async fn next(&self) -> Option<RemoteEvent> {
        loop {
            match self.inner.poll().await? {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let header = &packet.header;
                    self.reception().on_packet(
                        header.sequence_number,
                        header.timestamp,
                        self.now_us(),
                    );
                    return Some(RemoteEvent::Rtp(RtpPacket {
                        sequence: header.sequence_number,
                        timestamp: header.timestamp,
                        marker: header.marker,
                        payload: packet.payload,
                    }));
                }
                TrackRemoteEvent::OnRtcpPacket(packets) => {
                    let report = packets.iter().find_map(|p| {
                        p.as_any()
                            .downcast_ref::<RtcpSenderReport>()
                            .map(|sr| SenderReport {
                                ntp_time: sr.ntp_time,
                                rtp_time: sr.rtp_time,
                            })
                    });
                    if let Some(report) = report {
                        self.reception()
                            .on_sender_report(report.ntp_time, self.now_us());
                        return Some(RemoteEvent::SenderReport(report));
                    }
                }
                TrackRemoteEvent::OnEnded => return None,
                _ => {}
            }
        }
    }

    /// Ask the sender for a keyframe (PLI).
    pub async fn request_keyframe(&self) {
        let block = self.reception().report(self.now_us());
        let packets = keyframe_request(self.reporter_ssrc, self.ssrc, block);
        if let Err(e) = self.inner.write_rtcp(packets).await {
            tracing::debug!(error = %e, "could not send a keyframe request");
        }
    }
}

/// A keyframe request as a compound RTCP packet (RFC 4585 §3.1): a receiver report about the
/// stream, then the PLI. Servers find the stream a packet is about by its SSRCs; on a
/// subscription we send no media, so our own SSRC means nothing to them. A PLI alone names the
/// stream only in its media SSRC, which Janus before 1.3 does not read: it looks up the sender
/// SSRC, finds nothing (or, for 0, the first m-line — the audio) and drops the request, so the
/// video froze for good after the first loss. The report block names the video stream where
/// every server looks, and carries our real reception statistics.
fn keyframe_request(
    reporter_ssrc: u32,
    media_ssrc: u32,
    block: Option<ReportBlock>,
) -> Vec<Box<dyn rtc::rtcp::Packet>> {
    let reports = block
        .map(|b| ReceptionReport {
            ssrc: media_ssrc,
            fraction_lost: b.fraction_lost,
            total_lost: b.cumulative_lost,
            last_sequence_number: b.extended_highest_seq,
            jitter: b.jitter,
            last_sender_report: b.last_sender_report,
            delay: b.delay_since_last_sender_report,
        })
        .into_iter()
        .collect();
    vec![
        Box::new(ReceiverReport {
            ssrc: reporter_ssrc,
            reports,
            profile_extensions: Bytes::new(),
        }),
        Box::new(PictureLossIndication {
            sender_ssrc: reporter_ssrc,
            media_ssrc,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_request_names_the_stream_in_a_report_block_first() {
        let block = ReportBlock {
            fraction_lost: 12,
            cumulative_lost: 34,
            extended_highest_seq: 0x1_0005,
            ..Default::default()
        };
        let packets = keyframe_request(0x1111, 0x2222, Some(block));
        let wire = rtc::rtcp::packet::marshal(&packets).expect("marshal");
        // One compound packet: RR (type 201) with one block about 0x2222, then PLI (206, FMT 1).
        assert_eq!(wire[1], 201);
        assert_eq!(wire[0] & 0x1f, 1, "one report block");
        assert_eq!(&wire[4..8], &0x1111u32.to_be_bytes(), "from us");
        assert_eq!(&wire[8..12], &0x2222u32.to_be_bytes(), "about the video");
        assert_eq!(wire[12], 12, "our fraction lost");
        let rr_len = 4 * (usize::from(u16::from_be_bytes([wire[2], wire[3]])) + 1);
        let pli = &wire[rr_len..];
        assert_eq!((pli[0] & 0x1f, pli[1]), (1, 206));
        assert_eq!(&pli[4..8], &0x1111u32.to_be_bytes());
        assert_eq!(&pli[8..12], &0x2222u32.to_be_bytes());
        assert_eq!(pli.len(), 12);
    }
}
