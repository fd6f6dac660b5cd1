//! End-to-end encryption of media frames: the server relays what it cannot read.
//!
//! Sans-IO and independent of the transport: the sender encrypts each *encoded* frame before it
//! is packetised, the receiver decrypts after depacketisation.
//!
//! * **Call key** ([`CallKey`]): derived from an end-to-end passphrase that is separate from the
//!   room password (the server knows the room password; it must never learn the media key), with
//!   Argon2id (memory-hard) and the room's identity as salt, so the same passphrase gives a
//!   different key in every room.
//! * **Frames**: SFrame (RFC 9605, the `sframe` crate, AES-GCM-256 with SHA-512), each sender with
//!   its own key id (the key is derived per sender from the call key), a few leading bytes left
//!   in clear — what an SFU needs (VP8: 10 bytes of a keyframe, 3 of a delta frame, which say
//!   "keyframe" and the size; Opus: the 1-byte TOC) — and authenticated as SFrame metadata, so the
//!   server can read them but not change them.
//! * **Safety code** ([`CallKey::safety_code`]): 20 digits in groups of five, derived from the
//!   call key, for people to compare out of band: same code, same key.
//!
//! On the wire an encrypted frame is `clear prefix ‖ SFrame header ‖ ciphertext ‖ tag`.

use sframe::CipherSuite;
use sframe::frame::{EncryptedFrameView, MediaFrameView, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};

/// What kind of media a frame is (decides what stays in clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An Opus packet.
    Opus,
    /// A VP8 frame.
    Vp8,
}

/// Why a frame could not be encrypted or decrypted, or a key not derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E2eeError {
    /// The passphrase is too short to resist guessing.
    #[error("the passphrase is too short (at least {min} characters)")]
    WeakPassphrase {
        /// The minimum length.
        min: usize,
    },
    /// Key derivation failed.
    #[error("the key could not be derived: {0}")]
    Derivation(String),
    /// The frame is not an encrypted frame of ours, or was changed on the way.
    #[error("the frame could not be decrypted: {0}")]
    Undecryptable(String),
    /// Encryption failed.
    #[error("the frame could not be encrypted: {0}")]
    Encryption(String),
}

/// At least this many characters in an end-to-end passphrase.
pub const MIN_PASSPHRASE: usize = 12;
const CIPHER_SUITE: CipherSuite = CipherSuite::AesGcm256Sha512;
/// Argon2id parameters: 64 MiB, 3 passes, one lane (OWASP's first recommendation for Argon2id is
/// 19 MiB / 2 passes; we take more, as the key protects a whole call and is derived once).
const ARGON_MEMORY_KIB: u32 = 64 * 1024;
const ARGON_PASSES: u32 = 3;

/// The call's secret, shared by everyone who knows the end-to-end passphrase.
#[derive(Clone)]
pub struct CallKey([u8; 32]);

impl std::fmt::Debug for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallKey(…)")
    }
}

