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

/// The ICE credentials (ufrag, password) a description carries: the first of each, at session
/// level or in a media section (one transport: they are the same everywhere). A new pair in an
/// offer is an ICE restart.
pub(crate) fn ice_credentials(sdp: &str) -> (Option<&str>, Option<&str>) {
    let first = |prefix: &str| {
        sdp.lines()
            .map(str::trim_end)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    (first("a=ice-ufrag:"), first("a=ice-pwd:"))
}

/// The `a=candidate:` lines of a description.
pub(crate) fn candidate_lines(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .map(str::trim_end)
        .filter(|line| line.starts_with("a=candidate:"))
        .collect()
}

/// `sdp` without the candidate lines in `drop` (line endings as they were).
pub(crate) fn without_candidates(sdp: &str, drop: &[&str]) -> String {
    sdp.split_inclusive('\n')
        .filter(|line| !drop.contains(&line.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{candidate_lines, ice_credentials, ssrcs_by_mid, without_candidates};

    #[test]
    fn candidates_of_a_past_generation_are_left_out() {
        let old = "v=0\r\nm=audio 9 X 111\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n";
        let new = "v=0\r\nm=audio 9 X 111\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n\
                   a=candidate:2 1 udp 1 10.0.0.2 6000 typ host\r\na=end-of-candidates\r\n";
        assert_eq!(
            without_candidates(new, &candidate_lines(old)),
            "v=0\r\nm=audio 9 X 111\r\na=candidate:2 1 udp 1 10.0.0.2 6000 typ host\r\n\
             a=end-of-candidates\r\n"
        );
    }

    #[test]
    fn ice_credentials_are_read_where_they_first_appear() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\n\
                   a=ice-pwd:secretsecret\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=ice-ufrag:abcd\r\n";
        assert_eq!(ice_credentials(sdp), (Some("abcd"), Some("secretsecret")));
        assert_eq!(ice_credentials("v=0\r\n"), (None, None));
    }

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
