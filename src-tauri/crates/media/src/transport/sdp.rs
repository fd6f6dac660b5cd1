//! The little SDP reading the call needs: which SSRCs belong to which media section (`mid`), to
//! tell whose track an incoming SSRC is.

use std::collections::BTreeMap;

/// For each media section's `a=mid`, the SSRCs its `a=ssrc:` lines announce, in order.
pub fn ssrcs_by_mid(sdp: &str) -> BTreeMap<String, Vec<u32>> {
    let mut sections = BTreeMap::new();
    let mut mid: Option<String> = None;
    let mut ssrcs: Vec<u32> = Vec::new();
    let mut flush = |mid: &mut Option<String>, ssrcs: &mut Vec<u32>| {
        if let Some(mid) = mid.take() {
            sections.insert(mid, std::mem::take(ssrcs));
        }
        ssrcs.clear();
    };
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            flush(&mut mid, &mut ssrcs);
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("a=ssrc:") {
            let ssrc = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ssrc) = ssrc.filter(|s| !ssrcs.contains(s)) {
                ssrcs.push(ssrc);
            }
        }
    }
    flush(&mut mid, &mut ssrcs);
    sections
}

#[cfg(test)]
mod tests {
    use super::ssrcs_by_mid;

    #[test]
    fn reads_ssrcs_per_media_section() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ssrc:4206817372 cname:janus\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=ssrc-group:FID 1857011831 3231090528\r\n\
                   a=ssrc:1857011831 cname:janus\r\na=ssrc:3231090528 cname:janus\r\n\
                   m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
        let map = ssrcs_by_mid(sdp);
        assert_eq!(map.get("0"), Some(&vec![4_206_817_372]));
        assert_eq!(map.get("1"), Some(&vec![1_857_011_831, 3_231_090_528]));
        assert_eq!(map.get("2"), Some(&vec![]));
        assert!(ssrcs_by_mid("garbage\nm=\na=ssrc:x").is_empty());
    }
}
