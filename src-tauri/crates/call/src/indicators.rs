//! The three in-call indicators — recording, encryption, operator — computed from what the server
//! and the media path prove, never more. "Not announced" and "unknown" are real states.
//!
//! Each indicator carries a reason code the UI translates into a short sentence; the UI shows
//! what it gets and computes nothing.

use runde_connect::janus::RoomFacts;
use serde::Serialize;

/// Whether anyone may be recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum RecordingState {
    /// The server says a recording is running now.
    Active,
    /// The room is set to record whoever publishes.
    RoomSetToRecord,
    /// The server does not tell; a recording may or may not be running.
    NotAnnounced,
    /// The server positively declares that nothing is recorded.
    Off,
}

/// Why the recording indicator shows what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum RecordingReason {
    /// We have not heard from the server about it yet.
    NotYetKnown,
    /// The room's settings say every publisher is recorded.
    RoomRecordFlagOn,
    /// The room is not set to record, but this kind of server cannot tell whether a participant
    /// records their own stream or the operator records otherwise.
    ServerCannotTell,
    /// The room is private: the server does not publish its settings.
    PrivateRoom,
    /// The connection to the server is lost: whatever it said before may no longer hold, and it
    /// cannot tell us now (until it does again after rejoining).
    ConnectionLost,
}

/// The recording indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RecordingIndicator {
    /// The state.
    pub state: RecordingState,
    /// Why.
    pub reason: RecordingReason,
}

impl RecordingIndicator {
    /// What a Janus VideoRoom proves: its public list can show that a room is set to record, but
    /// nothing can show that nobody records (a publisher recording itself is invisible to all), so
    /// Janus never yields [`RecordingState::Off`].
    pub fn from_janus(facts: Option<RoomFacts>) -> Self {
        let (state, reason) = match facts {
            None => (RecordingState::NotAnnounced, RecordingReason::NotYetKnown),
            Some(RoomFacts::Listed { record: true, .. }) => (
                RecordingState::RoomSetToRecord,
                RecordingReason::RoomRecordFlagOn,
            ),
            Some(RoomFacts::Listed { record: false, .. }) => (
                RecordingState::NotAnnounced,
                RecordingReason::ServerCannotTell,
            ),
            Some(RoomFacts::Unlisted) => {
                (RecordingState::NotAnnounced, RecordingReason::PrivateRoom)
            }
        };
        Self { state, reason }
    }

    /// While the call is not connected to its server: nothing is proven, whatever was proven
    /// before ("the room records" may have changed; "not announced" stays the weakest claim).
    pub fn connection_lost() -> Self {
        Self {
            state: RecordingState::NotAnnounced,
            reason: RecordingReason::ConnectionLost,
        }
    }
}

/// A change of the recording state that the user must notice at once: shown, played as a sound
/// cue, and read out by screen readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum RecordingChange {
    /// More may be recorded than before (e.g. the room was set to record).
    Raised,
    /// Less than before (e.g. the room is no longer set to record).
    Lowered,
}

impl RecordingState {
    /// How much the state admits may be recorded: Off < NotAnnounced < RoomSetToRecord < Active.
    fn exposure(self) -> u8 {
        match self {
            RecordingState::Off => 0,
            RecordingState::NotAnnounced => 1,
            RecordingState::RoomSetToRecord => 2,
            RecordingState::Active => 3,
        }
    }

    /// What going from `self` to `to` means for the user, or `None` when the state stays.
    pub fn change_to(self, to: RecordingState) -> Option<RecordingChange> {
        match to.exposure().cmp(&self.exposure()) {
            std::cmp::Ordering::Greater => Some(RecordingChange::Raised),
            std::cmp::Ordering::Less => Some(RecordingChange::Lowered),
            std::cmp::Ordering::Equal => None,
        }
    }
}

/// Who can see and hear the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EncryptionState {
    /// Encrypted on the way to the server only: the server (and its operator) can see and hear.
    TransportOnly,
    /// Some streams are end-to-end encrypted, others are not.
    Mixed,
    /// Every stream sent and received is end-to-end encrypted with the call key.
    EndToEnd,
}

