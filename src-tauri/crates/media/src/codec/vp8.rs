//! VP8 through libvpx: a real-time encoder (one thread, CBR, error-resilient, keyframes on
//! request, bitrate and resolution changes at runtime, temporal layers) and a decoder.
//!
//! Temporal layers, three as libwebrtc sends them in simulcast: every fourth frame is a
//! base-layer frame (layer 0) that refers only to earlier base-layer frames; the frame halfway
//! between (layer 1) refers to the base-layer frame before it; the others (layer 2) refer to
//! those two. So a server can forward a quarter or half of the frames (for a viewer whose link
//! is narrow, or who does not see the picture), and a receiver that lost an upper-layer frame
//! shows the next frame it can decode without waiting for a retransmission or a keyframe.
//!
//! This is the crate's only `unsafe` code: calls into libvpx. Every block states the invariant it
//! relies on; the types below own the codec contexts and free them exactly once.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use crate::MediaError;
use crate::video::I420Frame;

/// 90 kHz, the RTP video clock.
const TIMEBASE: i64 = 90_000;

/// How to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Config {
    /// Frame width (even).
    pub width: u32,
    /// Frame height (even).
    pub height: u32,
    /// Frames per second the source delivers.
    pub fps: u32,
    /// Target bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// libvpx speed setting: higher is faster and coarser (real-time: 4..=16).
    pub cpu_used: i32,
    /// Temporal layers: 1 (every frame a reference), 2 (every second frame refers to the one
    /// before and nothing refers to it) or 3 (see the module's documentation).
    pub temporal_layers: u8,
}

impl Vp8Config {
    /// Settings for a camera stream: 360p30 at 800 kbit/s, speed 6 (measured in BENCHMARKS.md).
    pub fn camera(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            fps: 30,
            bitrate_kbps: 800,
            cpu_used: 6,
            temporal_layers: 3,
        }
    }
}

/// One encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The VP8 bitstream of the frame.
    pub data: Vec<u8>,
    /// Whether it is a keyframe (decodable on its own).
    pub keyframe: bool,
    /// Presentation time, 90 kHz.
    pub pts_90k: i64,
    /// Its temporal layer, when the stream has layers (`None`: every frame is a reference).
    pub temporal: Option<TemporalLayer>,
}

/// Where a frame sits in a stream with temporal layers (RFC 7741's TID and Y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemporalLayer {
    /// The layer: 0 is the base layer, which refers to base-layer frames only.
    pub id: u8,
    /// The frame refers to base-layer frames only (the "layer sync" bit): it is decodable
    /// whenever the base layer is, even after frames of its own layer were lost.
    pub sync: bool,
}

/// Updates none of the decoder's buffers: nothing will refer to this frame.
const UPDATE_NOTHING: u32 = vpx::VP8_EFLAG_NO_UPD_LAST
    | vpx::VP8_EFLAG_NO_UPD_GF
    | vpx::VP8_EFLAG_NO_UPD_ARF
    | vpx::VP8_EFLAG_NO_UPD_ENTROPY;

/// One frame of a temporal pattern: its layer, whether it is in sync (refers to base-layer
/// frames only), and its libvpx flags. The base layer is kept in LAST (and ARF, which only a
/// keyframe updates), layer 1 in GOLDEN.
struct PatternFrame {
    layer: u8,
    sync: bool,
    flags: u32,
}

/// Two layers: the base layer, then a frame that refers to it and updates nothing.
const TWO_LAYERS: [PatternFrame; 2] = [
    PatternFrame {
        layer: 0,
        sync: false,
        flags: vpx::VP8_EFLAG_NO_REF_GF | vpx::VP8_EFLAG_NO_UPD_GF,
    },
    PatternFrame {
        layer: 1,
        sync: true,
        flags: UPDATE_NOTHING,
    },
];

