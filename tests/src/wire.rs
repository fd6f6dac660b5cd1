//! Two private hosts joined by a userspace "wire" that delays, jitters and loses packets.
//!
//! This kernel has no netem (no delay or jitter qdisc) and no nftables `queue`, so the delay is
//! made here, in userspace, between two TUN devices:
//!
//! ```text
//!  test namespace: clients, test code             server host: a child namespace, held by a
//!                                                 `sleep` we start and stop by PID
//!  127.0.0.1:<relay> ──TCP, through rt0──►        Janus: ws 198.18.0.1:8188, ICE on rt1
//!  rt0 198.18.0.2/24   (tbf: uplink rate)         rt1 198.18.0.1/24   (tbf: downlink rate)
//!       │ fd                                            │ fd
//!       ├──► uplink thread:   loss, delay ± jitter ──►──┤
//!       └──◄ downlink thread: loss, delay ± jitter ◄────┘
//! ```
//!
//! What is impaired where: the kernel's `tbf` rate limit sits on each side's egress queue
//! (rt0 for the uplink, rt1 on the server host for the downlink), so a packet is first shaped,
//! then read by the wire, which drops it at random (`loss_percent`) or holds it for
//! `delay ± jitter` before writing it into the other side. Each direction has its own thread and
//! its own settings, changeable while packets flow. Randomness is a seeded PRNG, so a run is
//! repeatable as far as the packets are.
//!
//! Order is kept within a direction: a packet is released at its drawn time or right after the
//! packet before it, whichever is later. Real paths rarely reorder, and WebRTC's jitter buffer
//! and congestion control would read reordering as loss; the price is that the delay is no
//! longer quite uniform when packets are closer together than the jitter (at 50 packets/s and
//! 50 ± 20 ms the mean rises by about 1 ms, simulated and measured).
//!
//! Runde only accepts plain `ws://` links to loopback, so Janus on the server host is reached
//! through a [`TcpRelay`] on the test namespace's loopback; signalling crosses the wire too.
//!
//! Measured here (debug build, 2 cores shared with other builds, `cargo test -p runde-e2e --test
//! wire`): packets leave the wire 0.1 ms after their release time on average, 1.2 ms at worst
//! (3.5 ms with all the wire tests at once; ppoll with 1 ns timer slack); at uplink 50 ± 20 ms and 50 datagrams/s the one-way delay was
//! min 30.4, p5 34.2, mean 50.8, p95 68.9, max 70.3 ms, nothing reordered; 20 % loss dropped
//! 23.2 % (uplink) and 18.3 % (downlink) of 1000 datagrams; tbf at 1000 kbit/s gave 958
//! (downlink) and 965 kbit/s (uplink) of TCP goodput (IP and TCP headers are the rest); a
//! Runde call through Janus on the server host carries media at 50 ± 20 ms each way.
//!
//! Needs `/dev/net/tun` openable by the test (it is for root; unprivileged users need the usual
//! mode 0666), besides `unshare`, `nsenter`, `ip` and `tc`.
#![allow(unsafe_code)] // TUNSETIFF, ppoll, setns, timer slack: no safe std wrapper; each use small

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netns::{CLIENT_ADDR, SERVER_ADDR, SERVER_IF};
use crate::process::{ChildGuard, find_program, find_system_program, run_tool, wait_until};
use crate::{Result, err};

/// The client side's TUN device (stays in the test namespace).
pub const CLIENT_TUN: &str = "rt0";
/// The server side's TUN device (on the server host; Janus's `ice_enforce_list`).
pub const SERVER_TUN: &str = "rt1";

/// What one direction of the wire does to packets.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Mean one-way delay added.
    pub delay: Duration,
    /// Each packet's delay is uniform in `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Share of packets dropped at random, 0–100.
    pub loss_percent: f64,
}

/// How one direction has fared so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireStats {
    /// Packets written to the other side.
    pub forwarded: u64,
    /// Bytes of those packets (IP packets as the TUN device sees them).
    pub forwarded_bytes: u64,
    /// Packets dropped on purpose (loss) or because the other side refused them.
    pub dropped: u64,
    /// Latest write after a packet's release time (how precise the wire's sleeping is).
    pub late_max: Duration,
    /// Sum of those lateness values, for the mean.
    pub late_total: Duration,
}