/// Why the encryption indicator shows what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EncryptionReason {
    /// Media is protected between each participant and the server, which decrypts it to forward
    /// it.
    ServerDecryptsMedia,
    /// Everything we send is sealed with the call key, and everything we receive opened with it.
    AllStreamsOpenWithCallKey,
    /// Someone's media does not open with the call key (no end-to-end encryption, or another
    /// passphrase): the server can read theirs, or nobody here can.
    SomeCannotBeDecrypted,
    /// What we send is sealed, but someone's media has not arrived yet, so it is not proven.
    NotYetProven,
    /// The passphrase was changed, and someone still seals with the one before (they have not
    /// switched yet): whoever knew only the old passphrase could still read theirs.
    SomeOnPreviousKey,
}

/// What the media path proves about one participant's media in an end-to-end encrypted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamProof {
    /// Nothing has arrived yet.
    Nothing,
    /// It opens with the current call key.
    Opens,
    /// It opens only with the key before the last change.
    OpensWithPreviousKey,
    /// It does not open.
    Fails,
}

/// The encryption indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EncryptionIndicator {
    /// The state.
    pub state: EncryptionState,
    /// Why.
    pub reason: EncryptionReason,
    /// In a mixed call, who: the participants whose media is not proven end to end (cannot be
    /// decrypted, still on the previous key, or not arrived yet), by display name.
    pub not_proven: Vec<String>,
}

impl EncryptionIndicator {
    /// Without end-to-end encryption: transport only, whatever the room claims.
    pub fn transport_only() -> Self {
        Self {
            state: EncryptionState::TransportOnly,
            reason: EncryptionReason::ServerDecryptsMedia,
            not_proven: Vec::new(),
        }
    }

    /// From what the media path proves: whether we seal what we send with the call key, and for
    /// each participant whose media we receive (by name) what opens it. End-to-end only when
    /// every stream is proven; otherwise mixed, naming who is not.
    pub fn from_streams(
        sealing: bool,
        received: impl IntoIterator<Item = (String, StreamProof)>,
    ) -> Self {
        if !sealing {
            return Self::transport_only();
        }
        let received: Vec<(String, StreamProof)> = received.into_iter().collect();
        let has = |proof: StreamProof| received.iter().any(|(_, p)| *p == proof);
        let reason = if has(StreamProof::Fails) {
            EncryptionReason::SomeCannotBeDecrypted
        } else if has(StreamProof::OpensWithPreviousKey) {
            EncryptionReason::SomeOnPreviousKey
        } else if has(StreamProof::Nothing) {
            EncryptionReason::NotYetProven
        } else {
            return Self {
                state: EncryptionState::EndToEnd,
                reason: EncryptionReason::AllStreamsOpenWithCallKey,
                not_proven: Vec::new(),
            };
        };
        Self {
            state: EncryptionState::Mixed,
            reason,
            not_proven: received
                .into_iter()
                .filter(|(_, p)| *p != StreamProof::Opens)
                .map(|(name, _)| name)
                .collect(),
        }
    }
}

#[cfg(test)]
mod encryption_tests {
    use super::*;

    #[test]
    fn end_to_end_only_when_every_stream_is_proven() {
        use StreamProof as P;
        let of = |sealing, received: &[(&str, StreamProof)]| {
            let i = EncryptionIndicator::from_streams(
                sealing,
                received.iter().map(|(n, p)| ((*n).to_owned(), *p)),
            );
            (i.state, i.reason, i.not_proven.join(","))
        };
        use EncryptionReason as R;
        use EncryptionState as S;
        // Not sealing: transport only, whatever arrives.
        assert_eq!(
            of(false, &[("Ann", P::Opens)]),
            (S::TransportOnly, R::ServerDecryptsMedia, String::new())
        );
        assert_eq!(
            of(true, &[]),
            (S::EndToEnd, R::AllStreamsOpenWithCallKey, String::new())
        );
        assert_eq!(
            of(true, &[("Ann", P::Opens), ("Ben", P::Opens)]),
            (S::EndToEnd, R::AllStreamsOpenWithCallKey, String::new())
        );
        assert_eq!(
            of(true, &[("Ann", P::Opens), ("Ben", P::Nothing)]),
            (S::Mixed, R::NotYetProven, "Ben".into())
        );
        assert_eq!(
            of(
                true,
                &[("Ann", P::OpensWithPreviousKey), ("Ben", P::Nothing)]
            ),
            (S::Mixed, R::SomeOnPreviousKey, "Ann,Ben".into())
        );
        assert_eq!(
            of(
                true,
                &[("Ann", P::Opens), ("Ben", P::Nothing), ("Eve", P::Fails)]
            ),
            (S::Mixed, R::SomeCannotBeDecrypted, "Ben,Eve".into())
        );
    }
}