/// Three layers (0, 2, 1, 2): the base layer refers to LAST alone and also puts itself into
/// GOLDEN; layer 1 refers to the base layer and replaces GOLDEN; layer 2 refers to both and
/// updates nothing. The first layer-2 frame after a base-layer frame finds the base layer in
/// GOLDEN too, so it is in sync; the second refers to layer 1.
const THREE_LAYERS: [PatternFrame; 4] = [
    PatternFrame {
        layer: 0,
        sync: false,
        flags: vpx::VP8_EFLAG_NO_REF_GF | vpx::VP8_EFLAG_FORCE_GF | vpx::VP8_EFLAG_NO_UPD_ARF,
    },
    PatternFrame {
        layer: 2,
        sync: true,
        flags: UPDATE_NOTHING,
    },
    PatternFrame {
        layer: 1,
        sync: true,
        flags: vpx::VP8_EFLAG_NO_REF_GF
            | vpx::VP8_EFLAG_FORCE_GF
            | vpx::VP8_EFLAG_NO_UPD_LAST
            | vpx::VP8_EFLAG_NO_UPD_ARF
            | vpx::VP8_EFLAG_NO_UPD_ENTROPY,
    },
    PatternFrame {
        layer: 2,
        sync: false,
        flags: UPDATE_NOTHING,
    },
];

fn vp8_error(ctx: *mut vpx::vpx_codec_ctx_t, what: &str) -> MediaError {
    // SAFETY: `ctx` is an initialised context owned by the caller; libvpx returns static or
    // context-owned NUL-terminated strings (or NULL for the detail), valid until the next call.
    let reason = unsafe {
        let err = vpx::vpx_codec_error(ctx);
        let detail = vpx::vpx_codec_error_detail(ctx);
        let mut text = if err.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(err).to_string_lossy().into_owned()
        };
        if !detail.is_null() {
            text.push_str(": ");
            text.push_str(&CStr::from_ptr(detail).to_string_lossy());
        }
        text
    };
    MediaError::Codec {
        codec: "vp8",
        reason: format!("{what}: {reason}"),
    }
}

fn check(
    ctx: *mut vpx::vpx_codec_ctx_t,
    result: vpx::vpx_codec_err_t,
    what: &str,
) -> Result<(), MediaError> {
    if result == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(vp8_error(ctx, what))
    }
}

/// A real-time VP8 encoder.
pub struct Vp8Encoder {
    // Boxed: libvpx keeps pointers into the context, so it must not move.
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    config: Vp8Config,
    keyframe_requested: bool,
    /// Where the next frame that comes out is in the temporal pattern.
    pattern_index: usize,
}

