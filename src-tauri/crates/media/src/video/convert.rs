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
    out.clear();
    append_rgba(frame, out)
}

/// Convert an I420 frame to RGBA after what `out` holds already (a message header, say), so
/// that the picture is written once, where it is sent from.
pub fn append_rgba(frame: &I420Frame, out: &mut Vec<u8>) -> Result<(), MediaError> {
    let (w, h) = (frame.width(), frame.height());
    let start = out.len();
    out.resize(start + (w * h * 4) as usize, 0);
    let out = &mut out[start..];
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

/// Bilinear resampling of one 8-bit plane, pixel centres aligned: positions in 16.16 fixed
/// point, weights in 1/256. Separable: each output row first blends its two source rows into a
/// 16-bit row (a loop the compiler vectorises), then each output pixel blends two neighbours of
/// that row, at positions computed once per call. This is the hot step of showing a large tile
/// and of making simulcast layers (docs/BENCHMARKS.md).
fn scale_plane(src: &[u8], sw: u32, sh: u32, dst: &mut [u8], dw: u32, dh: u32) {
    let (sw, sh, dw, dh) = (sw as usize, sh as usize, dw as usize, dh as usize);
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || src.len() < sw * sh {
        return;
    }
    let columns = taps(sw, dw);
    let rows = taps(sh, dh);
    // One extra column: the last pixel's right neighbour is itself.
    let mut blended = vec![0u16; sw + 1];
    for (out, &(y0, wy)) in dst.chunks_exact_mut(dw).zip(&rows) {
        let y1 = (y0 + 1).min(sh - 1);
        let top = &src[y0 * sw..(y0 + 1) * sw];
        let bottom = &src[y1 * sw..(y1 + 1) * sw];
        // 255 × 256 fits 16 bits.
        let (w_top, w_bottom) = (256 - wy as u16, wy as u16);
        for ((b, &t), &u) in blended.iter_mut().zip(top).zip(bottom) {
            *b = u16::from(t) * w_top + u16::from(u) * w_bottom;
        }
        blended[sw] = blended[sw - 1];
        for (o, &(x0, wx)) in out.iter_mut().zip(&columns) {
            let v = u32::from(blended[x0]) * (256 - wx) + u32::from(blended[x0 + 1]) * wx;
            *o = ((v + (1 << 15)) >> 16) as u8;
        }
    }
}

/// For each of `to` output positions along an axis of `from` source pixels: the source pixel
/// before it and the weight of the one after, in 1/256 (0 to 256).
fn taps(from: usize, to: usize) -> Vec<(usize, u32)> {
    let step = ((from as u64) << 16) / to as u64;
    let last = ((from - 1) as u64) << 16;
    (0..to as u64)
        .map(|i| {
            let at = (i * step + step / 2).saturating_sub(1 << 15).min(last);
            // Rounded: 256 (all of the next pixel) is a valid weight.
            ((at >> 16) as usize, (((at & 0xffff) + 0x80) >> 8) as u32)
        })
        .collect()
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

    /// Bilinear scaling in floating point, the same sampling positions: what `scale_plane`
    /// approximates in fixed point.
    fn scale_reference(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
        let at = |i: usize, s: usize, d: usize| {
            ((i as f64 + 0.5) * s as f64 / d as f64 - 0.5).clamp(0.0, (s - 1) as f64)
        };
        let mut out = Vec::with_capacity(dw * dh);
        for y in 0..dh {
            let fy = at(y, sh, dh);
            let (y0, wy) = (fy as usize, fy.fract());
            let y1 = (y0 + 1).min(sh - 1);
            for x in 0..dw {
                let fx = at(x, sw, dw);
                let (x0, wx) = (fx as usize, fx.fract());
                let x1 = (x0 + 1).min(sw - 1);
                let p = |x: usize, y: usize| f64::from(src[y * sw + x]);
                let top = p(x0, y0) * (1.0 - wx) + p(x1, y0) * wx;
                let bottom = p(x0, y1) * (1.0 - wx) + p(x1, y1) * wx;
                out.push((top * (1.0 - wy) + bottom * wy).round() as u8);
            }
        }
        out
    }

    #[test]
    fn scaling_matches_exact_bilinear_within_one_step() {
        // Noise, the hardest case for rounding: every neighbour differs.
        let (sw, sh) = (96, 54);
        let mut seed = 12345u32;
        let src: Vec<u8> = (0..sw * sh)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        for (dw, dh) in [(48, 27), (80, 45), (96, 54), (150, 100), (2, 2), (31, 7)] {
            let mut out = vec![0; dw * dh];
            scale_plane(&src, sw as u32, sh as u32, &mut out, dw as u32, dh as u32);
            let exact = scale_reference(&src, sw, sh, dw, dh);
            let worst = out
                .iter()
                .zip(&exact)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "{dw}x{dh}: off by {worst}");
        }
        let mut same = vec![0; sw * sh];
        scale_plane(&src, sw as u32, sh as u32, &mut same, sw as u32, sh as u32);
        assert_eq!(same, src, "the same size is a copy");
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