impl WireStats {
    /// Mean lateness of forwarded packets.
    pub fn late_mean(&self) -> Duration {
        let n = u32::try_from(self.forwarded.max(1)).unwrap_or(u32::MAX);
        self.late_total / n
    }
}

/// What a `tbf` rate limit reports (`tc -s qdisc show`): zero for a device without one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Bytes sent on.
    pub sent_bytes: u64,
    /// Packets sent on.
    pub sent_packets: u64,
    /// Packets dropped because the queue was full.
    pub dropped: u64,
    /// Bytes waiting in the queue now.
    pub backlog_bytes: u64,
}

impl QueueStats {
    /// Read the first qdisc's counters from `tc -s qdisc show` output: `Sent 123 bytes 4 pkt
    /// (dropped 5, overlimits 6 requeues 0)` and `backlog 0b 0p requeues 0`.
    pub fn parse(shown: &str) -> Self {
        let words: Vec<&str> = shown
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .filter(|w| !w.is_empty())
            .collect();
        let after = |key: &str, skip: usize| -> u64 {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1 + skip))
                .map(|w| w.trim_end_matches(|c: char| c.is_ascii_alphabetic()))
                .and_then(|w| w.parse().ok())
                .unwrap_or(0)
        };
        Self {
            sent_bytes: after("Sent", 0),
            sent_packets: after("Sent", 2),
            dropped: after("dropped", 0),
            backlog_bytes: after("backlog", 0),
        }
    }
}

/// SplitMix64: small, fast, good enough to draw delays and losses, and seedable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A network namespace for the server, held open by a `sleep` we start (and stop by PID).
pub struct ServerHost {
    holder: ChildGuard,
}

impl ServerHost {
    fn start() -> Result<Self> {
        let mut command = Command::new(find_program("unshare")?);
        command.args(["--net", "--", "sleep", "100000"]);
        let holder = ChildGuard::spawn("server host (unshare --net sleep)", &mut command)?;
        let host = Self { holder };
        // Until `unshare` has run, the child is still in our namespace.
        let ours = std::fs::read_link("/proc/self/ns/net").map_err(|e| err("own netns", e))?;
        let theirs = host.netns_path();
        wait_until(
            "the server host's namespace",
            Duration::from_secs(5),
            || Ok(std::fs::read_link(&theirs).ok().filter(|ns| *ns != ours)),
        )?;
        host.run_tool("ip", &["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// The PID of the process holding the namespace.
    pub fn pid(&self) -> u32 {
        self.holder.pid()
    }

    /// The server host's network namespace (`/proc/<pid>/ns/net`).
    pub fn netns_path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid())
    }

    /// A command that runs `program` on the server host (`nsenter --net=… -- program`). nsenter
    /// execs the program without forking, so the child's PID is the program's.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Result<Command> {
        let mut command = Command::new(find_program("nsenter")?);
        command
            .arg(format!("--net={}", self.netns_path()))
            .arg("--")
            .arg(program);
        Ok(command)
    }

    /// Run a system tool (`ip`, `tc`) on the server host to completion; its standard output.
    pub fn run_tool(&self, name: &str, args: &[&str]) -> Result<String> {
        let program = find_system_program(name, "iproute2")?;
        let output = self
            .command(program)?
            .args(args)
            .output()
            .map_err(|e| err(name, e))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(err(
                &format!("{name} {} (server host)", args.join(" ")),
                String::from_utf8_lossy(&output.stderr).trim(),
            ))
        }
    }

    /// Run `f` on a thread that has joined the server host's namespace: sockets (and TUN
    /// devices) it creates belong to the server host and keep working from any thread.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let ns = File::open(self.netns_path()).map_err(|e| err("server host namespace", e))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: setns on a namespace fd we hold; it moves only this short-lived
                    // thread, which ends when `f` returns.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(err("setns", std::io::Error::last_os_error()));
                    }
                    Ok(f())
                })
                .join()
                .map_err(|_| err("server host", "the thread panicked"))?
        })
    }
}

