//! YUV4MPEG2 (`.y4m`) files: uncompressed 4:2:0 video, the format Chromium's fake camera reads
//! (`--use-file-for-fake-video-capture`), so both sides of a comparison can be fed the same frames.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{I420Frame, VideoSink, VideoSource};
use crate::MediaError;

/// Frames from a `.y4m` file, optionally looping.
pub struct Y4mSource {
    path: PathBuf,
    reader: BufReader<File>,
    header_len: u64,
    width: u32,
    height: u32,
    fps: (u32, u32),
    looping: bool,
    frames_read: u64,
}

fn parse_fraction(text: &str) -> Option<(u32, u32)> {
    let (n, d) = text.split_once(':')?;
    let (n, d) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0 && d > 0).then_some((n, d))
}

impl Y4mSource {
    /// Open a 4:2:0 `.y4m` file.
    pub fn open(path: &Path, looping: bool) -> Result<Self, MediaError> {
        let file = File::open(path).map_err(|e| MediaError::file(path, e))?;
        let mut reader = BufReader::new(file);
        let mut header = Vec::new();
        reader
            .by_ref()
            .take(1024)
            .read_until(b'\n', &mut header)
            .map_err(|e| MediaError::file(path, e))?;
        let text =
            std::str::from_utf8(&header).map_err(|_| MediaError::file(path, "not a Y4M file"))?;
        let mut fields = text.trim_end().split(' ');
        if fields.next() != Some("YUV4MPEG2") || !text.ends_with('\n') {
            return Err(MediaError::file(path, "not a Y4M file"));
        }
        let (mut width, mut height, mut fps) = (0, 0, (30, 1));
        for field in fields {
            let (tag, value) = field.split_at(field.len().min(1));
            match tag {
                "W" => width = value.parse().unwrap_or(0),
                "H" => height = value.parse().unwrap_or(0),
                "F" => fps = parse_fraction(value).unwrap_or(fps),
                "C" if !value.starts_with("420") => {
                    return Err(MediaError::file(
                        path,
                        format!("colour space C{value}; only 4:2:0 is supported"),
                    ));
                }
                "I" if value != "p" && value != "?" => {
                    return Err(MediaError::file(path, "interlaced video is not supported"));
                }
                _ => {}
            }
        }
        I420Frame::black(width, height).map_err(|e| MediaError::file(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            header_len: header.len() as u64,
            width,
            height,
            fps,
            looping,
            frames_read: 0,
        })
    }

    /// Frame size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Frame rate as a fraction.
    pub fn fps(&self) -> (u32, u32) {
        self.fps
    }

    fn rewind(&mut self) -> Result<(), MediaError> {
        use std::io::Seek;
        self.reader
            .seek(std::io::SeekFrom::Start(self.header_len))
            .map(|_| ())
            .map_err(|e| MediaError::file(&self.path, e))
    }

    fn read_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        let mut marker = Vec::new();
        let n = self
            .reader
            .by_ref()
            .take(256)
            .read_until(b'\n', &mut marker)
            .map_err(|e| MediaError::file(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        if !marker.starts_with(b"FRAME") || marker.last() != Some(&b'\n') {
            return Err(MediaError::file(&self.path, "damaged frame header"));
        }
        let mut data = vec![0; (self.width * self.height * 3 / 2) as usize];
        self.reader
            .read_exact(&mut data)
            .map_err(|_| MediaError::file(&self.path, "file ends inside a frame"))?;
        let mut frame = I420Frame::from_bytes(self.width, self.height, data)?;
        frame.timestamp_us =
            self.frames_read * 1_000_000 * u64::from(self.fps.1) / u64::from(self.fps.0);
        self.frames_read += 1;
        Ok(Some(frame))
    }
}

impl VideoSource for Y4mSource {
    fn next_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        match self.read_frame()? {
            None if self.looping && self.frames_read > 0 => {
                self.rewind()?;
                self.read_frame()
            }
            other => Ok(other),
        }
    }
}

/// Writes frames into a `.y4m` file. The size is fixed by the first frame, or in advance with
/// [`Y4mSink::sized`].
pub struct Y4mSink {
    path: PathBuf,
    writer: BufWriter<File>,
    fps: (u32, u32),
    size: Option<(u32, u32)>,
    /// Whether the header is written.
    started: bool,
}

impl Y4mSink {
    /// Create (or replace) the file; `fps` goes into the header.
    pub fn create(path: &Path, fps: (u32, u32)) -> Result<Self, MediaError> {
        let file = File::create(path).map_err(|e| MediaError::file(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            writer: BufWriter::new(file),
            fps,
            size: None,
            started: false,
        })
    }

    /// Every picture at `size`, whatever size its first one has (pictures of another size are
    /// scaled to it).
    pub fn sized(mut self, size: (u32, u32)) -> Self {
        self.size = Some(size);
        self
    }

    /// Flush everything to disk.
    pub fn finish(mut self) -> Result<(), MediaError> {
        self.writer
            .flush()
            .map_err(|e| MediaError::file(&self.path, e))
    }
}