/// Where what we know about the server's operator comes from, from strongest to weakest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum OperatorSource {
    /// Declared by the administrator's policy, with the server's key pinned.
    DeclaredByAdmin,
    /// Declared by the user when trusting the server, with its key pinned.
    DeclaredByUser,
    /// The organisation named in a certificate that an authority the system trusts vouches for.
    CertificateOrganisation,
    /// The server's own operator statement: self-declared, nobody vouches for it.
    SelfDeclared,
    /// Nothing: Runde does not know who runs this server.
    Unknown,
}

/// The operator indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OperatorIndicator {
    /// How we know.
    pub source: OperatorSource,
    /// The operator's name, when known.
    pub name: Option<String>,
}

impl OperatorIndicator {
    /// Nothing known.
    pub fn unknown() -> Self {
        Self {
            source: OperatorSource::Unknown,
            name: None,
        }
    }
}

/// All three, as the UI shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Indicators {
    /// Whether anyone may be recording.
    pub recording: RecordingIndicator,
    /// Who can see and hear the media.
    pub encryption: EncryptionIndicator,
    /// Who runs the server.
    pub operator: OperatorIndicator,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn janus_never_claims_that_nothing_is_recorded() {
        let all = [
            None,
            Some(RoomFacts::Unlisted),
            Some(RoomFacts::Listed {
                record: false,
                require_e2ee: false,
            }),
            Some(RoomFacts::Listed {
                record: false,
                require_e2ee: true,
            }),
            Some(RoomFacts::Listed {
                record: true,
                require_e2ee: false,
            }),
        ];
        for facts in all {
            assert_ne!(
                RecordingIndicator::from_janus(facts).state,
                RecordingState::Off,
                "{facts:?}"
            );
        }
        // Not connected: nothing the server said before is claimed any more.
        let lost = RecordingIndicator::connection_lost();
        assert_eq!(lost.state, RecordingState::NotAnnounced);
        assert_eq!(lost.reason, RecordingReason::ConnectionLost);
        assert_eq!(
            RecordingState::RoomSetToRecord.change_to(lost.state),
            Some(RecordingChange::Lowered),
            "the call plays no cue for it itself (see session::rejoining)"
        );
        assert_eq!(
            RecordingIndicator::from_janus(Some(RoomFacts::Listed {
                record: true,
                require_e2ee: false
            })),
            RecordingIndicator {
                state: RecordingState::RoomSetToRecord,
                reason: RecordingReason::RoomRecordFlagOn
            }
        );
        assert_eq!(
            RecordingIndicator::from_janus(Some(RoomFacts::Unlisted)).reason,
            RecordingReason::PrivateRoom
        );
    }

    #[test]
    fn every_change_of_recording_state_is_announced_in_its_direction() {
        use RecordingState::*;
        let order = [Off, NotAnnounced, RoomSetToRecord, Active];
        for (i, from) in order.iter().enumerate() {
            for (j, to) in order.iter().enumerate() {
                let expected = match j.cmp(&i) {
                    std::cmp::Ordering::Greater => Some(RecordingChange::Raised),
                    std::cmp::Ordering::Less => Some(RecordingChange::Lowered),
                    std::cmp::Ordering::Equal => None,
                };
                assert_eq!(from.change_to(*to), expected, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn a_room_that_requires_e2ee_does_not_make_the_call_end_to_end() {
        // Janus only checks that publishers *declare* e2ee; the indicator follows the media path.
        assert_eq!(
            EncryptionIndicator::transport_only().state,
            EncryptionState::TransportOnly
        );
    }

    #[test]
    fn indicators_serialise_as_codes() -> Result<(), serde_json::Error> {
        let indicators = Indicators {
            recording: RecordingIndicator::from_janus(None),
            encryption: EncryptionIndicator::transport_only(),
            operator: OperatorIndicator::unknown(),
        };
        assert_eq!(
            serde_json::to_value(&indicators)?,
            serde_json::json!({
                "recording": {"state": "notAnnounced", "reason": "notYetKnown"},
                "encryption": {"state": "transportOnly", "reason": "serverDecryptsMedia", "notProven": []},
                "operator": {"source": "unknown", "name": null}
            })
        );
        Ok(())
    }
}
