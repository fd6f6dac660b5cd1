//! TURN over a byte stream (RFC 8656 §11.5, RFC 6062): how datagrams become a TCP or TLS stream
//! and back. Sans-IO: bytes in, whole messages out.
//!
//! Over UDP every datagram is one message. Over a stream, a message's own header says where it
//! ends: a STUN message is its 20-byte header plus the length in bytes 2–3; ChannelData is its
//! 4-byte header plus the length in bytes 2–3, padded to a multiple of 4 bytes (padding that UDP
//! may leave out and a stream must carry). The first two bits tell the two apart: `00` is STUN,
//! `01` ChannelData; anything else means the stream is broken, and a broken stream cannot be
//! resynchronised, so the connection is closed.

/// The largest message accepted either way (header included). Media datagrams fit a path's MTU
/// (about 1500 bytes); STUN messages are smaller still. A larger length means a broken or hostile
/// stream, and it would make us hold that much in memory.
pub const MAX_MESSAGE: usize = 8192;

const STUN_HEADER: usize = 20;
const CHANNEL_HEADER: usize = 4;

/// Why a stream or a datagram is not TURN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The first byte is neither STUN (`00`) nor ChannelData (`01`).
    #[error("not a STUN message or ChannelData (first byte {0:#04x})")]
    UnknownMessage(u8),
    /// A STUN message whose length is not a multiple of 4 (RFC 8489 §5).
    #[error("a STUN message of length {0}, not a multiple of 4")]
    UnalignedStun(usize),
    /// A message longer than [`MAX_MESSAGE`].
    #[error("a message of {0} bytes, more than the {MAX_MESSAGE} accepted")]
    TooLong(usize),
    /// A datagram shorter than its header says.
    #[error("a datagram of {got} bytes whose header says {needed}")]
    Truncated {
        /// The datagram's size.
        got: usize,
        /// What its header asks for.
        needed: usize,
    },
}

/// Where a message starting with `header` ends: (bytes of the message itself, bytes it takes on
/// a stream). `None` until 4 bytes are there.
fn message_size(header: &[u8]) -> Result<Option<(usize, usize)>, FramingError> {
    let (Some(&first), Some(&hi), Some(&lo)) = (header.first(), header.get(2), header.get(3))
    else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes([hi, lo]));
    let (size, on_stream) = match first >> 6 {
        0b00 if length % 4 != 0 => return Err(FramingError::UnalignedStun(length)),
        0b00 => (STUN_HEADER + length, STUN_HEADER + length),
        0b01 => {
            let size = CHANNEL_HEADER + length;
            (size, size.next_multiple_of(4))
        }
        _ => return Err(FramingError::UnknownMessage(first)),
    };
    if on_stream > MAX_MESSAGE {
        return Err(FramingError::TooLong(on_stream));
    }
    Ok(Some((size, on_stream)))
}

/// A datagram from the TURN client as it goes onto the stream: checked, and ChannelData padded
/// to a multiple of 4 bytes (padding a datagram carried already is kept, extra bytes dropped).
pub fn to_stream(datagram: &[u8]) -> Result<Vec<u8>, FramingError> {
    let Some((size, on_stream)) = message_size(datagram)? else {
        return Err(FramingError::Truncated {
            got: datagram.len(),
            needed: CHANNEL_HEADER,
        });
    };
    let Some(message) = datagram.get(..size) else {
        return Err(FramingError::Truncated {
            got: datagram.len(),
            needed: size,
        });
    };
    let mut framed = Vec::with_capacity(on_stream);
    framed.extend_from_slice(message);
    framed.resize(on_stream, 0);
    Ok(framed)
}

/// Cuts the byte stream from a TURN server into the datagrams its client expects: whole STUN
/// messages, and ChannelData without the stream's padding. Holds at most one message's worth of
/// bytes ([`MAX_MESSAGE`]) plus one read.
#[derive(Debug, Default)]
pub struct StreamDeframer {
    buffer: Vec<u8>,
    /// Set once the stream was found broken: nothing more comes out.
    broken: Option<FramingError>,
}