// SAFETY: the encoder context is used from one thread at a time (`&mut self`), and libvpx
// contexts carry no thread affinity.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder for `config`.
    pub fn new(config: Vp8Config) -> Result<Self, MediaError> {
        I420Frame::black(config.width, config.height)?;
        // SAFETY: a zeroed context is the documented "not yet initialised" state (all its enums
        // have a zero variant); `vpx_codec_vp8_cx` returns a static interface.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        let iface = unsafe { vpx::vpx_codec_vp8_cx() };
        let mut uninit = Box::<vpx::vpx_codec_enc_cfg_t>::new_uninit();
        // SAFETY: libvpx writes a complete default configuration into the buffer on success.
        let r = unsafe { vpx::vpx_codec_enc_config_default(iface, uninit.as_mut_ptr(), 0) };
        check(&mut *ctx, r, "default configuration")?;
        // SAFETY: initialised by the successful call above.
        let mut cfg = unsafe { uninit.assume_init() };
        apply(&mut cfg, &config);
        // SAFETY: `ctx` and `cfg` are valid and stay at their heap addresses for the encoder's
        // lifetime; the ABI version matches the bindings.
        let r = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &*cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        check(&mut *ctx, r, "encoder init")?;
        let mut encoder = Self {
            ctx,
            cfg,
            config,
            keyframe_requested: true,
            pattern_index: 0,
        };
        encoder.control(
            vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int,
            config.cpu_used,
        )?;
        encoder.control(
            vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int,
            1,
        )?;
        encoder.control(
            vpx::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY as c_int,
            0,
        )?;
        // Keyframes at most 3× the size of an average frame keep the bitrate smooth.
        encoder.control(
            vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
            300,
        )?;
        Ok(encoder)
    }

    fn control(&mut self, id: c_int, value: c_int) -> Result<(), MediaError> {
        // SAFETY: the context is initialised; these VP8 controls take one `int`.
        let r = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id, value) };
        check(&mut *self.ctx, r, "control")
    }

    /// The current configuration.
    pub fn config(&self) -> Vp8Config {
        self.config
    }

    /// Make the next frame a keyframe (a receiver lost packets and asked, PLI/FIR).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Change the target bitrate while encoding.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), MediaError> {
        self.config.bitrate_kbps = kbps.clamp(30, 20_000);
        self.reconfigure()
    }

    /// Change the frame rate while encoding: the rate controller gives each frame the share of
    /// the bitrate its duration is worth, so a sender that skips frames says so here.
    pub fn set_frame_rate(&mut self, fps: u32) {
        self.config.fps = fps.clamp(1, 120);
    }

    /// Change the frame size while encoding (the next frame is a keyframe).
    pub fn set_resolution(&mut self, width: u32, height: u32) -> Result<(), MediaError> {
        I420Frame::black(width, height)?;
        self.config.width = width;
        self.config.height = height;
        self.keyframe_requested = true;
        self.reconfigure()
    }

    fn reconfigure(&mut self) -> Result<(), MediaError> {
        apply(&mut self.cfg, &self.config);
        // SAFETY: context initialised, config valid.
        let r = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        check(&mut *self.ctx, r, "reconfigure")
    }

    /// Encode one frame (of the configured size). Usually yields one frame; none when the rate
    /// controller drops it to hold the bitrate.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<Vec<EncodedFrame>, MediaError> {
        if (frame.width(), frame.height()) != (self.config.width, self.config.height) {
            return Err(MediaError::Codec {
                codec: "vp8",
                reason: format!(
                    "frame is {}x{}, encoder is set to {}x{}",
                    frame.width(),
                    frame.height(),
                    self.config.width,
                    self.config.height
                ),
            });
        }
        // SAFETY: a zeroed vpx_image_t is filled by vpx_img_wrap.
        let mut image: vpx::vpx_image_t = unsafe { std::mem::zeroed() };
        // SAFETY: the frame's buffer is a packed I420 image of exactly these dimensions and
        // outlives the encode call; libvpx only reads from an input image.
        let wrapped = unsafe {
            vpx::vpx_img_wrap(
                &mut image,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                frame.width(),
                frame.height(),
                1,
                frame.as_bytes().as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(MediaError::Codec {
                codec: "vp8",
                reason: "cannot wrap the frame".into(),
            });
        }
        let pts = frame.timestamp_us as i64 * TIMEBASE / 1_000_000;
        let duration = (TIMEBASE / i64::from(self.config.fps.max(1))) as c_ulong;
        let keyframe = std::mem::take(&mut self.keyframe_requested);
        let pattern = self.pattern();
        let step = pattern.map(|p| &p[self.pattern_index % p.len()]);
        let flags = if keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            step.map_or(0, |s| s.flags as vpx::vpx_enc_frame_flags_t)
        };
        // SAFETY: context initialised, image wrapped above and alive.
        let r = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &image,
                pts,
                duration,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        check(&mut *self.ctx, r, "encode")?;
        let mut frames = self.drain();
        if let (Some(pattern), Some(step)) = (pattern, step) {
            for frame in &mut frames {
                // A keyframe resets every buffer: it begins the pattern whatever was asked.
                if frame.keyframe {
                    self.pattern_index = 0;
                }
                let step = if frame.keyframe { &pattern[0] } else { step };
                frame.temporal = Some(TemporalLayer {
                    id: step.layer,
                    sync: step.sync,
                });
                self.pattern_index = (self.pattern_index + 1) % pattern.len();
            }
        }
        // A frame the rate controller dropped leaves the pattern where it was.
        Ok(frames)
    }

    /// The temporal pattern (`None`: one layer, every frame a reference).
    fn pattern(&self) -> Option<&'static [PatternFrame]> {
        match self.config.temporal_layers {
            0 | 1 => None,
            2 => Some(&TWO_LAYERS),
            _ => Some(&THREE_LAYERS),
        }
    }

    fn drain(&mut self) -> Vec<EncodedFrame> {
        let mut out = Vec::new();
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: context initialised; `iter` starts NULL as libvpx requires.
            let packet = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if packet.is_null() {
                break;
            }
            // SAFETY: libvpx returned a valid packet that lives until the next encode call; for
            // frame packets the union's `frame` member is the active one.
            unsafe {
                if (*packet).kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    continue;
                }
                let f = (*packet).data.frame;
                let data = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize).to_vec();
                out.push(EncodedFrame {
                    data,
                    keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                    pts_90k: f.pts,
                    temporal: None,
                });
            }
        }
        out
    }
}

