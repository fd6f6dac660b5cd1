//! Pixel formats in and out of I420: camera formats (YUYV, NV12, RGB, RGBA) to I420, I420 to
//! RGBA for display, and I420 scaling. Colour conversion uses the `yuv` crate (SIMD, maintained);
//! BT.601 limited range, the convention of WebRTC's VP8 streams.
//!
//! Buffer sizes are checked here, before any conversion: camera drivers and files are outside
//! the process, and a short buffer must be an error, not a panic.

use yuv::{
    BufferStoreMut, YuvConversionMode, YuvPackedImage, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use super::I420Frame;
use crate::MediaError;

/// A camera's pixel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2, Y0 U Y1 V (most USB webcams' uncompressed mode).
    Yuyv,
    /// Planar Y, then interleaved UV at quarter resolution.
    Nv12,
    /// Three bytes per pixel.
    Rgb24,
    /// Four bytes per pixel.
    Rgba,
    /// Already I420.
    I420,
    /// Motion JPEG: one JPEG image per frame (what many webcams send at 720p).
    Mjpeg,
}

impl PixelFormat {
    /// Bytes a tightly packed image of this size needs.
    pub fn frame_len(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        match self {
            Self::Yuyv => w * h * 2,
            Self::Nv12 | Self::I420 => w * h * 3 / 2,
            Self::Rgb24 => w * h * 3,
            Self::Rgba => w * h * 4,
            // Compressed: any length; the decoder checks the data.
            Self::Mjpeg => 0,
        }
    }
}

fn conversion_error(what: impl std::fmt::Display) -> MediaError {
    MediaError::Codec {
        codec: "pixel conversion",
        reason: what.to_string(),
    }
}

/// Convert one tightly packed camera image to I420.
pub fn to_i420(
    format: PixelFormat,
    data: &[u8],
    width: u32,
    height: u32,
) -> Result<I420Frame, MediaError> {
    let mut frame = I420Frame::black(width, height)?;
    let needed = format.frame_len(width, height);
    if data.len() < needed {
        return Err(conversion_error(format!(
            "{format:?} {width}x{height} needs {needed} bytes, got {}",
            data.len()
        )));
    }
    if format == PixelFormat::Mjpeg {
        return mjpeg_to_i420(data, width, height);
    }
    let data = &data[..needed];
    if format == PixelFormat::I420 {
        return I420Frame::from_bytes(width, height, data.to_vec());
    }
    if format == PixelFormat::Nv12 {
        nv12_to_i420(data, &mut frame);
        return Ok(frame);
    }
    let (y, u, v) = frame.planes_mut();
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: width / 2,
        width,
        height,
    };
    let (range, matrix, mode) = (
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    );
    match format {
        PixelFormat::Yuyv => {
            let packed = YuvPackedImage {
                yuy: data,
                yuy_stride: width * 2,
                width,
                height,
            };
            yuv::yuyv422_to_yuv420(&mut planar, &packed)
        }
        PixelFormat::Rgb24 => yuv::rgb_to_yuv420(&mut planar, data, width * 3, range, matrix, mode),
        _ => yuv::rgba_to_yuv420(&mut planar, data, width * 4, range, matrix, mode),
    }
    .map_err(conversion_error)?;
    drop(planar);
    Ok(frame)
}