/// `IFF_TUN | IFF_NO_PI` interface request, laid out like the kernel's `struct ifreq` (40 bytes).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Open a TUN device (raw IP packets, no header), non-blocking.
fn open_tun(name: &str) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|e| err("/dev/net/tun (kernel option CONFIG_TUN)", e))?;
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    let bytes = name.as_bytes();
    req.name
        .get_mut(..bytes.len())
        .filter(|_| bytes.len() < 16)
        .ok_or_else(|| err(name, "interface name too long"))?
        .copy_from_slice(bytes);
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is, on an fd we own.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(err(
            &format!("TUNSETIFF {name}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

/// Wait until `file` is readable or `timeout` passes. ppoll rather than poll: poll's millisecond
/// timeout would make every release up to 1 ms late.
fn wait_readable(file: &File, timeout: Duration) -> std::io::Result<bool> {
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let n = unsafe { libc::ppoll(&mut fd, 1, &ts, std::ptr::null()) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => match std::io::Error::last_os_error() {
            e if e.kind() == ErrorKind::Interrupted => Ok(false),
            e => Err(e),
        },
    }
}

/// One direction's shared state: its settings (changed by the test) and its counters.
#[derive(Default)]
struct Direction {
    impairment: Mutex<Impairment>,
    stats: Mutex<WireStats>,
    mangle: Mutex<Option<MangleFirstStream>>,
    /// RTP of this payload type is dropped (held back from the other side).
    hold_back: Mutex<Option<u8>>,
    /// STUN is dropped (ICE's connectivity checks and their answers), and how much was.
    drop_stun: AtomicBool,
    stun_dropped: AtomicU64,
}

/// Whether an IPv4 packet carries a STUN message over UDP (RFC 5389: the first two bits 0,
/// the magic cookie at bytes 4-7).
fn is_stun(packet: &[u8]) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let ihl = usize::from(first & 0x0f) * 4;
    let stun = ihl + 8;
    first >> 4 == 4
        && packet.get(9) == Some(&17)
        && packet.get(stun).is_some_and(|b| b >> 6 == 0)
        && packet.get(stun + 4..stun + 8) == Some(&[0x21, 0x12, 0xa4, 0x42][..])
}

/// An RTP packet in an IPv4/UDP packet: the UDP destination port, where the RTP header starts,
/// its payload type (without the marker bit) and SSRC. `None` for anything else, RTCP included
/// (its types 192-223 share the second byte).
fn rtp_in(packet: &[u8]) -> Option<(u16, usize, u8, u32)> {
    let first = *packet.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || packet.get(9) != Some(&17) || packet.len() < ihl + 8 + 12 {
        return None;
    }
    let port = u16::from_be_bytes([packet[ihl + 2], packet[ihl + 3]]);
    let rtp = ihl + 8;
    let (head, marker_and_type) = (packet[rtp], packet[rtp + 1]);
    if head >> 6 != 2 || (192..=223).contains(&marker_and_type) {
        return None;
    }
    let ssrc = u32::from_be_bytes([
        packet[rtp + 8],
        packet[rtp + 9],
        packet[rtp + 10],
        packet[rtp + 11],
    ]);
    Some((port, rtp, marker_and_type & 0x7f, ssrc))
}

/// Mangles one RTP stream for good, as a broken middlebox might: the first stream with a given
/// payload type that passes (its UDP destination port and SSRC), and no other. The last byte
/// (in the SRTP authentication tag) is flipped, so no packet of it decrypts; the UDP checksum
/// is cleared (0: none, RFC 768), so the receiving kernel still delivers it.
#[derive(Debug, Clone, Copy)]
struct MangleFirstStream {
    payload_type: u8,
    stream: Option<(u16, u32)>,
    mangled: u64,
}

impl MangleFirstStream {
    fn new(payload_type: u8) -> Self {
        Self {
            payload_type,
            stream: None,
            mangled: 0,
        }
    }

    /// Mangle `packet` (an IPv4 packet as the TUN device gives it) if it belongs to the stream.
    fn apply(&mut self, packet: &mut [u8]) {
        let Some((port, rtp, payload_type, ssrc)) = rtp_in(packet) else {
            return;
        };
        if payload_type != self.payload_type
            || *self.stream.get_or_insert((port, ssrc)) != (port, ssrc)
        {
            return;
        }
        if let Some(last) = packet.last_mut() {
            *last ^= 0x5a;
        }
        // The UDP checksum, just before the RTP header.
        packet[rtp - 2] = 0;
        packet[rtp - 1] = 0;
        self.mangled += 1;
    }
}

/// How often an idle forwarding thread looks at the stop flag.
const IDLE: Duration = Duration::from_millis(20);

fn forward(from: &File, to: &File, dir: &Direction, stop: &AtomicBool, mut rng: SplitMix) {
    // The default 50 µs timer slack would make every release up to that late.
    // SAFETY: PR_SET_TIMERSLACK takes a plain number and affects only this thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut last_release = Instant::now();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        // Release what is due.
        while let Some((at, _)) = queue.front() {
            let now = Instant::now();
            if *at > now {
                break;
            }
            let late = now - *at;
            let Some((_, packet)) = queue.pop_front() else {
                break;
            };
            let written = (&*to).write(&packet).is_ok();
            let mut stats = dir.stats.lock().unwrap_or_else(PoisonError::into_inner);
            if written {
                stats.forwarded += 1;
                stats.forwarded_bytes += packet.len() as u64;
                stats.late_max = stats.late_max.max(late);
                stats.late_total += late;
            } else {
                stats.dropped += 1;
            }
        }
        let timeout = queue
            .front()
            .map_or(IDLE, |(at, _)| at.saturating_duration_since(Instant::now()))
            .min(IDLE);
        match wait_readable(from, timeout) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                eprintln!("wire: poll failed, this direction stops: {e}");
                return;
            }
        }
        // Take everything waiting; each packet is judged as it arrives.
        loop {
            let n = match (&*from).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("wire: read failed, this direction stops: {e}");
                    return;
                }
            };
            let now = Instant::now();
            let imp = *dir
                .impairment
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if rng.unit() * 100.0 < imp.loss_percent {
                dir.stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .dropped += 1;
                continue;
            }
            if dir.drop_stun.load(Ordering::Relaxed) && is_stun(&buf[..n]) {
                dir.stun_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let held_back = *dir.hold_back.lock().unwrap_or_else(PoisonError::into_inner);
            if held_back.is_some()
                && rtp_in(&buf[..n]).map(|(_, _, payload_type, _)| payload_type) == held_back
            {
                dir.stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .dropped += 1;
                continue;
            }
            let mut packet = buf[..n].to_vec();
            if let Some(mangle) = dir
                .mangle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
            {
                mangle.apply(&mut packet);
            }
            let low = imp.delay.saturating_sub(imp.jitter);
            let span = (imp.delay + imp.jitter) - low;
            let drawn = now + low + span.mul_f64(rng.unit());
            // Keep the order: never before the packet ahead of it.
            last_release = drawn.max(last_release);
            queue.push_back((last_release, packet));
        }
    }
}

