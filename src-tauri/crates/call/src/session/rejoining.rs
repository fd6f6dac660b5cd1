//! The call's side of rejoining after the connection to the server was lost (the plan itself,
//! with its backoff and deadline, is [`crate::rejoin`]): what stops when the connection goes,
//! each attempt, and what starts again once we are back in the room.

use super::*;
use crate::rejoin::{NextStep, ROUTE_CHECK, Rejoin, RouteWatch, rejoin_tls};

/// How long someone missing from the room after a rejoin has to come back (after a server
/// restart everybody rejoins, some later than us) before a new passphrase is advised.
pub(super) const COMEBACK_GRACE: Duration = Duration::from_secs(15);

/// Someone who knows the passphrase and was not in the room when we rejoined.
pub(super) struct Missing {
    /// Their display name, to recognise them when they are back under a new id.
    name: Option<String>,
    /// How the advice names them.
    label: String,
    /// When to advise a new passphrase unless they are back.
    due: Instant,
}

/// When the first missing participant's grace ends; never, with nobody missing.
pub(super) async fn first_missing_due(missing: &[Missing]) {
    match missing.iter().map(|m| m.due).min() {
        Some(due) => tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await,
        None => std::future::pending().await,
    }
}

/// A connection attempt in progress.
type Connecting = Pin<Box<dyn Future<Output = Result<JanusConnection, ConnectError>> + Send>>;

/// Rejoining after the connection was lost: the plan, where it stands, and the last failure.
pub(super) struct Rejoining {
    plan: Rejoin,
    step: RejoinStep,
    last_error: UserError,
}

/// Where a rejoin stands.
pub(super) enum RejoinStep {
    /// The next attempt starts at this time, or as soon as a way to the server (when its
    /// address is known) comes back.
    Waiting {
        attempt: u32,
        at: Instant,
        route: Option<(std::net::SocketAddr, RouteWatch)>,
    },
    /// Opening the WebSocket (TLS checked as on every join).
    Connecting { future: Connecting },
    /// Connected; the new session is joining the room.
    Joining,
}

/// What a rejoin waited for.
pub(super) enum RejoinProgress {
    /// The next attempt is due.
    Due,
    /// The attempt's connection opened, or failed.
    Connected(Result<JanusConnection, ConnectError>),
}

/// Whether this computer has a route to `server` now: the system is asked to pick the way a UDP
/// socket would take to it, which sends nothing. No route (the network is down) fails at once.
fn route_to(server: std::net::SocketAddr) -> bool {
    let any: std::net::SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(any)
        .and_then(|socket| socket.connect(server))
        .is_ok()
}

/// The rejoin's next step, when it is one to wait for; never, otherwise.
pub(super) async fn rejoin_progress(rejoining: Option<&mut Rejoining>) -> RejoinProgress {
    match rejoining.map(|r| &mut r.step) {
        Some(RejoinStep::Waiting { at, route, .. }) => {
            let due = tokio::time::sleep_until(tokio::time::Instant::from_std(*at));
            tokio::pin!(due);
            let mut check = tokio::time::interval(ROUTE_CHECK);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = &mut due => return RejoinProgress::Due,
                    _ = check.tick(), if route.is_some() => {
                        if let Some((server, watch)) = route.as_mut()
                            && watch.checked(route_to(*server))
                        {
                            tracing::info!("the network is back: rejoining now");
                            return RejoinProgress::Due;
                        }
                    }
                }
            }
        }
        // Bounded by the connection timeout.
        Some(RejoinStep::Connecting { future }) => RejoinProgress::Connected(future.await),
        // Joining is bounded by the reply timeout of the room's requests.
        _ => std::future::pending().await,
    }
}