impl VideoSink for Y4mSink {
    fn write(&mut self, frame: &I420Frame) -> Result<(), MediaError> {
        let size = (frame.width(), frame.height());
        let io = |e: std::io::Error| MediaError::file(&self.path, e);
        let file_size = *self.size.get_or_insert(size);
        if !self.started {
            let header = format!(
                "YUV4MPEG2 W{} H{} F{}:{} Ip A1:1 C420jpeg\n",
                file_size.0, file_size.1, self.fps.0, self.fps.1
            );
            self.writer.write_all(header.as_bytes()).map_err(io)?;
            self.started = true;
        }
        self.writer.write_all(b"FRAME\n").map_err(io)?;
        if file_size == size {
            return self.writer.write_all(frame.as_bytes()).map_err(io);
        }
        // A Y4M file holds one picture size, but senders change theirs (browsers do under load
        // or on a slow link, simulcast starts small): other sizes are scaled to the file's, as a
        // window of fixed size shows them, rather than ending the recording.
        let scaled = super::convert::scale_i420(frame, file_size.0, file_size.1)?;
        self.writer.write_all(scaled.as_bytes()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{TestPattern, read_stamp};

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("runde-y4m-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trip_and_loop() -> Result<(), MediaError> {
        let path = temp("rt.y4m");
        let mut pattern = TestPattern::new(96, 64, 25)?;
        let mut sink = Y4mSink::create(&path, (25, 1))?;
        let mut sent = Vec::new();
        for _ in 0..3 {
            let f = pattern.next_frame()?.expect("endless");
            sink.write(&f)?;
            sent.push(f);
        }
        sink.finish()?;
        let mut source = Y4mSource::open(&path, true)?;
        assert_eq!((source.size(), source.fps()), ((96, 64), (25, 1)));
        for i in 0..5 {
            let f = source.next_frame()?.expect("looping");
            assert_eq!(f.as_bytes(), sent[i % 3].as_bytes(), "frame {i}");
            assert_eq!(read_stamp(&f).map(|s| s.counter), Some((i % 3) as u32));
        }
        let mut once = Y4mSource::open(&path, false)?;
        let frames = std::iter::from_fn(|| once.next_frame().ok().flatten()).count();
        std::fs::remove_file(&path).ok();
        assert_eq!(frames, 3);
        Ok(())
    }

    /// A sender that changes its picture size does not end the recording: the later, smaller
    /// pictures are scaled to the file's size.
    #[test]
    fn a_size_change_is_scaled_to_the_files_size() -> Result<(), MediaError> {
        let path = temp("size-change");
        let mut big = TestPattern::new(640, 360, 30)?;
        let mut small = TestPattern::new(320, 180, 30)?;
        let mut sink = Y4mSink::create(&path, (30, 1))?;
        for pattern in [&mut big, &mut small] {
            for _ in 0..3 {
                let frame = pattern.next_frame()?.expect("endless");
                sink.write(&frame)?;
            }
        }
        sink.finish()?;
        let mut file = Y4mSource::open(&path, false)?;
        let mut frames = 0;
        while let Some(frame) = file.next_frame()? {
            assert_eq!((frame.width(), frame.height()), (640, 360));
            frames += 1;
        }
        assert_eq!(frames, 6);
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    /// A file of a fixed size: a simulcast picture that starts small is written at the size
    /// asked for from its first frame on, and the stamp in it still reads.
    #[test]
    fn a_sized_file_holds_every_picture_at_its_size() -> Result<(), MediaError> {
        let path = temp("sized");
        let mut small = TestPattern::new(320, 180, 30)?;
        let mut big = TestPattern::new(640, 360, 30)?;
        let mut sink = Y4mSink::create(&path, (30, 1))?.sized((640, 360));
        for pattern in [&mut small, &mut big] {
            for _ in 0..2 {
                let frame = pattern.next_frame()?.expect("endless");
                sink.write(&frame)?;
            }
        }
        sink.finish()?;
        let mut file = Y4mSource::open(&path, false)?;
        assert_eq!(file.size(), (640, 360));
        let mut stamps = Vec::new();
        while let Some(frame) = file.next_frame()? {
            assert_eq!((frame.width(), frame.height()), (640, 360));
            stamps.push(read_stamp(&frame).map(|s| s.counter));
        }
        let _ = std::fs::remove_file(&path);
        assert_eq!(stamps, [Some(0), Some(1), Some(0), Some(1)]);
        Ok(())
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let cases: [(&str, &[u8], &str); 4] = [
            ("text", b"hello\n", "not a Y4M"),
            ("444", b"YUV4MPEG2 W4 H4 C444\n", "only 4:2:0"),
            ("odd", b"YUV4MPEG2 W5 H4\n", "even"),
            (
                "short",
                b"YUV4MPEG2 W4 H4\nFRAME\n123",
                "ends inside a frame",
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = temp(name);
            std::fs::write(&path, bytes).expect("temp file");
            let err = Y4mSource::open(&path, false)
                .and_then(|mut s| s.next_frame().map(|_| ()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            std::fs::remove_file(&path).ok();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }
}
