//! Signal measures that tests and benchmarks use to judge media by its content, not by the
//! absence of errors: level, frequency, correlation with alignment, SNR and PSNR.

/// RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS). Silence is -inf.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    10.0 * (energy / samples.len() as f64).log10()
}

/// The frequency of a (mostly) pure tone, from its rising zero crossings.
pub fn dominant_frequency(samples: &[f32], sample_rate: u32) -> f64 {
    let crossings: Vec<usize> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    match (crossings.first(), crossings.last()) {
        (Some(first), Some(last)) if last > first => {
            let periods = (crossings.len() - 1) as f64;
            periods * f64::from(sample_rate) / (last - first) as f64
        }
        _ => 0.0,
    }
}

/// Pearson correlation of two equally long signals (0 when either is constant).
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |x: &[f32]| x[..n].iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (f64::from(*x) - ma, f64::from(*y) - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// The delay (in samples, 0..=`max_lag`) at which `received` best matches `sent`, and the
/// correlation there. Codecs and buffers delay signals; compare them aligned.
pub fn align(sent: &[f32], received: &[f32], max_lag: usize) -> (usize, f64) {
    (0..=max_lag.min(received.len()))
        .map(|lag| (lag, correlation(sent, &received[lag..])))
        .fold(
            (0, f64::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
}

/// Signal-to-noise ratio of `received` against the reference `sent`, in dB (aligned, equal length).
pub fn snr_db(sent: &[f32], received: &[f32]) -> f64 {
    let n = sent.len().min(received.len());
    let signal: f64 = sent[..n].iter().map(|s| f64::from(*s).powi(2)).sum();
    let noise: f64 = sent[..n]
        .iter()
        .zip(&received[..n])
        .map(|(s, r)| (f64::from(*s) - f64::from(*r)).powi(2))
        .sum();
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Peak signal-to-noise ratio of two 8-bit planes, in dB (identical planes give +inf).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mse: f64 = a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / n as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// A tiny deterministic random generator (xorshift32) for reproducible test signals, loss
/// patterns and random inputs. Not for anything that must be unpredictable.
#[derive(Debug, Clone)]
pub struct TestRng(u32);

impl TestRng {
    /// A generator with this seed (zero is replaced, since xorshift never leaves it).
    pub fn new(seed: u32) -> Self {
        Self(seed.max(1))
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_and_alignment_find_a_delayed_copy() {
        let mut rng = TestRng::new(0x2545_f491);
        let sent: Vec<f32> = (0..4800)
            .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0)
            .collect();
        let mut received = vec![0.0; 37];
        received.extend(sent.iter().map(|s| s * 0.5));
        let (lag, corr) = align(&sent, &received, 100);
        assert_eq!(lag, 37);
        assert!(corr > 0.999, "{corr}");
        assert!(correlation(&sent, &received) < 0.5);
    }

    #[test]
    fn snr_and_psnr_of_known_errors() {
        let sent = vec![0.5_f32; 100];
        let received = vec![0.45_f32; 100];
        assert!((snr_db(&sent, &received) - 20.0).abs() < 1e-3);
        assert_eq!(psnr(&[10, 20], &[10, 20]), f64::INFINITY);
        assert!((psnr(&[0; 4], &[1; 4]) - 48.13).abs() < 0.01);
    }
}