impl Call {
    /// The connection to the server is gone, or a rejoin attempt failed: try (again) after the
    /// backoff, or end the call when rejoining is not wanted or its time is up.
    pub(super) fn on_lost(&mut self, error: UserError) {
        self.conn_open = false;
        // An ICE restart needs the server connection: rejoining replaces both paths anyway.
        self.restart.clear();
        let now = Instant::now();
        let limit = self
            .context
            .rejoin
            .as_ref()
            .map_or(Duration::ZERO, |target| target.limit);
        let (mut plan, fresh) = match self.rejoining.take() {
            Some(rejoining) => (rejoining.plan, false),
            None => (Rejoin::lost(now, limit), true),
        };
        match plan.next_attempt(now) {
            NextStep::Attempt { attempt, at } => {
                if fresh {
                    tracing::info!(error = %error, "the call's connection was lost; rejoining");
                    self.pause_media();
                }
                let route = self
                    .conn
                    .peer_addr()
                    .map(|server| (server, RouteWatch::new(route_to(server))));
                self.rejoining = Some(Rejoining {
                    plan,
                    step: RejoinStep::Waiting { attempt, at, route },
                    last_error: error,
                });
            }
            NextStep::GiveUp if fresh => self.end(EndReason::Lost { error }),
            NextStep::GiveUp => {
                let detail = format!(
                    "could not rejoin within {} s ({} attempts): {error}",
                    plan.lost_for(now).as_secs(),
                    plan.attempts()
                );
                tracing::info!(attempts = plan.attempts(), "rejoining gave up");
                self.end(EndReason::Lost {
                    error: UserError::ServerLost { detail },
                });
            }
        }
    }

    /// The rejoin cannot succeed (the server's key changed, it is blocked now, the room is gone):
    /// the call ends with why.
    fn stop_rejoining(&mut self, error: UserError) {
        tracing::info!(code = error.code(), "rejoining stopped");
        self.rejoining = None;
        self.end(EndReason::Lost { error });
    }

    /// The next attempt is due: decide about the server's trust as every join does, then open a
    /// new connection.
    pub(super) fn start_attempt(&mut self) {
        let (Some(rejoining), Some(target)) = (&mut self.rejoining, &self.context.rejoin) else {
            return;
        };
        let RejoinStep::Waiting { attempt, .. } = rejoining.step else {
            return;
        };
        let decision = match crate::trust::decide(&target.origin, &target.trust) {
            Ok(decision) => decision,
            Err(error) => return self.stop_rejoining(error),
        };
        let tls = rejoin_tls(decision.tls, target.seen_key.as_ref());
        let (endpoint, config) = (target.endpoint.clone(), target.config.clone());
        rejoining.step = RejoinStep::Connecting {
            future: Box::pin(async move {
                JanusConnection::join(&endpoint, config, &tls, tx_prefix()).await
            }),
        };
        let since_ms = rejoining.plan.lost_for(Instant::now()).as_millis() as u64;
        tracing::debug!(attempt, since_ms, "rejoin attempt");
        self.queued.push_back(CallEvent::Reconnecting {
            attempt,
            since_ms,
            error: rejoining.last_error.clone(),
        });
    }

    /// The attempt's connection: on success the new session joins the room; a server that is
    /// not there yet is tried again; a certificate that fails the check blocks the call.
    pub(super) fn on_attempt_connected(&mut self, result: Result<JanusConnection, ConnectError>) {
        let (Some(rejoining), Some(target)) = (&mut self.rejoining, &self.context.rejoin) else {
            return;
        };
        if !matches!(rejoining.step, RejoinStep::Connecting { .. }) {
            return;
        }
        match result {
            Ok(conn) => {
                rejoining.step = RejoinStep::Joining;
                // The lost connection's task has ended; dropping it closes nothing more.
                self.conn = conn;
                self.conn_open = true;
            }
            Err(e) if e.is_transient() => {
                let error = UserError::from_connect(e, &target.origin);
                self.on_lost(error);
            }
            Err(e) => {
                let error = UserError::from_connect(e, &target.origin);
                self.stop_rejoining(error);
            }
        }
    }

    /// Without the server, media stops: the server's side of both peer connections is gone.
    /// Playout, the output files, the microphone and the call key stay; the indicators fall back
    /// to what is still proven.
    fn pause_media(&mut self) {
        if let Some(mut sender) = self.sender.take() {
            sender.stop();
        }
        // Dropped peer connections close in the background.
        self.publisher = None;
        self.take_subscriber();
        self.sources = None;
        self.feed_by_mid.clear();
        self.layers.forget_requests();
        self.feed_by_ssrc.clear();
        self.drop_tracks(|_| true);
        if let Some(engine) = &self.engine {
            for id in self.participants.keys() {
                engine.remove_feed(*id);
            }
        }
        let speaking: Vec<u64> = self
            .speaking
            .iter()
            .filter(|(_, talking)| **talking)
            .map(|(id, _)| *id)
            .collect();
        for id in speaking {
            self.set_speaking(id, false);
        }
        self.decrypting.clear();
        self.link_states = [None, None];
        // The rejoin replaces the subscription too.
        self.renewals.cancel();
        self.set_connection(ConnectionState::Reconnecting);
        self.degrade_indicators();
    }