fn apply(cfg: &mut vpx::vpx_codec_enc_cfg_t, c: &Vp8Config) {
    cfg.g_w = c.width as c_uint;
    cfg.g_h = c.height as c_uint;
    cfg.g_timebase = vpx::vpx_rational {
        num: 1,
        den: TIMEBASE as c_int,
    };
    // One thread: libvpx's worker threads spin, which costs more than it gains at ≤ 720p on the
    // small machines our users have (see reference measurements).
    cfg.g_threads = 1;
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
    cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
    cfg.rc_target_bitrate = c.bitrate_kbps;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 56;
    cfg.rc_undershoot_pct = 100;
    cfg.rc_overshoot_pct = 15;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    cfg.rc_dropframe_thresh = 30;
    // Keyframes when asked (and rarely otherwise): a lost keyframe is requested again.
    cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
    cfg.kf_max_dist = 3000;
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder: one user at a time, no thread affinity.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A decoder (single-threaded).
    pub fn new() -> Result<Self, MediaError> {
        // SAFETY: zeroed context filled by init; static interface; NULL config means defaults.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        let r = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                ptr::null(),
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        check(&mut *ctx, r, "decoder init")?;
        Ok(Self { ctx })
    }

    /// Decode one frame's bitstream. `Ok(None)` when the data produced no picture.
    /// Damaged input is an error, and the decoder stays usable (ask the sender for a keyframe).
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, MediaError> {
        if data.is_empty() {
            return Err(MediaError::Codec {
                codec: "vp8",
                reason: "empty frame".into(),
            });
        }
        let len = c_uint::try_from(data.len()).map_err(|_| MediaError::Codec {
            codec: "vp8",
            reason: "frame too large".into(),
        })?;
        // SAFETY: context initialised; `data` is valid for `len` bytes during the call.
        let r = unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        check(&mut *self.ctx, r, "decode")?;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        // SAFETY: context initialised; iterator starts NULL.
        let image = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
        if image.is_null() {
            return Ok(None);
        }
        // SAFETY: libvpx returned a valid image, alive until the next decode call.
        let frame = unsafe { copy_image(&*image) }?;
        Ok(Some(frame))
    }
}