/// The wire and the server host behind it. Dropping it stops both threads, closes both TUN
/// devices (which removes them) and stops the server host.
pub struct Wire {
    uplink: Arc<Direction>,
    downlink: Arc<Direction>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    // Declared last: dropped after the threads are joined and the devices closed.
    host: ServerHost,
}

fn ip(args: &[&str]) -> Result<()> {
    run_tool("ip", "iproute2", args, None).map(|_| ())
}

impl Wire {
    /// Inside the test's namespace ([`crate::netns::enter`]): replace its veth pair with a server
    /// host behind a wire, both directions unimpaired. `seed` seeds the losses and delays.
    pub fn start(seed: u64) -> Result<Self> {
        if !crate::netns::is_inside() {
            return Err(err(
                "wire",
                "starts only inside a test namespace (netns::enter)",
            ));
        }
        // Free 198.18.0.1 and .2: deleting one end of a veth pair deletes both. Gone already
        // if an earlier wire ran in this namespace.
        if ip(&["link", "show", SERVER_IF]).is_ok() {
            ip(&["link", "del", SERVER_IF])?;
        }
        let host = ServerHost::start()?;
        let client = open_tun(CLIENT_TUN)?;
        let server = host.run(|| open_tun(SERVER_TUN))??;
        ip(&[
            "addr",
            "add",
            &format!("{CLIENT_ADDR}/24"),
            "dev",
            CLIENT_TUN,
        ])?;
        ip(&["link", "set", CLIENT_TUN, "up"])?;
        host.run_tool(
            "ip",
            &[
                "addr",
                "add",
                &format!("{SERVER_ADDR}/24"),
                "dev",
                SERVER_TUN,
            ],
        )?;
        host.run_tool("ip", &["link", "set", SERVER_TUN, "up"])?;

        let (client, server) = (Arc::new(client), Arc::new(server));
        let mut wire = Self {
            uplink: Arc::default(),
            downlink: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
            host,
        };
        let mut seeds = SplitMix(seed);
        for (from, to, dir, name) in [
            (&client, &server, &wire.uplink, "wire uplink"),
            (&server, &client, &wire.downlink, "wire downlink"),
        ] {
            let (from, to, dir, stop) = (from.clone(), to.clone(), dir.clone(), wire.stop.clone());
            let rng = SplitMix(seeds.next());
            let thread = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || forward(&from, &to, &dir, &stop, rng))
                .map_err(|e| err(name, e))?;
            wire.threads.push(thread);
        }
        Ok(wire)
    }

    /// The server host behind the wire.
    pub fn host(&self) -> &ServerHost {
        &self.host
    }

    /// Change what happens to packets from the client side to the server host.
    pub fn set_uplink(&self, impairment: Impairment) {
        *self
            .uplink
            .impairment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = impairment;
    }

    /// Change what happens to packets from the server host to the client side.
    pub fn set_downlink(&self, impairment: Impairment) {
        *self
            .downlink
            .impairment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = impairment;
    }

    /// From now on, mangle the first RTP stream with `payload_type` that goes from the server
    /// host to the client side (one port, one SSRC), so that none of its packets decrypts.
    pub fn mangle_first_downlink_stream(&self, payload_type: u8) {
        *self
            .downlink
            .mangle
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(MangleFirstStream::new(payload_type));
    }

    /// Drop every RTP packet with `payload_type` from the server host to the client side until
    /// called with `None`.
    pub fn hold_back_downlink(&self, payload_type: Option<u8>) {
        *self
            .downlink
            .hold_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = payload_type;
    }

    /// The downlink stream being mangled (UDP destination port, SSRC), once one passed, and
    /// how many of its packets were.
    pub fn downlink_mangled(&self) -> (Option<(u16, u32)>, u64) {
        self.downlink
            .mangle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or((None, 0), |m| (m.stream, m.mangled))
    }

    /// Drop (or no longer drop) every STUN message from the server host to the client side:
    /// the answers to the clients' connectivity checks, while media goes on.
    pub fn drop_downlink_stun(&self, drop: bool) {
        self.downlink.drop_stun.store(drop, Ordering::Relaxed);
    }

    /// STUN messages dropped on the way to the client side so far.
    pub fn downlink_stun_dropped(&self) -> u64 {
        self.downlink.stun_dropped.load(Ordering::Relaxed)
    }

    /// The uplink's counters so far.
    pub fn uplink_stats(&self) -> WireStats {
        *self
            .uplink
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The downlink's counters so far.
    pub fn downlink_stats(&self) -> WireStats {
        *self
            .downlink
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Limit the uplink to `kbit` kbit/s (kernel tbf on rt0, before the wire); `None` or 0
    /// removes the limit.
    pub fn limit_uplink_rate(&self, kbit: Option<u32>) -> Result<()> {
        self.limit_uplink_rate_queue(kbit, DEFAULT_QUEUE)
    }

    /// [`limit_uplink_rate`](Self::limit_uplink_rate) with a queue that holds up to `queue` of
    /// traffic before it drops (a home router's buffer can hold half a second or more).
    pub fn limit_uplink_rate_queue(&self, kbit: Option<u32>, queue: Duration) -> Result<()> {
        let tc = |args: &[&str]| run_tool("tc", "iproute2", args, None);
        limit_rate(CLIENT_TUN, kbit, queue, tc)
    }

    /// The client side moves to another address on the same link, as a laptop does when its
    /// network changes under it: `to` is added first, then `from` removed (with it go the
    /// paths that were bound to it).
    pub fn move_client_address(&self, from: &str, to: &str) -> Result<()> {
        // A second address on the same subnet is a "secondary" one, and the kernel deletes the
        // secondaries with the primary unless told to promote one.
        let promote = format!("/proc/sys/net/ipv4/conf/{CLIENT_TUN}/promote_secondaries");
        std::fs::write(&promote, "1").map_err(|e| err(&promote, e))?;
        ip(&["addr", "add", &format!("{to}/24"), "dev", CLIENT_TUN])?;
        ip(&["addr", "del", &format!("{from}/24"), "dev", CLIENT_TUN])?;
        Ok(())
    }

    /// Take the client side's network interface down (`false`) or up again (`true`), as when
    /// Wi-Fi drops and reconnects to the same network: its address stays configured, its route
    /// goes with the link and comes back with it.
    pub fn set_client_link(&self, up: bool) -> Result<()> {
        ip(&["link", "set", CLIENT_TUN, if up { "up" } else { "down" }])
    }

    /// The uplink's rate limit so far: what it let through, what it dropped, what it holds.
    pub fn uplink_queue(&self) -> Result<QueueStats> {
        let shown = run_tool(
            "tc",
            "iproute2",
            &["-s", "qdisc", "show", "dev", CLIENT_TUN],
            None,
        )?;
        Ok(QueueStats::parse(&shown))
    }

    /// Limit the downlink to `kbit` kbit/s (kernel tbf on rt1 on the server host, before the
    /// wire); `None` or 0 removes the limit.
    pub fn limit_downlink_rate(&self, kbit: Option<u32>) -> Result<()> {
        limit_rate(SERVER_TUN, kbit, DEFAULT_QUEUE, |args| {
            self.host.run_tool("tc", args)
        })
    }
}

/// How much queue a rate limit holds before it drops: enough for TCP and WebRTC's congestion
/// control to see delay grow before loss, short of bufferbloat.
const DEFAULT_QUEUE: Duration = Duration::from_millis(50);

fn limit_rate(
    dev: &str,
    kbit: Option<u32>,
    queue: Duration,
    tc: impl Fn(&[&str]) -> Result<String>,
) -> Result<()> {
    match kbit.filter(|k| *k > 0) {
        None => {
            // Deleting a root qdisc that is not there is an error; only delete ours.
            if tc(&["qdisc", "show", "dev", dev])?.contains("tbf") {
                tc(&["qdisc", "del", "dev", dev, "root"])?;
            }
            Ok(())
        }
        Some(kbit) => {
            // Burst: 10 ms worth of tokens, as a real link's scheduler would pass at once, but
            // never below two full-size packets (tbf cannot send a packet bigger than its
            // bucket). Latency: at most `queue` before drops.
            let burst = (u64::from(kbit) * 1000 / 8 / 100).max(3028);
            let latency = format!("{}ms", queue.as_millis());
            tc(&[
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{kbit}kbit"),
                "burst",
                &burst.to_string(),
                "latency",
                &latency,
            ])
            .map(|_| ())
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The threads held the last references to the TUN files: closed now, the devices are
        // gone. `host` (the holder) is stopped by its ChildGuard right after.
    }
}

/// A TCP connection to `target`, made from inside the namespace at `netns` (by a short-lived
/// thread that joins it) or from this one.
fn connect_from(netns: Option<&str>, target: SocketAddr) -> std::io::Result<TcpStream> {
    let connect = || TcpStream::connect_timeout(&target, Duration::from_secs(5));
    let Some(netns) = netns else {
        return connect();
    };
    let ns = File::open(netns)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on a namespace fd we hold; it moves only this short-lived
                // thread, which ends when the connection is made.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                connect()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the connecting thread panicked")))
    })
}

