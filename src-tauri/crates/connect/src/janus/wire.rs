//! Janus's JSON over the WebSocket: what comes in, read defensively into typed values.
//!
//! Everything is optional on the wire; a message that is not a JSON object or lacks the `janus`
//! field is a protocol error, anything else unexpected is ignored or reported by the state
//! machine, never a panic.

use serde_json::{Map, Value};

/// A session description from the server (offer or answer).
#[derive(Clone, PartialEq, Eq)]
pub struct Jsep {
    /// "offer" or "answer".
    pub kind: String,
    /// The SDP text.
    pub sdp: String,
}

impl std::fmt::Debug for Jsep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jsep({}, {} bytes)", self.kind, self.sdp.len())
    }
}

/// One message from Janus.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Incoming {
    /// The message type: success, ack, event, error, timeout, webrtcup, media, hangup, ...
    pub janus: String,
    pub transaction: Option<String>,
    pub session_id: Option<u64>,
    /// The handle the message is about.
    pub sender: Option<u64>,
    /// `data.id` of a create/attach success.
    pub created_id: Option<u64>,
    /// The plugin's reply or event (`plugindata.data`).
    pub plugin: Option<Map<String, Value>>,
    pub jsep: Option<Jsep>,
    /// A core error: code and reason.
    pub error: Option<(i64, String)>,
    /// Free text that comes with hangup and similar events.
    pub reason: Option<String>,
    /// `media` events: which kind, and whether it flows.
    pub media: Option<(String, bool)>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON at all.
    #[error("the server sent something that is not JSON")]
    NotJson,
    /// JSON, but not a Janus message.
    #[error("the server sent a message without a type")]
    NoType,
}

fn as_id(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

fn as_text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

impl Incoming {
    pub(crate) fn parse(text: &str) -> Result<Self, WireError> {
        let value: Value = serde_json::from_str(text).map_err(|_| WireError::NotJson)?;
        let Value::Object(msg) = value else {
            return Err(WireError::NoType);
        };
        let janus = as_text(msg.get("janus")).ok_or(WireError::NoType)?;
        let plugin = msg
            .get("plugindata")
            .and_then(|p| p.get("data"))
            .and_then(Value::as_object)
            .cloned();
        let jsep = msg.get("jsep").and_then(|j| {
            Some(Jsep {
                kind: as_text(j.get("type"))?,
                sdp: as_text(j.get("sdp"))?,
            })
        });
        let error = msg.get("error").map(|e| {
            (
                e.get("code").and_then(Value::as_i64).unwrap_or(0),
                as_text(e.get("reason")).unwrap_or_default(),
            )
        });
        let media = match (as_text(msg.get("type")), msg.get("receiving")) {
            (Some(kind), Some(receiving)) => Some((kind, receiving.as_bool().unwrap_or(false))),
            _ => None,
        };
        Ok(Self {
            janus,
            transaction: as_text(msg.get("transaction")),
            session_id: as_id(msg.get("session_id")),
            sender: as_id(msg.get("sender")),
            created_id: as_id(msg.get("data").and_then(|d| d.get("id"))),
            plugin,
            jsep,
            error,
            reason: as_text(msg.get("reason")),
            media,
        })
    }

    /// A plugin error inside a success or event: code and text.
    pub(crate) fn plugin_error(&self) -> Option<(i64, String)> {
        let data = self.plugin.as_ref()?;
        let code = data.get("error_code").and_then(Value::as_i64)?;
        Some((code, as_text(data.get("error")).unwrap_or_default()))
    }

    /// `plugindata.data.videoroom`: joined, attached, event, updated, talking, destroyed, ...
    pub(crate) fn videoroom(&self) -> Option<&str> {
        self.plugin.as_ref()?.get("videoroom")?.as_str()
    }

    pub(crate) fn field(&self, name: &str) -> Option<&Value> {
        self.plugin.as_ref()?.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plugin_error_inside_an_event() {
        let msg = Incoming::parse(
            r#"{"janus":"event","session_id":1,"transaction":"t","sender":2,
                "plugindata":{"plugin":"janus.plugin.videoroom",
                "data":{"videoroom":"event","error_code":433,"error":"Unauthorized (wrong pin)"}}}"#,
        );
        let Ok(msg) = msg else {
            panic!("{msg:?}");
        };
        assert_eq!(
            msg.plugin_error(),
            Some((433, "Unauthorized (wrong pin)".into()))
        );
        assert_eq!(msg.videoroom(), Some("event"));
        assert_eq!((msg.session_id, msg.sender), (Some(1), Some(2)));
    }

    #[test]
    fn rejects_what_is_not_a_janus_message() {
        assert_eq!(Incoming::parse("nope"), Err(WireError::NotJson));
        assert_eq!(Incoming::parse("[1,2]"), Err(WireError::NoType));
        assert_eq!(Incoming::parse(r#"{"janus":5}"#), Err(WireError::NoType));
        assert!(Incoming::parse(r#"{"janus":"ack","session_id":"x"}"#).is_ok());
    }
}