impl StreamDeframer {
    /// Add bytes as they were read.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.broken.is_none() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// The next whole message, `Ok(None)` while more bytes are needed, or the error that broke
    /// the stream (returned again on every later call: the connection must be closed).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(error) = self.broken {
            return Err(error);
        }
        let (size, on_stream) = match message_size(&self.buffer) {
            Ok(Some(sizes)) => sizes,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.broken = Some(error);
                self.buffer = Vec::new();
                return Err(error);
            }
        };
        if self.buffer.len() < on_stream {
            return Ok(None);
        }
        let mut message: Vec<u8> = self.buffer.drain(..on_stream).collect();
        message.truncate(size);
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::TestRng;

    /// A Binding request-like STUN message with `body` bytes of attributes.
    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend((0..12 + body).map(|i| i as u8));
        m
    }

    fn channel_data(payload: usize) -> Vec<u8> {
        let mut m = vec![0x40, 0x01];
        m.extend_from_slice(&(payload as u16).to_be_bytes());
        m.extend((0..payload).map(|i| (i * 7) as u8));
        m
    }

    fn drain(deframer: &mut StreamDeframer) -> Result<Vec<Vec<u8>>, FramingError> {
        let mut out = Vec::new();
        while let Some(m) = deframer.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn channel_data_is_padded_on_the_stream_and_unpadded_off_it() {
        let datagram = channel_data(5);
        let framed = to_stream(&datagram).expect("frames");
        assert_eq!(framed.len(), 12, "4 + 5, padded to 12");
        assert_eq!(&framed[..9], &datagram[..]);
        assert_eq!(&framed[9..], &[0, 0, 0]);
        // A datagram that carried its padding already is not padded twice.
        assert_eq!(to_stream(&framed).expect("frames"), framed);
        let mut deframer = StreamDeframer::default();
        deframer.push(&framed);
        assert_eq!(drain(&mut deframer), Ok(vec![datagram]));
    }

    #[test]
    fn stun_goes_as_it_is() {
        let message = stun(8);
        assert_eq!(to_stream(&message), Ok(message.clone()));
        assert_eq!(
            to_stream(&message[..10]),
            Err(FramingError::Truncated {
                got: 10,
                needed: 28
            })
        );
    }

    #[test]
    fn partial_reads_wait_and_several_messages_in_one_read_all_come_out() {
        let messages = [stun(0), channel_data(3), channel_data(160), stun(44)];
        let stream: Vec<u8> = messages
            .iter()
            .flat_map(|m| to_stream(m).expect("frames"))
            .collect();
        // One byte at a time.
        let mut deframer = StreamDeframer::default();
        let mut out = Vec::new();
        for byte in &stream {
            deframer.push(std::slice::from_ref(byte));
            out.extend(drain(&mut deframer).expect("valid"));
        }
        assert_eq!(out, messages);
        // All at once.
        let mut deframer = StreamDeframer::default();
        deframer.push(&stream);
        assert_eq!(drain(&mut deframer).expect("valid"), messages);
        // A header cut in the middle.
        let mut deframer = StreamDeframer::default();
        deframer.push(&stream[..22]);
        assert_eq!(
            drain(&mut deframer).expect("valid"),
            vec![messages[0].clone()]
        );
        deframer.push(&stream[22..]);
        assert_eq!(drain(&mut deframer).expect("valid"), messages[1..].to_vec());
    }

    #[test]
    fn a_broken_stream_stays_broken() {
        let mut deframer = StreamDeframer::default();
        deframer.push(&[0x80, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(
            deframer.next_message(),
            Err(FramingError::UnknownMessage(0x80))
        );
        deframer.push(&stun(0));
        assert_eq!(
            deframer.next_message(),
            Err(FramingError::UnknownMessage(0x80))
        );
        let mut deframer = StreamDeframer::default();
        deframer.push(&[0x00, 0x01, 0x00, 0x03]);
        assert_eq!(deframer.next_message(), Err(FramingError::UnalignedStun(3)));
    }

    #[test]
    fn oversized_lengths_are_refused_before_waiting_for_them() {
        let mut deframer = StreamDeframer::default();
        deframer.push(&[0x40, 0x00, 0xff, 0xff]);
        assert_eq!(deframer.next_message(), Err(FramingError::TooLong(65540)));
        assert_eq!(
            to_stream(&[0x00, 0x01, 0x3f, 0xfc]),
            Err(FramingError::TooLong(16400))
        );
        assert!(to_stream(&channel_data(MAX_MESSAGE - 4)).is_ok());
        assert_eq!(
            to_stream(&channel_data(MAX_MESSAGE - 3)),
            Err(FramingError::TooLong(MAX_MESSAGE + 4))
        );
    }

    /// The deterministic cousin of the `turn_framing` fuzz target: random and mutated streams,
    /// cut into random reads. Nothing panics, nothing longer than [`MAX_MESSAGE`] comes out, the
    /// buffer stays bounded, and an error is final.
    #[test]
    fn random_and_mutated_streams_never_panic() {
        let mut rng = TestRng::new(0x0007_e577);
        for round in 0..3_000 {
            let mut stream: Vec<u8> = (0..4)
                .flat_map(|i| {
                    let m = if i % 2 == 0 {
                        stun(4 * i)
                    } else {
                        channel_data(i * 13)
                    };
                    to_stream(&m).expect("frames")
                })
                .collect();
            let flips = if round % 3 == 0 {
                0
            } else {
                rng.next_u32() % 4
            };
            for _ in 0..flips {
                let at = rng.next_u32() as usize % stream.len();
                stream[at] = rng.next_u32() as u8;
            }
            if round % 5 == 0 {
                stream = (0..rng.next_u32() % 300)
                    .map(|_| rng.next_u32() as u8)
                    .collect();
            }
            let _ = to_stream(&stream);
            let mut deframer = StreamDeframer::default();
            let mut rest = &stream[..];
            let mut failed = false;
            while !rest.is_empty() {
                let n = (1 + rng.next_u32() as usize % 64).min(rest.len());
                deframer.push(&rest[..n]);
                rest = &rest[n..];
                loop {
                    match deframer.next_message() {
                        Ok(Some(m)) => {
                            assert!(!failed, "a message after an error");
                            assert!(m.len() <= MAX_MESSAGE);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                assert!(deframer.buffer.len() <= MAX_MESSAGE + 64);
            }
            if flips == 0 && round % 5 != 0 {
                assert!(!failed, "round {round}: a valid stream was refused");
            }
        }
    }
}