impl CallKey {
    /// Derive the call key from the passphrase and the room's identity (server origin and room,
    /// e.g. `wss://meet.example.org:443/1234`).
    pub fn derive(passphrase: &str, room_identity: &str) -> Result<Self, E2eeError> {
        if passphrase.chars().count() < MIN_PASSPHRASE {
            return Err(E2eeError::WeakPassphrase {
                min: MIN_PASSPHRASE,
            });
        }
        use sha2::Digest;
        // Argon2 wants a salt of at least 8 bytes: a hash of the room identity, domain-separated.
        let salt = sha2::Sha256::new()
            .chain_update(b"runde e2ee v1 room\0")
            .chain_update(room_identity.as_bytes())
            .finalize();
        let params = argon2::Params::new(ARGON_MEMORY_KIB, ARGON_PASSES, 1, Some(32))
            .map_err(|e| E2eeError::Derivation(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = [0u8; 32];
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
            .map_err(|e| E2eeError::Derivation(e.to_string()))?;
        Ok(Self(key))
    }

    /// A key from raw bytes (tests, and keys agreed by other means).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key itself, to hand to another implementation of the scheme (the browser peer of the
    /// interop tests). Never log or store it.
    pub fn expose_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// 20 digits in four groups of five, derived from the key: people compare them by voice or
    /// in writing; the same code means the same key (a 1 in 10^20 chance otherwise).
    pub fn safety_code(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"runde e2ee v1 safety code\0")
            .chain_update(self.0)
            .finalize();
        let mut digits = String::new();
        for chunk in digest.chunks(8).take(4) {
            let mut n = [0u8; 8];
            n.copy_from_slice(chunk);
            let group = u64::from_be_bytes(n) % 100_000;
            if !digits.is_empty() {
                digits.push(' ');
            }
            digits.push_str(&format!("{group:05}"));
        }
        digits
    }

    /// The key material for one sender's key id (SFrame derives its AEAD key and salt from it).
    fn sender_secret(&self, key_id: u64) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha512::new()
            .chain_update(b"runde e2ee v1 sender\0")
            .chain_update(self.0)
            .chain_update(key_id.to_be_bytes())
            .finalize()
            .to_vec()
    }
}

/// A participant's two key ids: audio (`2 × id`) and video (`2 × id + 1`). Janus's participant
/// ids are unique in a room, so no two senders share a key id (and so never a nonce).
pub fn sender_key_ids(participant: u64) -> [u64; 2] {
    let base = participant.wrapping_mul(2);
    [base, base.wrapping_add(1)]
}

/// How many leading bytes of an encoded frame stay in clear.
pub fn clear_prefix_len(kind: FrameKind, frame: &[u8]) -> usize {
    let wanted = match kind {
        FrameKind::Opus => 1,
        // VP8 (RFC 6386 9.1): bit 0 of the first byte is 0 for a keyframe, whose 3-byte tag is
        // followed by the start code and the picture size (10 bytes in all).
        FrameKind::Vp8 => {
            if frame.first().is_some_and(|b| b & 1 == 0) {
                10
            } else {
                3
            }
        }
    };
    wanted.min(frame.len())
}

/// The call key as it changes during a call: when the participants agree on a new passphrase
/// (after someone left, to keep them out of the rest of the call), senders seal with the new key
/// from their next frame, and receivers open with the new key or, while the others switch, the
/// one before. Cloning shares it.
#[derive(Clone)]
pub struct KeyChain(std::sync::Arc<Chain>);

struct Chain {
    generation: std::sync::atomic::AtomicU64,
    keys: std::sync::Mutex<(CallKey, Option<CallKey>)>,
}

impl std::fmt::Debug for KeyChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyChain(generation {})", self.generation())
    }
}

impl KeyChain {
    /// Starting with this key.
    pub fn new(key: CallKey) -> Self {
        Self(std::sync::Arc::new(Chain {
            generation: std::sync::atomic::AtomicU64::new(0),
            keys: std::sync::Mutex::new((key, None)),
        }))
    }

