//! IVF files: already encoded VP8 frames, each with its size and timestamp. A sender that plays
//! an IVF file costs almost nothing (no capture, no encoding), so benchmarks can run many senders
//! on a small machine and measure only the receiver.
//!
//! Layout (little-endian): a 32-byte file header — `DKIF`, version 0, header length 32, fourcc
//! `VP80`, width and height (u16), time base rate and scale (u32), frame count, unused — then per
//! frame a 12-byte header (size u32, timestamp u64) and the frame.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::MediaError;
use crate::codec::vp8::EncodedFrame;

const FILE_HEADER: usize = 32;
const FRAME_HEADER: usize = 12;
/// A VP8 frame larger than this is not one (a 4K keyframe at high quality stays far below).
const MAX_FRAME: u32 = 8 << 20;

/// What the file header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Frames per second as rate / scale.
    pub fps: (u32, u32),
}

/// Parse a file header; `None` when these 32 bytes are not an IVF header for VP8.
pub fn parse_header(bytes: &[u8; FILE_HEADER]) -> Option<IvfHeader> {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let header = IvfHeader {
        width: u16_at(12),
        height: u16_at(14),
        fps: (u32_at(16), u32_at(20)),
    };
    let valid = &bytes[0..4] == b"DKIF"
        && u16_at(4) == 0
        && usize::from(u16_at(6)) == FILE_HEADER
        && &bytes[8..12] == b"VP80"
        && header.width > 0
        && header.height > 0
        && header.fps.0 > 0
        && header.fps.1 > 0;
    valid.then_some(header)
}

/// VP8 frames from an IVF file, optionally looping.
pub struct IvfSource {
    path: PathBuf,
    reader: BufReader<File>,
    header: IvfHeader,
    looping: bool,
    frames_read: u64,
}

impl IvfSource {
    /// Open an IVF file of VP8 frames.
    pub fn open(path: &Path, looping: bool) -> Result<Self, MediaError> {
        let file = File::open(path).map_err(|e| MediaError::file(path, e))?;
        let mut reader = BufReader::new(file);
        let mut bytes = [0u8; FILE_HEADER];
        reader
            .read_exact(&mut bytes)
            .map_err(|_| MediaError::file(path, "not an IVF file (too short)"))?;
        let header =
            parse_header(&bytes).ok_or_else(|| MediaError::file(path, "not an IVF file of VP8"))?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            header,
            looping,
            frames_read: 0,
        })
    }

    /// The file header.
    pub fn header(&self) -> IvfHeader {
        self.header
    }

    /// The next frame; `None` at the end (a looping source starts again, as long as the file has
    /// at least one frame).
    pub fn next_frame(&mut self) -> Result<Option<EncodedFrame>, MediaError> {
        let mut head = [0u8; FRAME_HEADER];
        match self.reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                if !self.looping || self.frames_read == 0 {
                    return Ok(None);
                }
                self.reader
                    .seek(SeekFrom::Start(FILE_HEADER as u64))
                    .map_err(|e| MediaError::file(&self.path, e))?;
                self.frames_read = 0;
                return self.next_frame();
            }
            Err(e) => return Err(MediaError::file(&self.path, e)),
        }
        let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if size == 0 || size > MAX_FRAME {
            return Err(MediaError::file(
                &self.path,
                format!(
                    "frame {} has an impossible size ({size} bytes)",
                    self.frames_read
                ),
            ));
        }
        let mut pts = [0u8; 8];
        pts.copy_from_slice(&head[4..12]);
        let mut data = vec![0u8; size as usize];
        self.reader
            .read_exact(&mut data)
            .map_err(|_| MediaError::file(&self.path, "the file ends inside a frame"))?;
        self.frames_read += 1;
        Ok(Some(EncodedFrame {
            // VP8's frame tag: the lowest bit of the first byte is 0 for a keyframe.
            keyframe: data[0] & 1 == 0,
            data,
            pts_90k: i64::from_le_bytes(pts),
            // IVF does not say which frames are references: every frame counts as one.
            temporal: None,
        }))
    }
}

/// Writes VP8 frames into an IVF file.
pub struct IvfWriter {
    path: PathBuf,
    writer: BufWriter<File>,
    frames: u32,
}

