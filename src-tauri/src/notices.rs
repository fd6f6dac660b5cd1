//! System notifications: a change of the recording state reaches the user even when Runde's
//! window is behind others or minimised, and stays in the system's list of notifications as a
//! record of when it happened.
//!
//! The words are the same sentences the window shows for the indicator (`ui/src/lib/messages.ts`;
//! a test keeps both in step), in the language the user chose in the settings, or the system's.
//! The facts come from the call's indicator: nothing here decides what is recorded.

use runde_call::indicators::{
    RecordingChange, RecordingIndicator, RecordingReason, RecordingState,
};
use runde_call::settings::LanguageChoice;

/// The two languages Runde speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    English,
    German,
}

impl Lang {
    /// The user's choice; "the system's" is German for any German locale, English otherwise
    /// (as the window decides).
    pub(crate) fn resolve(choice: LanguageChoice, system_locale: Option<&str>) -> Self {
        match choice {
            LanguageChoice::English => Lang::English,
            LanguageChoice::German => Lang::German,
            LanguageChoice::System => match system_locale {
                Some(locale) if locale.to_ascii_lowercase().starts_with("de") => Lang::German,
                _ => Lang::English,
            },
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub title: String,
    pub body: String,
}

/// What the notification for a change of the recording state says: the new state as the
/// indicator names it, and why, in the indicator's own words.
pub(crate) fn recording(
    change: RecordingChange,
    indicator: &RecordingIndicator,
    lang: Lang,
) -> Notice {
    let state = state_label(indicator.state, lang);
    let title = match (change, lang) {
        (RecordingChange::Raised, Lang::English) => format!("Attention: recording “{state}”"),
        (RecordingChange::Raised, Lang::German) => format!("Achtung: Aufnahme „{state}“"),
        (RecordingChange::Lowered, Lang::English) => format!("Recording: “{state}”"),
        (RecordingChange::Lowered, Lang::German) => format!("Aufnahme: „{state}“"),
    };
    Notice {
        title,
        body: reason_text(indicator.state, indicator.reason, lang).to_owned(),
    }
}

fn state_label(state: RecordingState, lang: Lang) -> &'static str {
    match (state, lang) {
        (RecordingState::Active, Lang::English) => "Recording now",
        (RecordingState::RoomSetToRecord, Lang::English) => "Room records",
        (RecordingState::NotAnnounced, Lang::English) => "Not announced",
        (RecordingState::Off, Lang::English) => "Not recorded",
        (RecordingState::Active, Lang::German) => "Aufnahme läuft",
        (RecordingState::RoomSetToRecord, Lang::German) => "Raum zeichnet auf",
        (RecordingState::NotAnnounced, Lang::German) => "Nicht angekündigt",
        (RecordingState::Off, Lang::German) => "Keine Aufnahme",
    }
}

/// The indicator's explanation. A state the server declares outright (a recording running now,
/// nothing recorded) is said as the server's word.
fn reason_text(state: RecordingState, reason: RecordingReason, lang: Lang) -> &'static str {
    match (state, lang) {
        (RecordingState::Active, Lang::English) => "The server says a recording is running now.",
        (RecordingState::Active, Lang::German) => {
            "Der Server meldet, dass gerade aufgezeichnet wird."
        }
        (RecordingState::Off, Lang::English) => "The server declares that nothing is recorded.",
        (RecordingState::Off, Lang::German) => {
            "Der Server erklärt, dass nichts aufgezeichnet wird."
        }
        _ => match (reason, lang) {
            (RecordingReason::NotYetKnown, Lang::English) => {
                "The server has not told Runde yet whether this room records."
            }
            (RecordingReason::RoomRecordFlagOn, Lang::English) => {
                "The room is set to record everyone who sends audio or video. Assume you are recorded."
            }
            (RecordingReason::ServerCannotTell, Lang::English) => {
                "This server cannot tell whether anyone records. On this kind of server a participant can record their own stream and nobody is told, so Runde never shows “not recorded” here."
            }
            (RecordingReason::PrivateRoom, Lang::English) => {
                "This room is private: the server does not publish its settings, so Runde cannot see whether it records."
            }
            (RecordingReason::ConnectionLost, Lang::English) => {
                "Runde is not connected to the server right now, so it cannot know whether anything is recorded. It asks again once it is back in the call."
            }
            (RecordingReason::NotYetKnown, Lang::German) => {
                "Der Server hat Runde noch nicht mitgeteilt, ob dieser Raum aufzeichnet."
            }
            (RecordingReason::RoomRecordFlagOn, Lang::German) => {
                "Der Raum ist so eingestellt, dass alle aufgezeichnet werden, die Ton oder Bild senden. Gehen Sie davon aus, dass Sie aufgezeichnet werden."
            }
            (RecordingReason::ServerCannotTell, Lang::German) => {
                "Dieser Server kann nicht sagen, ob jemand aufzeichnet. Auf dieser Art Server kann eine Person ihren eigenen Strom aufzeichnen, ohne dass es jemand erfährt; deshalb zeigt Runde hier nie „Keine Aufnahme“."
            }
            (RecordingReason::PrivateRoom, Lang::German) => {
                "Dieser Raum ist privat: Der Server veröffentlicht seine Einstellungen nicht, daher kann Runde nicht sehen, ob er aufzeichnet."
            }
            (RecordingReason::ConnectionLost, Lang::German) => {
                "Runde ist gerade nicht mit dem Server verbunden und kann daher nicht wissen, ob aufgezeichnet wird. Sobald Runde wieder im Gespräch ist, fragt es erneut."
            }
        },
    }
}