    /// Seal with `key` from now on; the current key becomes the previous one (still opened, so
    /// nobody's media goes dark while the others switch).
    pub fn rotate(&self, key: CallKey) {
        let mut keys = self.lock();
        let old = std::mem::replace(&mut keys.0, key);
        keys.1 = Some(old);
        self.0
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The key sealed with now.
    pub fn current(&self) -> CallKey {
        self.lock().0.clone()
    }

    /// How many times the key changed.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn both(&self) -> (u64, CallKey, Option<CallKey>) {
        let keys = self.lock();
        (self.generation(), keys.0.clone(), keys.1.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (CallKey, Option<CallKey>)> {
        // The keys are replaced whole; a panic elsewhere cannot leave them half-written.
        self.0
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Encrypts one sender's frames, with the newest key of its chain.
pub struct FrameEncryptor {
    chain: KeyChain,
    key_id: u64,
    generation: u64,
    key: EncryptionKey,
    counter: MonotonicCounter,
}

fn encryption_key(call: &CallKey, key_id: u64) -> Result<EncryptionKey, E2eeError> {
    EncryptionKey::derive_from(CIPHER_SUITE, key_id, call.sender_secret(key_id))
        .map_err(|e| E2eeError::Derivation(e.to_string()))
}

impl FrameEncryptor {
    /// For the sender with this key id ([`sender_key_ids`]), with one fixed key.
    pub fn new(call: &CallKey, key_id: u64) -> Result<Self, E2eeError> {
        Self::following(&KeyChain::new(call.clone()), key_id)
    }

    /// For the sender with this key id, sealing with whatever key `chain` holds now.
    pub fn following(chain: &KeyChain, key_id: u64) -> Result<Self, E2eeError> {
        let (generation, current, _) = chain.both();
        Ok(Self {
            chain: chain.clone(),
            key_id,
            generation,
            key: encryption_key(&current, key_id)?,
            counter: MonotonicCounter::default(),
        })
    }

    /// `clear prefix ‖ SFrame(rest)`, the prefix authenticated.
    pub fn encrypt(&mut self, kind: FrameKind, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        if self.chain.generation() != self.generation {
            let (generation, current, _) = self.chain.both();
            // A new key has its own nonces: the frame counter starts again.
            self.key = encryption_key(&current, self.key_id)?;
            self.counter = MonotonicCounter::default();
            self.generation = generation;
        }
        let (clear, secret) = frame.split_at(clear_prefix_len(kind, frame));
        let view = MediaFrameView::try_with_meta_data(&mut self.counter, secret, clear)
            .map_err(|e| E2eeError::Encryption(e.to_string()))?;
        let encrypted = view
            .encrypt(&self.key)
            .map_err(|e| E2eeError::Encryption(e.to_string()))?;
        // The crate lays the frame out as metadata (our clear prefix) ‖ header ‖ ciphertext ‖ tag.
        let out = encrypted.as_ref().to_vec();
        debug_assert_eq!(&out[..clear.len()], clear);
        Ok(out)
    }
}

/// A decrypted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The encoded frame as it was sealed.
    pub frame: Vec<u8>,
    /// It opened only with the key before the current one: its sender has not switched yet.
    pub with_previous_key: bool,
}

/// Per-sender decryption keys derived from one call key.
struct Opener {
    call: CallKey,
    keys: std::collections::BTreeMap<u64, DecryptionKey>,
}

impl Opener {
    fn new(call: CallKey) -> Self {
        Self {
            call,
            keys: std::collections::BTreeMap::new(),
        }
    }

    fn key(&mut self, key_id: u64) -> Result<&DecryptionKey, E2eeError> {
        use std::collections::btree_map::Entry;
        match self.keys.entry(key_id) {
            Entry::Occupied(slot) => Ok(slot.into_mut()),
            Entry::Vacant(slot) => {
                let key = DecryptionKey::derive_from(
                    CIPHER_SUITE,
                    key_id,
                    self.call.sender_secret(key_id),
                )
                .map_err(|e| E2eeError::Undecryptable(e.to_string()))?;
                Ok(slot.insert(key))
            }
        }
    }
}

/// Decrypts frames from the senders of one call.
pub struct FrameDecryptor {
    /// `None`: we have no key, and the room says its media is sealed.
    chain: Option<KeyChain>,
    generation: u64,
    current: Option<Opener>,
    previous: Option<Opener>,
}

impl FrameDecryptor {
    /// For a call with this (fixed) key.
    pub fn new(call: CallKey) -> Self {
        Self::following(KeyChain::new(call))
    }

    /// For a call whose key may change: frames open with the chain's current key or the one
    /// before.
    pub fn following(chain: KeyChain) -> Self {
        let (generation, current, previous) = chain.both();
        Self {
            chain: Some(chain),
            generation,
            current: Some(Opener::new(current)),
            previous: previous.map(Opener::new),
        }
    }

    /// For a call whose media is known to be sealed (the room requires end-to-end encryption)
    /// when we have no passphrase: nothing opens, and nothing reaches a decoder as if it were
    /// media.
    pub fn without_key() -> Self {
        Self {
            chain: None,
            generation: 0,
            current: None,
            previous: None,
        }
    }

    /// Which key of the chain is current (as of the last frame): changes with each rotation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The encoded frame, or why not (wrong key, not encrypted, changed on the way).
    pub fn decrypt(&mut self, kind: FrameKind, data: &[u8]) -> Result<Vec<u8>, E2eeError> {
        self.open(kind, data, |_| true).map(|o| o.frame)
    }

    /// The same for a frame the server says comes from `participant`: it opens only under one of
    /// that participant's key ids ([`sender_key_ids`]), so the server cannot pass one person's
    /// media off as another's.
    pub fn decrypt_from(
        &mut self,
        participant: u64,
        kind: FrameKind,
        data: &[u8],
    ) -> Result<Opened, E2eeError> {
        let theirs = sender_key_ids(participant);
        self.open(kind, data, |id| theirs.contains(&id))
    }

    fn open(
        &mut self,
        kind: FrameKind,
        data: &[u8],
        allowed: impl Fn(u64) -> bool,
    ) -> Result<Opened, E2eeError> {
        let fail = |e: &dyn std::fmt::Display| E2eeError::Undecryptable(e.to_string());
        let Some(chain) = &self.chain else {
            return Err(fail(&"sealed, and no passphrase was given"));
        };
        if chain.generation() != self.generation {
            let (generation, current, previous) = chain.both();
            // Keep the keys already derived for the key that is now the previous one.
            let kept = self.current.take().filter(|o| {
                previous
                    .as_ref()
                    .is_some_and(|p| p.expose_bytes() == o.call.expose_bytes())
            });
            self.previous = kept.or_else(|| previous.map(Opener::new));
            self.current = Some(Opener::new(current));
            self.generation = generation;
        }
        let prefix = clear_prefix_len(kind, data);
        let (clear, sealed) = data.split_at(prefix);
        let view = EncryptedFrameView::try_with_meta_data(sealed, clear).map_err(|e| fail(&e))?;
        let key_id: u64 = view.header().key_id();
        if !allowed(key_id) {
            return Err(fail(&format!("sealed by another sender (key id {key_id})")));
        }
        let mut last = fail(&"no key");
        for (opener, with_previous_key) in [(&mut self.current, false), (&mut self.previous, true)]
        {
            let Some(opener) = opener else { continue };
            match view.decrypt(opener.key(key_id)?) {
                Ok(media) => {
                    let mut frame = Vec::with_capacity(clear.len() + media.payload().len());
                    frame.extend_from_slice(clear);
                    frame.extend_from_slice(media.payload());
                    return Ok(Opened {
                        frame,
                        with_previous_key,
                    });
                }
                Err(e) => last = fail(&e),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "wss://meet.example.org:443/1234";
    const PASSPHRASE: &str = "korrekt Pferd Batterie Heftklammer";

    fn key() -> CallKey {
        CallKey::from_bytes([7; 32])
    }

    /// A VP8 keyframe's first ten bytes (frame tag, start code, 640×360), then "picture data".
    fn vp8_keyframe() -> Vec<u8> {
        let mut frame = vec![0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
        frame.extend((0..500u32).map(|i| (i * 7) as u8));
        frame
    }

    #[test]
    fn frames_round_trip_and_only_the_prefix_stays_readable() -> Result<(), E2eeError> {
        let mut senders = [
            FrameEncryptor::new(&key(), 1)?,
            FrameEncryptor::new(&key(), 2)?,
        ];
        let mut receiver = FrameDecryptor::new(key());
        let keyframe = vp8_keyframe();
        let delta = {
            let mut f = vec![0x31, 0x02, 0x00];
            f.extend([9u8; 300]);
            f
        };
        let opus = vec![0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        for (sender, kind, frame, clear) in [
            (0, FrameKind::Vp8, &keyframe, 10),
            (1, FrameKind::Vp8, &delta, 3),
            (0, FrameKind::Opus, &opus, 1),
        ] {
            let sealed = senders[sender].encrypt(kind, frame)?;
            assert_eq!(sealed[..clear], frame[..clear], "the prefix is in clear");
            // The rest is not: the payload does not appear in what the server sees.
            let rest = &frame[clear..];
            assert!(
                !sealed
                    .windows(rest.len().min(16))
                    .any(|w| w == &rest[..rest.len().min(16)])
            );
            assert_eq!(&receiver.decrypt(kind, &sealed)?, frame);
        }
        Ok(())
    }

    #[test]
    fn a_wrong_key_a_changed_prefix_or_a_plain_frame_do_not_decrypt() -> Result<(), E2eeError> {
        let mut sender = FrameEncryptor::new(&key(), 1)?;
        let sealed = sender.encrypt(FrameKind::Vp8, &vp8_keyframe())?;
        let mut wrong = FrameDecryptor::new(CallKey::from_bytes([8; 32]));
        assert!(matches!(
            wrong.decrypt(FrameKind::Vp8, &sealed),
            Err(E2eeError::Undecryptable(_))
        ));
        let mut right = FrameDecryptor::new(key());
        // The server may read the keyframe's size, not change it.
        let mut resized = sealed.clone();
        resized[6] ^= 0x01;
        assert!(right.decrypt(FrameKind::Vp8, &resized).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x80;
        assert!(right.decrypt(FrameKind::Vp8, &flipped).is_err());
        assert!(right.decrypt(FrameKind::Vp8, &vp8_keyframe()).is_err());
        assert!(right.decrypt(FrameKind::Opus, &[]).is_err());
        assert!(right.decrypt(FrameKind::Vp8, &sealed).is_ok());
        // A frame opens only as coming from the participant whose key id sealed it.
        let [_, video_of_3] = sender_key_ids(3);
        let from_3 =
            FrameEncryptor::new(&key(), video_of_3)?.encrypt(FrameKind::Vp8, &vp8_keyframe())?;
        assert!(right.decrypt_from(3, FrameKind::Vp8, &from_3).is_ok());
        assert!(right.decrypt_from(4, FrameKind::Vp8, &from_3).is_err());
        // Without a key nothing opens, not even a plain frame.
        let mut keyless = FrameDecryptor::without_key();
        assert!(keyless.decrypt(FrameKind::Vp8, &sealed).is_err());
        assert!(keyless.decrypt(FrameKind::Vp8, &vp8_keyframe()).is_err());
        Ok(())
    }

    #[test]
    fn the_passphrase_and_the_room_make_the_key_and_the_safety_code() -> Result<(), E2eeError> {
        let a = CallKey::derive(PASSPHRASE, ROOM)?;
        let b = CallKey::derive(PASSPHRASE, ROOM)?;
        let other_room = CallKey::derive(PASSPHRASE, "wss://meet.example.org:443/1235")?;
        let code = a.safety_code();
        assert_eq!(code, b.safety_code());
        assert_ne!(code, other_room.safety_code());
        assert_eq!(code.len(), 23, "{code}");
        assert!(
            code.split(' ')
                .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
        );
        // A frame sealed under one room's key does not open under another's.
        let sealed = FrameEncryptor::new(&a, 1)?.encrypt(FrameKind::Opus, &[0x78, 1, 2, 3])?;
        assert!(
            FrameDecryptor::new(other_room)
                .decrypt(FrameKind::Opus, &sealed)
                .is_err()
        );
        assert!(
            FrameDecryptor::new(b)
                .decrypt(FrameKind::Opus, &sealed)
                .is_ok()
        );
        assert_eq!(
            CallKey::derive("short", ROOM).err(),
            Some(E2eeError::WeakPassphrase {
                min: MIN_PASSPHRASE
            })
        );
        // The key never shows in a log.
        assert_eq!(format!("{a:?}"), "CallKey(…)");
        Ok(())
    }

    #[test]
    fn a_new_key_seals_from_the_next_frame_and_the_previous_one_still_opens()
    -> Result<(), E2eeError> {
        let first = CallKey::from_bytes([1; 32]);
        let second = CallKey::from_bytes([2; 32]);
        let alice_keys = KeyChain::new(first.clone());
        let bob_keys = KeyChain::new(first.clone());
        let [alice_audio, _] = sender_key_ids(5);
        let mut alice = FrameEncryptor::following(&alice_keys, alice_audio)?;
        let mut bob = FrameDecryptor::following(bob_keys.clone());
        let opus = [0x78, 1, 2, 3, 4];
        let opened =
            bob.decrypt_from(5, FrameKind::Opus, &alice.encrypt(FrameKind::Opus, &opus)?)?;
        assert!(!opened.with_previous_key);
        // Alice switches first: Bob, still on the first key, cannot open her new frames.
        alice_keys.rotate(second.clone());
        let sealed_new = alice.encrypt(FrameKind::Opus, &opus)?;
        assert!(bob.decrypt_from(5, FrameKind::Opus, &sealed_new).is_err());
        // Bob switches: Alice's new frames open with his current key; a frame Alice sealed before
        // (still on the way) opens with the previous one, and says so.
        let sealed_old =
            FrameEncryptor::new(&first, alice_audio)?.encrypt(FrameKind::Opus, &opus)?;
        bob_keys.rotate(second.clone());
        let opened = bob.decrypt_from(5, FrameKind::Opus, &sealed_new)?;
        assert_eq!(
            (opened.frame.as_slice(), opened.with_previous_key),
            (&opus[..], false)
        );
        let opened = bob.decrypt_from(5, FrameKind::Opus, &sealed_old)?;
        assert!(opened.with_previous_key);
        // Someone who only knows the first key (who left before the change) opens nothing new.
        let mut leaver = FrameDecryptor::new(first);
        assert!(
            leaver
                .decrypt_from(5, FrameKind::Opus, &sealed_new)
                .is_err()
        );
        // A second change forgets the first key.
        bob_keys.rotate(CallKey::from_bytes([3; 32]));
        assert!(bob.decrypt_from(5, FrameKind::Opus, &sealed_old).is_err());
        assert!(
            bob.decrypt_from(5, FrameKind::Opus, &sealed_new)?
                .with_previous_key
        );
        assert_eq!(bob_keys.generation(), 2);
        Ok(())
    }

    /// The deterministic cousin of the `sframe` fuzz target: random and mutated frames are
    /// refused (or, by astronomically small chance, decrypted), never a panic.
    #[test]
    fn random_and_mutated_frames_never_panic() -> Result<(), E2eeError> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut receiver = FrameDecryptor::new(key());
        let sealed = FrameEncryptor::new(&key(), 3)?.encrypt(FrameKind::Vp8, &vp8_keyframe())?;
        let mut opened = 0;
        for round in 0..5000 {
            let frame: Vec<u8> = if round % 2 == 0 {
                (0..next() % 64).map(|_| next() as u8).collect()
            } else {
                let mut f = sealed.clone();
                let at = (next() as usize) % f.len();
                f[at] ^= 1 << (next() % 8);
                f.truncate(f.len() - (next() as usize % 3));
                f
            };
            for kind in [FrameKind::Opus, FrameKind::Vp8] {
                opened += usize::from(receiver.decrypt(kind, &frame).is_ok());
            }
        }
        assert_eq!(opened, 0, "a forged or damaged frame was accepted");
        Ok(())
    }
}