/// A TCP relay on the test namespace's loopback to an address behind the wire: Runde accepts
/// plain `ws://` only to loopback, and this way signalling crosses the wire as media does.
pub struct TcpRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    pumps: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpRelay {
    /// Listen on 127.0.0.1 (a free port) and forward each connection to `target`, both ways.
    pub fn start(target: SocketAddr) -> Result<Self> {
        Self::start_from(target, None)
    }

    /// Like [`TcpRelay::start`], with the connections to `target` made from inside the network
    /// namespace at `netns` (a server host's): they do not depend on this namespace's addresses.
    pub fn start_from(target: SocketAddr, netns: Option<String>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| err("relay", e))?;
        let port = listener.local_addr().map_err(|e| err("relay", e))?.port();
        let mut relay = Self {
            port,
            stop: Arc::default(),
            accept: None,
            open: Arc::default(),
            pumps: Arc::default(),
        };
        let (stop, open, pumps) = (relay.stop.clone(), relay.open.clone(), relay.pumps.clone());
        let accept = std::thread::Builder::new()
            .name("tcp relay".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = connect_from(netns.as_deref(), target) else {
                        continue; // the client sees its connection closed
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
                        client.try_clone(),
                        server.try_clone(),
                        client.try_clone(),
                        server.try_clone(),
                    ) else {
                        continue;
                    };
                    open.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend([c3, s3]);
                    let mut pumps = pumps.lock().unwrap_or_else(PoisonError::into_inner);
                    for (mut from, mut to) in [(client, s2), (server, c2)] {
                        pumps.extend(
                            std::thread::Builder::new()
                                .name("tcp relay pump".into())
                                .spawn(move || {
                                    let _ = std::io::copy(&mut from, &mut to);
                                    let _ = to.shutdown(Shutdown::Write);
                                })
                                .ok(),
                        );
                    }
                }
            })
            .map_err(|e| err("relay", e))?;
        relay.accept = Some(accept);
        Ok(relay)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept; it sees the flag and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for stream in self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let pumps: Vec<_> = self
            .pumps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for pump in pumps {
            let _ = pump.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MangleFirstStream, QueueStats, is_stun};

    /// An IPv4/UDP packet to `port` carrying an RTP header (marker and payload type `byte1`,
    /// `ssrc`) and a payload.
    fn udp_rtp(port: u16, byte1: u8, ssrc: u32) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        p.extend_from_slice(&[0x1f, 0x90]);
        p.extend_from_slice(&port.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0xab, 0xcd]);
        p.extend_from_slice(&[0x90, byte1, 0, 7, 0, 0, 0, 9]);
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[1, 2, 3, 4, 5]);
        p
    }

    #[test]
    fn only_the_first_stream_of_the_payload_type_is_mangled() {
        let mut mangle = MangleFirstStream::new(96);
        // Sound, and RTCP (a receiver report) to the same port: untouched.
        for byte1 in [111, 201] {
            let mut p = udp_rtp(5000, byte1, 1);
            let before = p.clone();
            mangle.apply(&mut p);
            assert_eq!(p, before);
        }
        // The first video stream, with and without the marker bit.
        for byte1 in [96, 96 | 0x80] {
            let mut p = udp_rtp(5000, byte1, 1);
            let before = p.clone();
            mangle.apply(&mut p);
            assert_eq!(p[p.len() - 1], before[before.len() - 1] ^ 0x5a);
            assert_eq!(&p[26..28], &[0, 0], "no UDP checksum");
            assert_eq!(&p[..p.len() - 1], {
                let mut b = before.clone();
                b[26] = 0;
                b[27] = 0;
                b.truncate(b.len() - 1);
                b
            });
        }
        // Another SSRC, or the same SSRC to another port (a new connection): untouched.
        for (port, ssrc) in [(5000, 2), (6000, 1)] {
            let mut p = udp_rtp(port, 96, ssrc);
            let before = p.clone();
            mangle.apply(&mut p);
            assert_eq!(p, before);
        }
        assert_eq!((mangle.stream, mangle.mangled), (Some((5000, 1)), 2));
        // Not IPv4 UDP, or too short: untouched, no panic.
        let mut tcp = udp_rtp(5000, 96, 1);
        tcp[9] = 6;
        let before = tcp.clone();
        mangle.apply(&mut tcp);
        assert_eq!(tcp, before);
        for len in 0..40 {
            let mut p = udp_rtp(5000, 96, 1);
            p.truncate(len);
            mangle.apply(&mut p);
        }
    }

    #[test]
    fn stun_is_told_from_media() {
        // A binding request: type 0x0001, length 0, the magic cookie, a transaction id.
        let mut stun = udp_rtp(5000, 0, 0);
        stun.truncate(28);
        stun.extend_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        stun.extend_from_slice(&[7; 12]);
        assert!(is_stun(&stun));
        assert!(!is_stun(&udp_rtp(5000, 96, 0x2112_a442)), "RTP");
        for len in 0..stun.len() {
            assert!(!is_stun(&stun[..len]) || len >= 36, "{len}");
        }
    }

    #[test]
    fn tbf_counters_are_read() {
        let shown = "qdisc tbf 8001: root refcnt 2 rate 500Kbit burst 3028b lat 50ms \n Sent 1234567 bytes 2345 pkt (dropped 17, overlimits 99 requeues 0) \n backlog 2400b 2p requeues 0\n";
        assert_eq!(
            QueueStats::parse(shown),
            QueueStats {
                sent_bytes: 1_234_567,
                sent_packets: 2345,
                dropped: 17,
                backlog_bytes: 2400,
            }
        );
        assert_eq!(QueueStats::parse(""), QueueStats::default());
    }
}