/// The language for notifications now: the settings' choice (English when they cannot be read:
/// the settings screen explains that) and the system's locale.
pub(crate) fn current_lang() -> Lang {
    let choice = runde_call::trust_dir()
        .and_then(|folder| runde_call::settings::load(&folder).ok())
        .map(|view| view.settings.language)
        .unwrap_or_default();
    Lang::resolve(choice, sys_locale::get_locale().as_deref())
}

/// Show `notice` as a system notification. A system without a notification service shows
/// nothing; the window still shows and announces the change, so that is only logged.
pub(crate) fn show(app: &tauri::AppHandle, notice: &Notice) {
    use tauri_plugin_notification::NotificationExt;
    let shown = app
        .notification()
        .builder()
        .title(&notice.title)
        .body(&notice.body)
        .show();
    match shown {
        Ok(()) => tracing::info!("recording change shown as a system notification"),
        Err(e) => tracing::warn!("the system did not take the notification: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [RecordingState; 4] = [
        RecordingState::Active,
        RecordingState::RoomSetToRecord,
        RecordingState::NotAnnounced,
        RecordingState::Off,
    ];
    const REASONS: [RecordingReason; 5] = [
        RecordingReason::NotYetKnown,
        RecordingReason::RoomRecordFlagOn,
        RecordingReason::ServerCannotTell,
        RecordingReason::PrivateRoom,
        RecordingReason::ConnectionLost,
    ];

    #[test]
    fn the_language_follows_the_choice_then_the_system() {
        use LanguageChoice::*;
        assert_eq!(Lang::resolve(German, Some("en-US")), Lang::German);
        assert_eq!(Lang::resolve(English, Some("de-DE")), Lang::English);
        assert_eq!(Lang::resolve(System, Some("de-AT")), Lang::German);
        assert_eq!(Lang::resolve(System, Some("de_CH.UTF-8")), Lang::German);
        assert_eq!(Lang::resolve(System, Some("fr-FR")), Lang::English);
        assert_eq!(Lang::resolve(System, None), Lang::English);
    }

    #[test]
    fn a_room_set_to_record_is_a_warning_with_the_indicators_words() {
        let indicator = RecordingIndicator {
            state: RecordingState::RoomSetToRecord,
            reason: RecordingReason::RoomRecordFlagOn,
        };
        let en = recording(RecordingChange::Raised, &indicator, Lang::English);
        assert_eq!(en.title, "Attention: recording “Room records”");
        assert!(en.body.ends_with("Assume you are recorded."), "{en:?}");
        let de = recording(RecordingChange::Raised, &indicator, Lang::German);
        assert_eq!(de.title, "Achtung: Aufnahme „Raum zeichnet auf“");
        let lowered = RecordingIndicator {
            state: RecordingState::NotAnnounced,
            reason: RecordingReason::ServerCannotTell,
        };
        let en = recording(RecordingChange::Lowered, &lowered, Lang::English);
        assert_eq!(en.title, "Recording: “Not announced”");
        // Never "not recorded" where the server cannot tell.
        assert!(
            en.body.contains("cannot tell whether anyone records"),
            "{en:?}"
        );
    }

    /// Every sentence a notification can say is the window's own, word for word, in both
    /// languages (labels and reasons come from `ui/src/lib/messages.ts`).
    #[test]
    fn notifications_use_the_windows_sentences() -> Result<(), std::io::Error> {
        let catalog = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/messages.ts"),
        )?;
        for lang in [Lang::English, Lang::German] {
            for state in STATES {
                let label = state_label(state, lang);
                assert!(catalog.contains(&format!("\"{label}\"")), "{label}");
                for reason in REASONS {
                    if matches!(state, RecordingState::Active | RecordingState::Off) {
                        continue;
                    }
                    let text = reason_text(state, reason, lang);
                    assert!(catalog.contains(&format!("\"{text}\"")), "{text}");
                }
            }
        }
        Ok(())
    }
}