    /// While not connected the server tells nothing: whatever it said about recording may no
    /// longer hold (no sound cue: nothing is known to have changed), and no stream is proven end
    /// to end. The operator stays: the server is checked again before we are back.
    fn degrade_indicators(&mut self) {
        let before = self.indicators.clone();
        self.indicators.recording = RecordingIndicator::connection_lost();
        self.indicators.encryption = self.encryption_now();
        if self.indicators != before {
            self.queued.push_back(CallEvent::Indicators {
                indicators: self.indicators.clone(),
                recording_change: None,
            });
        }
    }

    /// Back in the room under a new id: say so, bring the participant list up to date, offer our
    /// media again (the subscription follows the room by itself).
    pub(super) async fn on_rejoined(&mut self, me: u64, participants: Vec<Participant>) {
        let Some(rejoining) = self.rejoining.take() else {
            return;
        };
        let after_ms = rejoining.plan.lost_for(Instant::now()).as_millis() as u64;
        tracing::info!(
            attempts = rejoining.plan.attempts(),
            after_ms,
            "rejoined the call"
        );
        self.me = me;
        self.queued.push_back(CallEvent::Rejoined {
            me: me.to_string(),
            after_ms,
            attempts: rejoining.plan.attempts(),
        });
        self.update_participants(&participants);
        self.set_connection(ConnectionState::Connecting);
        self.update_encryption();
        if let Err(error) = self.publish_again().await {
            self.queued.push_back(CallEvent::Warning { error });
        }
        // Nothing to send and nobody to receive from: there is no media connection to wait for.
        if self.publisher.is_none() && !self.participants.values().any(|p| p.publishing) {
            self.set_connection(ConnectionState::Connected);
        }
    }

    /// Who is in the room now, as the rejoined session sees it: those gone left while we were
    /// away, the others came.
    fn update_participants(&mut self, participants: &[Participant]) {
        let now: BTreeMap<u64, ParticipantInfo> = participants
            .iter()
            .map(|p| (p.id, ParticipantInfo::from(p)))
            .collect();
        let gone: Vec<u64> = self
            .participants
            .keys()
            .filter(|id| !now.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            let Some(info) = self.participants.remove(&id) else {
                continue;
            };
            self.queued
                .push_back(CallEvent::ParticipantLeft { id: id.to_string() });
            // They may be rejoining too: advise a new passphrase only if they stay away.
            if self.context.e2ee.is_some() {
                self.missing.push(Missing {
                    label: info.name.clone().unwrap_or(info.id),
                    name: info.name,
                    due: Instant::now() + COMEBACK_GRACE,
                });
            }
        }
        for (id, info) in now {
            self.came_back(&info);
            if self.participants.insert(id, info.clone()).is_none() {
                self.queued
                    .push_back(CallEvent::ParticipantJoined { participant: info });
            }
        }
    }

    /// Someone entered: if they are back under their name after a rejoin, nobody left.
    pub(super) fn came_back(&mut self, info: &ParticipantInfo) {
        if info.name.is_some() {
            self.missing.retain(|m| m.name != info.name);
        }
    }

    /// Whoever did not come back in time left the call: advise a new passphrase.
    pub(super) fn advise_missing(&mut self) {
        let now = Instant::now();
        let (due, waiting): (Vec<Missing>, Vec<Missing>) = std::mem::take(&mut self.missing)
            .into_iter()
            .partition(|m| m.due <= now);
        self.missing = waiting;
        for gone in due {
            self.queued
                .push_back(CallEvent::NewPassphraseAdvised { left: gone.label });
        }
    }

    /// Open our sources again (the microphone stays open: a new receiver of its frames) and
    /// offer them on a new peer connection; a new sender starts with the server's answer.
    async fn publish_again(&mut self) -> Result<(), UserError> {
        let (audio, video) = self.can_send;
        if self.sealed_room || (!audio && !video) {
            return Ok(());
        }
        let media = &self.context.media;
        let captured = self.capture_relay.as_ref().map(CaptureRelay::new_receiver);
        let sources = Sources::open(
            &media.audio_in,
            &media.video_in,
            captured,
            self.video_off,
            media.single_layer,
        )?;
        self.sources = Some(sources);
        self.offer_media().await
    }
}