/// Decode one JPEG image (pure Rust, `zune-jpeg`) and convert it; a size other than announced
/// is an error, as is any damage the decoder finds.
fn mjpeg_to_i420(data: &[u8], width: u32, height: u32) -> Result<I420Frame, MediaError> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let rgb = decoder
        .decode()
        .map_err(|e| conversion_error(format!("MJPEG: {e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| conversion_error("MJPEG: no image header"))?;
    if (u32::from(info.width), u32::from(info.height)) != (width, height) {
        return Err(conversion_error(format!(
            "MJPEG frame is {}x{}, expected {width}x{height}",
            info.width, info.height
        )));
    }
    to_i420(PixelFormat::Rgb24, &rgb, width, height)
}

fn nv12_to_i420(data: &[u8], frame: &mut I420Frame) {
    let luma = (frame.width() * frame.height()) as usize;
    let (y, u, v) = frame.planes_mut();
    y.copy_from_slice(&data[..luma]);
    for ((pair, u), v) in data[luma..]
        .chunks_exact(2)
        .zip(u.iter_mut())
        .zip(v.iter_mut())
    {
        *u = pair[0];
        *v = pair[1];
    }
}

/// Convert an I420 frame to RGBA for display (`out` is resized to width × height × 4).
pub fn i420_to_rgba(frame: &I420Frame, out: &mut Vec<u8>) -> Result<(), MediaError> {
    let (w, h) = (frame.width(), frame.height());
    out.resize((w * h * 4) as usize, 0);
    let (y, u, v) = frame.planes();
    let planar = YuvPlanarImage {
        y_plane: y,
        y_stride: w,
        u_plane: u,
        u_stride: w / 2,
        v_plane: v,
        v_stride: w / 2,
        width: w,
        height: h,
    };
    yuv::yuv420_to_rgba(
        &planar,
        out,
        w * 4,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
    )
    .map_err(conversion_error)
}

/// Scale an I420 frame to another (even) size, bilinear, per plane.
pub fn scale_i420(frame: &I420Frame, width: u32, height: u32) -> Result<I420Frame, MediaError> {
    let mut out = I420Frame::black(width, height)?;
    out.timestamp_us = frame.timestamp_us;
    let (sw, sh) = (frame.width(), frame.height());
    let (sy, su, sv) = frame.planes();
    let (dy, du, dv) = out.planes_mut();
    scale_plane(sy, sw, sh, dy, width, height);
    scale_plane(su, sw / 2, sh / 2, du, width / 2, height / 2);
    scale_plane(sv, sw / 2, sh / 2, dv, width / 2, height / 2);
    Ok(out)
}

/// Bilinear resampling of one 8-bit plane in 16.16 fixed point, pixel centres aligned.
fn scale_plane(src: &[u8], sw: u32, sh: u32, dst: &mut [u8], dw: u32, dh: u32) {
    let step_x = (u64::from(sw) << 16) / u64::from(dw.max(1));
    let step_y = (u64::from(sh) << 16) / u64::from(dh.max(1));
    let max_x = u64::from(sw.saturating_sub(1)) << 16;
    let max_y = u64::from(sh.saturating_sub(1)) << 16;
    for y in 0..dh as u64 {
        let fy = ((y * step_y + step_y / 2).saturating_sub(1 << 15)).min(max_y);
        let (y0, wy) = ((fy >> 16) as usize, fy & 0xffff);
        let y1 = (y0 + 1).min(sh as usize - 1);
        let (row0, row1) = (&src[y0 * sw as usize..], &src[y1 * sw as usize..]);
        let out = &mut dst[(y * u64::from(dw)) as usize..((y + 1) * u64::from(dw)) as usize];
        for (x, o) in out.iter_mut().enumerate() {
            let fx = ((x as u64 * step_x + step_x / 2).saturating_sub(1 << 15)).min(max_x);
            let (x0, wx) = ((fx >> 16) as usize, fx & 0xffff);
            let x1 = (x0 + 1).min(sw as usize - 1);
            let top = u64::from(row0[x0]) * (0x10000 - wx) + u64::from(row0[x1]) * wx;
            let bottom = u64::from(row1[x0]) * (0x10000 - wx) + u64::from(row1[x1]) * wx;
            let value = (top * (0x10000 - wy) + bottom * wy + (1 << 31)) >> 32;
            *o = value as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::psnr;
    use crate::video::{TestPattern, VideoSource, read_stamp};

    fn pattern_frame(w: u32, h: u32) -> I420Frame {
        TestPattern::new(w, h, 30)
            .expect("pattern")
            .next_frame()
            .expect("frame")
            .expect("endless")
    }

    #[test]
    fn rgba_round_trip_keeps_the_picture() -> Result<(), MediaError> {
        let frame = pattern_frame(640, 360);
        let mut rgba = Vec::new();
        i420_to_rgba(&frame, &mut rgba)?;
        assert_eq!(rgba.len(), 640 * 360 * 4);
        let back = to_i420(PixelFormat::Rgba, &rgba, 640, 360)?;
        let p = psnr(frame.planes().0, back.planes().0);
        // 8-bit RGB in between, chroma up- and down-sampled: about 35 dB is what that allows.
        assert!(p > 33.0, "luma PSNR {p:.1}");
        assert_eq!(read_stamp(&back).map(|s| s.counter), Some(0));
        let rgb: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let from_rgb = to_i420(PixelFormat::Rgb24, &rgb, 640, 360)?;
        assert_eq!(from_rgb.planes().0, back.planes().0);
        Ok(())
    }

    #[test]
    fn yuyv_and_nv12_carry_luma_exactly() -> Result<(), MediaError> {
        let frame = pattern_frame(64, 48);
        let (y, u, v) = frame.planes();
        let (w, h) = (64usize, 48usize);
        // Pack YUYV (chroma repeated on both rows of a pair) and NV12 from the I420 planes.
        let mut yuyv = Vec::with_capacity(w * h * 2);
        for row in 0..h {
            for pair in 0..w / 2 {
                let c = (row / 2) * (w / 2) + pair;
                yuyv.extend([y[row * w + 2 * pair], u[c], y[row * w + 2 * pair + 1], v[c]]);
            }
        }
        let mut nv12 = y.to_vec();
        nv12.extend(u.iter().zip(v).flat_map(|(a, b)| [*a, *b]));
        let from_yuyv = to_i420(PixelFormat::Yuyv, &yuyv, 64, 48)?;
        let from_nv12 = to_i420(PixelFormat::Nv12, &nv12, 64, 48)?;
        assert_eq!(from_yuyv.planes().0, y);
        assert_eq!(from_nv12.as_bytes(), frame.as_bytes());
        assert!(psnr(from_yuyv.planes().1, u) > 45.0);
        Ok(())
    }

    #[test]
    fn scaling_keeps_the_stamp_readable() -> Result<(), MediaError> {
        let frame = pattern_frame(640, 360);
        for (w, h) in [(320, 180), (1280, 720), (480, 270)] {
            let scaled = scale_i420(&frame, w, h)?;
            assert_eq!((scaled.width(), scaled.height()), (w, h));
            assert_eq!(read_stamp(&scaled).map(|s| s.counter), Some(0), "{w}x{h}");
        }
        let round = scale_i420(&scale_i420(&frame, 1280, 720)?, 640, 360)?;
        let p = psnr(frame.planes().0, round.planes().0);
        assert!(p > 30.0, "up and down again: {p:.1} dB");
        Ok(())
    }

    #[test]
    fn short_buffers_are_errors() {
        for format in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Rgb24,
            PixelFormat::Rgba,
            PixelFormat::I420,
        ] {
            let short = vec![0u8; format.frame_len(64, 48) - 1];
            assert!(to_i420(format, &short, 64, 48).is_err(), "{format:?}");
        }
        assert!(
            to_i420(PixelFormat::Rgba, &[0; 16], 3, 1).is_err(),
            "odd size"
        );
    }

    #[test]
    fn mjpeg_frames_decode_to_the_picture() -> Result<(), MediaError> {
        let frame = pattern_frame(640, 360);
        let mut rgba = Vec::new();
        i420_to_rgba(&frame, &mut rgba)?;
        let rgb: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&rgb, 640, 360, jpeg_encoder::ColorType::Rgb)
            .expect("jpeg encoding");
        let decoded = to_i420(PixelFormat::Mjpeg, &jpeg, 640, 360)?;
        assert_eq!(read_stamp(&decoded).map(|s| s.counter), Some(0));
        let p = psnr(frame.planes().0, decoded.planes().0);
        assert!(p > 30.0, "luma PSNR {p:.1}");
        assert!(
            to_i420(PixelFormat::Mjpeg, &jpeg, 320, 180).is_err(),
            "size mismatch"
        );
        Ok(())
    }

    #[test]
    fn damaged_mjpeg_is_an_error() {
        assert!(to_i420(PixelFormat::Mjpeg, &[0xff, 0xd8, 0xff, 0xe0, 0, 0], 64, 48).is_err());
        assert!(to_i420(PixelFormat::Mjpeg, b"not a jpeg", 64, 48).is_err());
    }
}