/// Copy a decoded image (planes with strides) into a packed I420 frame.
///
/// # Safety
/// `image` must be a valid I420 image as returned by libvpx, with its planes alive.
unsafe fn copy_image(image: &vpx::vpx_image_t) -> Result<I420Frame, MediaError> {
    let (w, h) = (image.d_w, image.d_h);
    let mut frame = I420Frame::black(w, h)?;
    let (y, u, v) = frame.planes_mut();
    for (plane, (dst, width, height)) in [(y, w, h), (u, w / 2, h / 2), (v, w / 2, h / 2)]
        .into_iter()
        .enumerate()
    {
        let stride = image.stride[plane] as usize;
        let src = image.planes[plane];
        for row in 0..height as usize {
            // SAFETY: libvpx guarantees each plane holds `height` rows of `stride` bytes with at
            // least `width` valid bytes per row.
            let line = unsafe { std::slice::from_raw_parts(src.add(row * stride), width as usize) };
            dst[row * width as usize..(row + 1) * width as usize].copy_from_slice(line);
        }
    }
    Ok(frame)
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::psnr;
    use crate::video::{TestPattern, VideoSource, read_stamp};

    fn pattern(w: u32, h: u32) -> TestPattern {
        TestPattern::new(w, h, 30).expect("pattern")
    }

    #[test]
    fn round_trip_keeps_picture_and_stamps() -> Result<(), MediaError> {
        let mut source = pattern(640, 360);
        let mut enc = Vp8Encoder::new(Vp8Config::camera(640, 360))?;
        let mut dec = Vp8Decoder::new()?;
        let mut psnrs = Vec::new();
        for i in 0..60u32 {
            let frame = source.next_frame()?.expect("endless");
            for encoded in enc.encode(&frame)? {
                assert_eq!(encoded.keyframe, i == 0, "frame {i}");
                let decoded = dec.decode(&encoded.data)?.expect("a picture");
                assert_eq!(read_stamp(&decoded).map(|s| s.counter), Some(i));
                psnrs.push(psnr(frame.planes().0, decoded.planes().0));
            }
        }
        assert!(
            psnrs.len() >= 55,
            "too many dropped frames: {}",
            psnrs.len()
        );
        let mean = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
        assert!(mean > 30.0, "mean luma PSNR {mean:.1} dB");
        Ok(())
    }

    /// Every `step`-th of the 40 frames, counted from frame 0 and again from the keyframe at 21.
    fn every(step: usize) -> Vec<u32> {
        (0..21)
            .step_by(step)
            .chain((21..40).step_by(step))
            .collect()
    }

    /// Per temporal layer, the frame counters decoded from the frames up to it.
    type Counters = Vec<Vec<u32>>;

    /// Encodes 40 frames with the given layers (a keyframe asked for at frame 21) and decodes,
    /// for each layer, the frames up to that layer alone. Returns the layers and sync bits in
    /// order, and per layer the frame counters decoded; every decoded picture must be right.
    fn decode_layers_apart(layers: u8) -> Result<(Vec<(u8, bool)>, Counters), MediaError> {
        let mut source = pattern(320, 180);
        let config = Vp8Config {
            temporal_layers: layers,
            ..Vp8Config::camera(320, 180)
        };
        let mut enc = Vp8Encoder::new(config)?;
        let mut decoders = (0..layers)
            .map(|_| Vp8Decoder::new())
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = Vec::new();
        let mut counters = vec![Vec::new(); usize::from(layers)];
        for i in 0..40u32 {
            if i == 21 {
                enc.request_keyframe();
            }
            let frame = source.next_frame()?.expect("endless");
            for e in enc.encode(&frame)? {
                let layer = e.temporal.expect("layered");
                seen.push((layer.id, layer.sync));
                for (up_to, decoder) in decoders.iter_mut().enumerate() {
                    if usize::from(layer.id) > up_to {
                        continue;
                    }
                    // Decoded without the frames of higher layers: still the right picture.
                    let decoded = decoder.decode(&e.data)?.expect("a picture");
                    let quality = psnr(frame.planes().0, decoded.planes().0);
                    assert!(
                        quality > 30.0,
                        "frame {i} up to layer {up_to}: {quality:.1} dB"
                    );
                    counters[up_to].push(read_stamp(&decoded).expect("stamp").counter);
                }
            }
        }
        Ok((seen, counters))
    }

    #[test]
    fn three_temporal_layers_decode_at_a_quarter_half_and_the_whole_frame_rate()
    -> Result<(), MediaError> {
        let (seen, counters) = decode_layers_apart(3)?;
        // 0, 2, 1, 2 with the sync bits, and the keyframe asked for at 21 starts it again.
        let cycle = [(0, false), (2, true), (1, true), (2, false)];
        let expected: Vec<(u8, bool)> = (0..21).chain(0..19).map(|i| cycle[i % 4]).collect();
        assert_eq!(seen, expected);
        assert_eq!(counters, vec![every(4), every(2), every(1)]);
        Ok(())
    }

    #[test]
    fn two_temporal_layers_decode_at_half_and_the_whole_frame_rate() -> Result<(), MediaError> {
        let (seen, counters) = decode_layers_apart(2)?;
        let expected: Vec<(u8, bool)> = (0..21).chain(0..19).map(|i| (i % 2, i % 2 == 1)).collect();
        assert_eq!(seen, expected);
        assert_eq!(counters, vec![every(2), every(1)]);
        Ok(())
    }

    #[test]
    fn one_temporal_layer_marks_nothing() -> Result<(), MediaError> {
        let mut source = pattern(320, 180);
        let config = Vp8Config {
            temporal_layers: 1,
            ..Vp8Config::camera(320, 180)
        };
        let mut enc = Vp8Encoder::new(config)?;
        for _ in 0..4 {
            for e in enc.encode(&source.next_frame()?.expect("endless"))? {
                assert_eq!(e.temporal, None);
            }
        }
        Ok(())
    }

    #[test]
    fn keyframe_on_request() -> Result<(), MediaError> {
        let mut source = pattern(320, 180);
        let mut enc = Vp8Encoder::new(Vp8Config::camera(320, 180))?;
        let mut keys = Vec::new();
        for i in 0..20 {
            if i == 12 {
                enc.request_keyframe();
            }
            let frame = source.next_frame()?.expect("endless");
            for e in enc.encode(&frame)? {
                if e.keyframe {
                    keys.push(i);
                }
            }
        }
        assert_eq!(keys, vec![0, 12]);
        Ok(())
    }

    #[test]
    fn bitrate_follows_the_target() -> Result<(), MediaError> {
        let bytes_at = |kbps: u32| -> Result<usize, MediaError> {
            let mut source = pattern(640, 360);
            let mut enc = Vp8Encoder::new(Vp8Config {
                bitrate_kbps: kbps,
                ..Vp8Config::camera(640, 360)
            })?;
            let mut total = 0;
            for _ in 0..60 {
                let frame = source.next_frame()?.expect("endless");
                total += enc
                    .encode(&frame)?
                    .iter()
                    .map(|e| e.data.len())
                    .sum::<usize>();
            }
            Ok(total)
        };
        let (low, high) = (bytes_at(200)?, bytes_at(1200)?);
        // Two seconds at 200 kbit/s = 50 kB; allow the keyframe and rate-control slack.
        assert!(low < 90_000, "{low} bytes at 200 kbit/s");
        assert!(
            high > 2 * low,
            "{high} bytes at 1200 kbit/s vs {low} at 200"
        );
        Ok(())
    }

    #[test]
    fn resolution_changes_mid_stream() -> Result<(), MediaError> {
        let mut enc = Vp8Encoder::new(Vp8Config::camera(640, 360))?;
        let mut dec = Vp8Decoder::new()?;
        let mut big = pattern(640, 360);
        for _ in 0..5 {
            for e in enc.encode(&big.next_frame()?.expect("endless"))? {
                dec.decode(&e.data)?;
            }
        }
        enc.set_resolution(320, 180)?;
        let mut small = pattern(320, 180);
        let frame = small.next_frame()?.expect("endless");
        assert!(
            enc.encode(&big.next_frame()?.expect("endless")).is_err(),
            "old size refused"
        );
        let encoded = enc.encode(&frame)?;
        assert!(encoded[0].keyframe);
        let decoded = dec.decode(&encoded[0].data)?.expect("a picture");
        assert_eq!((decoded.width(), decoded.height()), (320, 180));
        assert_eq!(read_stamp(&decoded).map(|s| s.counter), Some(0));
        Ok(())
    }

    #[test]
    fn damaged_input_is_an_error_and_the_decoder_recovers() -> Result<(), MediaError> {
        let mut dec = Vp8Decoder::new()?;
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&[0x00, 0x01, 0x02, 0x03, 0x04]).is_err());
        let mut enc = Vp8Encoder::new(Vp8Config::camera(320, 180))?;
        let mut source = pattern(320, 180);
        let key = enc
            .encode(&source.next_frame()?.expect("endless"))?
            .remove(0);
        // A truncated frame may decode with damage or be refused; it must not crash the decoder.
        let _ = dec.decode(&key.data[..key.data.len() / 3]);
        let decoded = dec.decode(&key.data)?.expect("a picture after a keyframe");
        assert_eq!(read_stamp(&decoded).map(|s| s.counter), Some(0));
        Ok(())
    }
}
