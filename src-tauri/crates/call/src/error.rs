//! Errors the user can act on. They cross into the UI as a `code` plus data, and the UI shows a
//! translated message for each code; the UI never matches on message text.

use serde::Serialize;

/// An error the user can do something about. Serialises as `{ "code": "...", ...fields }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "code", rename_all_fields = "camelCase")]
pub enum UserError {
    /// Nothing was pasted.
    #[error("the link is empty")]
    LinkEmpty,
    /// The pasted text is longer than any real link.
    #[error("the link is too long")]
    LinkTooLong,
    /// The pasted text is not a link.
    #[error("this is not a link")]
    NotALink,
    /// The link's scheme is not one Runde joins through.
    #[error("links starting with '{scheme}:' cannot be joined")]
    UnsupportedScheme {
        /// The scheme that was given.
        scheme: String,
    },
    /// The link names no server.
    #[error("the link names no server")]
    LinkMissingServer,
    /// Unencrypted transport to another machine.
    #[error("the link uses an unencrypted connection to another machine")]
    InsecureTransport,
    /// The link carried a password or access code; it was not used.
    #[error("the link contains a password; enter it in the password field instead")]
    PasswordInLink {
        /// The link with the secret removed.
        without_secret: String,
    },
    /// The room named by the link is not a valid room identifier.
    #[error("the room name in the link is not valid")]
    InvalidRoom,
}

impl UserError {
    /// The stable code the UI translates, as it appears in the serialised form.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LinkEmpty => "LinkEmpty",
            Self::LinkTooLong => "LinkTooLong",
            Self::NotALink => "NotALink",
            Self::UnsupportedScheme { .. } => "UnsupportedScheme",
            Self::LinkMissingServer => "LinkMissingServer",
            Self::InsecureTransport => "InsecureTransport",
            Self::PasswordInLink { .. } => "PasswordInLink",
            Self::InvalidRoom => "InvalidRoom",
        }
    }
}

impl From<runde_connect::LinkError> for UserError {
    fn from(e: runde_connect::LinkError) -> Self {
        use runde_connect::LinkError as L;
        match e {
            L::Empty => Self::LinkEmpty,
            L::TooLong { .. } => Self::LinkTooLong,
            L::NotALink => Self::NotALink,
            L::UnsupportedScheme { scheme } => Self::UnsupportedScheme { scheme },
            L::MissingHost => Self::LinkMissingServer,
            L::InsecureTransport => Self::InsecureTransport,
            L::PasswordInLink { without_secret } => Self::PasswordInLink { without_secret },
            L::InvalidRoom => Self::InvalidRoom,
        }
    }
}
