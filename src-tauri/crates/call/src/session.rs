//! Joining a room and following it: link → server → room, with typed events for the layers
//! above (the desktop shell, `runde-cli`) and typed errors they can act on.
//!
//! A wrong or missing password does not end the attempt: [`JoinFailure::into_retry`] keeps the
//! connection so that the user only types the password again.

use std::collections::{BTreeMap, BTreeSet};

use runde_connect::janus::{
    self, JanusConnection, JoinConfig, MediaKind, Participant, RemoteStream, RoomEvent, RoomId,
};
use runde_connect::{Secret, TlsSettings, parse_link};
use serde::Serialize;

use crate::UserError;

/// What to join, and as whom.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The link as pasted.
    pub link: String,
    /// The room password, typed separately (never part of the link).
    pub password: Option<Secret>,
    /// The name others see.
    pub display_name: String,
    /// TLS trust for `wss://` (the system's trust store plus reviewed certificates).
    pub tls: TlsSettings,
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
    /// Someone started or stopped talking.
    Speaking {
        /// Who.
        participant: String,
        /// Talking now.
        speaking: bool,
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
    let info = janus::probe(link.endpoint(), tls).await?;
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
}

impl std::fmt::Debug for RetryJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryJoin")
    }
}

impl RetryJoin {
    /// Try again with this password.
    pub async fn with_password(self, password: Option<Secret>) -> Result<Call, JoinFailure> {
        self.conn.retry_join(password);
        await_joined(self.conn).await
    }

    /// Give up: close the connection.
    pub async fn cancel(self) {
        self.conn.close().await;
    }
}

/// Join the room a link names.
pub async fn join(options: JoinOptions) -> Result<Call, JoinFailure> {
    let link = parse_link(&options.link).map_err(UserError::from)?;
    let room = link.room().ok_or(UserError::LinkWithoutRoom)?;
    let config = JoinConfig {
        room: RoomId::parse(room),
        display: options.display_name,
        pin: options.password,
    };
    let conn = JanusConnection::join(link.endpoint(), config, &options.tls, tx_prefix())
        .await
        .map_err(UserError::from)?;
    await_joined(conn).await
}

async fn await_joined(mut conn: JanusConnection) -> Result<Call, JoinFailure> {
    loop {
        match conn.next_event().await {
            Some(RoomEvent::Joined { me, participants }) => {
                return Ok(Call::new(conn, me, participants));
            }
            Some(RoomEvent::JoinFailed(e)) => {
                let error = UserError::from(e);
                if error.is_password_problem() {
                    return Err(JoinFailure {
                        error,
                        retry: Some(RetryJoin { conn }),
                    });
                }
                conn.close().await;
                return Err(error.into());
            }
            Some(RoomEvent::SessionLost { reason }) => {
                return Err(UserError::ServerLost { detail: reason }.into());
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

/// A transaction-id prefix unique enough to tell our connections apart in a server log.
fn tx_prefix() -> String {
    use std::hash::BuildHasher;
    let seed =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{seed:016x}")[..10].to_owned()
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
}

impl Call {
    fn new(conn: JanusConnection, me: u64, participants: Vec<Participant>) -> Self {
        let participants: BTreeMap<u64, ParticipantInfo> = participants
            .iter()
            .map(|p| (p.id, ParticipantInfo::from(p)))
            .collect();
        let joined = CallEvent::Joined {
            me: me.to_string(),
            participants: participants.values().cloned().collect(),
        };
        Self {
            conn,
            me,
            participants,
            tracks: BTreeSet::new(),
            queued: [joined].into(),
            ended: false,
        }
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
            let Some(event) = self.conn.next_event().await else {
                self.end(EndReason::Lost {
                    error: UserError::ServerLost {
                        detail: "the connection ended".into(),
                    },
                });
                continue;
            };
            self.on_room_event(event);
        }
    }

    /// Leave the call and close the connection.
    pub async fn leave(self) {
        self.conn.close().await;
    }

    fn end(&mut self, reason: EndReason) {
        self.queued.push_back(CallEvent::Ended { reason });
    }

    fn on_room_event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::ParticipantJoined(p) | RoomEvent::ParticipantPublishing(p) => {
                let info = ParticipantInfo::from(&p);
                let known = self.participants.insert(p.id, info.clone());
                if known.is_none() {
                    self.queued
                        .push_back(CallEvent::ParticipantJoined { participant: info });
                }
            }
            RoomEvent::ParticipantUnpublished { id } => {
                if let Some(p) = self.participants.get_mut(&id) {
                    p.publishing = false;
                }
            }
            RoomEvent::ParticipantLeft { id } => {
                self.drop_tracks(|(feed, _)| *feed == id);
                if self.participants.remove(&id).is_some() {
                    self.queued
                        .push_back(CallEvent::ParticipantLeft { id: id.to_string() });
                }
            }
            RoomEvent::SubscriptionOffer { streams, .. } => self.on_streams(&streams),
            RoomEvent::Talking { id, talking } => self.queued.push_back(CallEvent::Speaking {
                participant: id.to_string(),
                speaking: talking,
            }),
            RoomEvent::PublishFailed { code, reason }
            | RoomEvent::RequestFailed { code, reason, .. } => {
                self.queued.push_back(CallEvent::Warning {
                    error: UserError::JoinRefused {
                        detail: format!("{reason} ({code})"),
                    },
                });
            }
            RoomEvent::RoomDestroyed => self.end(EndReason::RoomClosed),
            RoomEvent::Kicked => self.end(EndReason::Kicked),
            RoomEvent::Left => self.end(EndReason::Left),
            RoomEvent::SessionLost { reason } => self.end(EndReason::Lost {
                error: UserError::ServerLost { detail: reason },
            }),
            RoomEvent::Joined { .. }
            | RoomEvent::JoinFailed(_)
            | RoomEvent::PublishAnswer(_)
            | RoomEvent::WebRtcUp(_)
            | RoomEvent::MediaFlowing { .. }
            | RoomEvent::Hangup { .. } => {}
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
}
