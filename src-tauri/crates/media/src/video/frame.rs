//! An I420 (YUV 4:2:0, planar) frame: full-resolution luma, quarter-resolution chroma.

use crate::MediaError;

/// One video frame in I420 layout, planes packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    data: Vec<u8>,
    /// When the frame was captured, in microseconds on the capturing side's media clock.
    pub timestamp_us: u64,
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "I420Frame({}x{} @ {} us)",
            self.width, self.height, self.timestamp_us
        )
    }
}

impl I420Frame {
    /// A black frame. Both dimensions must be even and non-zero (4:2:0 chroma halves them).
    pub fn black(width: u32, height: u32) -> Result<Self, MediaError> {
        let len = Self::byte_len(width, height)?;
        let luma = (width * height) as usize;
        let mut data = vec![128; len];
        data[..luma].fill(16);
        Ok(Self {
            width,
            height,
            data,
            timestamp_us: 0,
        })
    }

    /// Wrap packed I420 bytes (Y, then U, then V).
    pub fn from_bytes(width: u32, height: u32, data: Vec<u8>) -> Result<Self, MediaError> {
        let len = Self::byte_len(width, height)?;
        if data.len() != len {
            return Err(MediaError::Codec {
                codec: "i420",
                reason: format!("{width}x{height} needs {len} bytes, got {}", data.len()),
            });
        }
        Ok(Self {
            width,
            height,
            data,
            timestamp_us: 0,
        })
    }

    fn byte_len(width: u32, height: u32) -> Result<usize, MediaError> {
        if width == 0
            || height == 0
            || !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
            || width > 8192
            || height > 8192
        {
            return Err(MediaError::Codec {
                codec: "i420",
                reason: format!("{width}x{height}: dimensions must be even, 2..=8192"),
            });
        }
        Ok((width * height * 3 / 2) as usize)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// All bytes: Y, U, V.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The three planes (Y, U, V).
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let luma = (self.width * self.height) as usize;
        let (y, uv) = self.data.split_at(luma);
        let (u, v) = uv.split_at(luma / 4);
        (y, u, v)
    }

    /// The three planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let luma = (self.width * self.height) as usize;
        let (y, uv) = self.data.split_at_mut(luma);
        let (u, v) = uv.split_at_mut(luma / 4);
        (y, u, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_have_their_sizes() -> Result<(), MediaError> {
        let f = I420Frame::black(640, 360)?;
        let (y, u, v) = f.planes();
        assert_eq!((y.len(), u.len(), v.len()), (230_400, 57_600, 57_600));
        assert!(I420Frame::black(641, 360).is_err());
        assert!(I420Frame::black(0, 360).is_err());
        assert!(I420Frame::from_bytes(2, 2, vec![0; 5]).is_err());
        Ok(())
    }
}