impl IvfWriter {
    /// Create the file for frames of this size and rate.
    pub fn create(path: &Path, header: IvfHeader) -> Result<Self, MediaError> {
        let file = File::create(path).map_err(|e| MediaError::file(path, e))?;
        let mut writer = BufWriter::new(file);
        let mut bytes = Vec::with_capacity(FILE_HEADER);
        bytes.extend_from_slice(b"DKIF");
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&(FILE_HEADER as u16).to_le_bytes());
        bytes.extend_from_slice(b"VP80");
        bytes.extend_from_slice(&header.width.to_le_bytes());
        bytes.extend_from_slice(&header.height.to_le_bytes());
        bytes.extend_from_slice(&header.fps.0.to_le_bytes());
        bytes.extend_from_slice(&header.fps.1.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes()); // frame count, written at the end
        bytes.extend_from_slice(&0u32.to_le_bytes());
        writer
            .write_all(&bytes)
            .map_err(|e| MediaError::file(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            frames: 0,
        })
    }

    /// Append one frame.
    pub fn write(&mut self, frame: &EncodedFrame) -> Result<(), MediaError> {
        let size = u32::try_from(frame.data.len())
            .map_err(|_| MediaError::file(&self.path, "frame too large"))?;
        self.writer
            .write_all(&size.to_le_bytes())
            .and_then(|()| self.writer.write_all(&frame.pts_90k.to_le_bytes()))
            .and_then(|()| self.writer.write_all(&frame.data))
            .map_err(|e| MediaError::file(&self.path, e))?;
        self.frames += 1;
        Ok(())
    }

    /// Write the frame count and close the file.
    pub fn finish(mut self) -> Result<(), MediaError> {
        let path = self.path.clone();
        let fail = |e: std::io::Error| MediaError::file(&path, e);
        self.writer.flush().map_err(fail)?;
        let mut file = self.writer.into_inner().map_err(|e| fail(e.into_error()))?;
        file.seek(SeekFrom::Start(24)).map_err(fail)?;
        file.write_all(&self.frames.to_le_bytes()).map_err(fail)?;
        file.flush().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder};
    use crate::video::{TestPattern, VideoSource, read_stamp};

    #[test]
    fn frames_written_are_read_back_decodable_and_in_a_loop() -> Result<(), MediaError> {
        let dir = std::env::temp_dir().join(format!("runde-ivf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| MediaError::file(&dir, e))?;
        let path = dir.join("pattern.ivf");
        let header = IvfHeader {
            width: 320,
            height: 180,
            fps: (30, 1),
        };
        let mut writer = IvfWriter::create(&path, header)?;
        let mut encoder = Vp8Encoder::new(Vp8Config::camera(320, 180))?;
        let mut pattern = TestPattern::new(320, 180, 30)?;
        for _ in 0..10 {
            let Some(frame) = pattern.next_frame()? else {
                break;
            };
            for encoded in encoder.encode(&frame)? {
                writer.write(&encoded)?;
            }
        }
        writer.finish()?;

        let mut source = IvfSource::open(&path, true)?;
        assert_eq!(source.header(), header);
        let mut decoder = Vp8Decoder::new()?;
        let mut counters = Vec::new();
        for i in 0..20 {
            let frame = source
                .next_frame()?
                .ok_or_else(|| MediaError::file(&path, "ended"))?;
            assert_eq!(frame.keyframe, i % 10 == 0, "frame {i}");
            if i < 10
                && let Some(picture) = decoder.decode(&frame.data)?
                && let Some(stamp) = read_stamp(&picture)
            {
                counters.push(stamp.counter);
            }
        }
        assert_eq!(counters, (0..10).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() -> Result<(), MediaError> {
        let dir = std::env::temp_dir().join(format!("runde-ivf-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| MediaError::file(&dir, e))?;
        let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, MediaError> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| MediaError::file(&path, e))?;
            Ok(path)
        };
        let mut good = Vec::new();
        good.extend_from_slice(b"DKIF\0\0\x20\0VP80");
        good.extend_from_slice(&[
            64, 0, 48, 0, 30, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert!(IvfSource::open(&write("short", b"DKIF")?, false).is_err());
        let mut h264 = good.clone();
        h264[8..12].copy_from_slice(b"H264");
        assert!(IvfSource::open(&write("h264", &h264)?, false).is_err());
        // A frame header claiming 4 GiB, and one that ends early.
        let mut huge = good.clone();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut source = IvfSource::open(&write("huge", &huge)?, true)?;
        assert!(source.next_frame().is_err());
        let mut cut = good.clone();
        cut.extend_from_slice(&[100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        let mut source = IvfSource::open(&write("cut", &cut)?, true)?;
        assert!(source.next_frame().is_err());
        // No frames at all: a looping source ends instead of spinning.
        let mut source = IvfSource::open(&write("empty", &good)?, true)?;
        assert!(source.next_frame()?.is_none());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
