//! Private test networks: the test re-runs itself inside a new user + network namespace
//! (`unshare -rn`) with a veth pair, so that Janus, Runde and Chromium talk over a real, non-loopback
//! link that exists only for this test (Janus never does ICE on loopback). Nothing outside the
//! namespace can be reached from inside it, which also proves a client talks to no other host.
//!
//! Addresses come from the benchmarking range 198.18.0.0/24.

use std::process::Command;

use crate::process::{find_program, run_tool};
use crate::{Result, err};

/// The server side of the veth pair (Janus gathers ICE candidates here).
pub const SERVER_ADDR: &str = "198.18.0.1";
/// The client side.
pub const CLIENT_ADDR: &str = "198.18.0.2";
/// The server-side interface name (Janus's `ice_enforce_list`).
pub const SERVER_IF: &str = "rs0";
/// The client-side interface name.
pub const CLIENT_IF: &str = "rs1";

const INSIDE: &str = "RUNDE_NETNS_INSIDE";

/// Run the calling test inside its own network namespace. Outside, this re-runs the test binary
/// with only `test_name` under `unshare -rn`, waits, and returns `Ok(false)` if that run passed
/// (the caller then returns). Inside, it sets the network up and returns `Ok(true)`: the caller
/// runs the test body.
pub fn enter(test_name: &str) -> Result<bool> {
    run_inside(
        test_name,
        &[test_name, "--exact", "--nocapture", "--test-threads=1"],
    )
}

/// Like [`enter`], for any program: outside, re-run the current executable with `args` in a new
/// namespace (marked `name`) and return `Ok(false)` once it succeeded; inside, set the network
/// up and return `Ok(true)`.
#[allow(clippy::print_stdout)] // relaying the inner run's output is the point
pub fn run_inside(name: &str, args: &[&str]) -> Result<bool> {
    let Some(mut command) = reexec(name, args)? else {
        return Ok(true);
    };
    let output = command.output().map_err(|e| err("unshare", e))?;
    // The inner run's output, marked so that it is not counted as a second test run.
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        println!("    │ {line}");
    }
    let status = output.status;
    if status.success() {
        Ok(false)
    } else {
        Err(err(
            name,
            format!("failed inside its network namespace ({status}); see the output above"),
        ))
    }
}

/// Like [`run_inside`], for a program a person watches: the inner run's output goes straight to
/// the terminal as it happens.
pub fn run_inside_interactive(name: &str, args: &[&str]) -> Result<bool> {
    let Some(mut command) = reexec(name, args)? else {
        return Ok(true);
    };
    let status = command.status().map_err(|e| err("unshare", e))?;
    if status.success() {
        Ok(false)
    } else {
        Err(err(name, format!("ended with {status}")))
    }
}

/// Whether this process runs inside a test's namespace (set up by [`enter`] or [`run_inside`]).
pub(crate) fn is_inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Inside the namespace marked `name`: set the network up and return `None`. Outside: the
/// command that runs this executable again with `args` in a new one.
fn reexec(name: &str, args: &[&str]) -> Result<Option<Command>> {
    if std::env::var(INSIDE).as_deref() == Ok(name) {
        setup()?;
        return Ok(None);
    }
    let exe = std::env::current_exe().map_err(|e| err("this program", e))?;
    let mut command = Command::new(find_program("unshare")?);
    command
        .args(["--user", "--map-root-user", "--net", "--"])
        .arg(exe)
        .args(args)
        .env(INSIDE, name);
    Ok(Some(command))
}

fn ip(args: &[&str]) -> Result<()> {
    run_tool("ip", "iproute2", args, None).map(|_| ())
}

fn setup() -> Result<()> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", SERVER_IF, "type", "veth", "peer", "name", CLIENT_IF,
    ])?;
    ip(&[
        "addr",
        "add",
        &format!("{SERVER_ADDR}/24"),
        "dev",
        SERVER_IF,
    ])?;
    ip(&[
        "addr",
        "add",
        &format!("{CLIENT_ADDR}/24"),
        "dev",
        CLIENT_IF,
    ])?;
    ip(&["link", "set", SERVER_IF, "up"])?;
    ip(&["link", "set", CLIENT_IF, "up"])?;
    Ok(())
}

/// Count every packet this namespace sends to an address outside `allowed` (nftables, output
/// hook). A default route to a gateway that does not exist makes packets for outside addresses
/// reach the hook (and then go nowhere), so an attempt to talk to anyone else is counted.
pub struct EgressWatch;

/// Run `nft` with these arguments (one command, as words or as one string); its output.
pub fn nft(args: &[&str]) -> Result<String> {
    run_tool("nft", "nftables", args, None)
}

impl EgressWatch {
    /// Start counting (inside the namespace only).
    pub fn start(allowed: &[&str]) -> Result<Self> {
        ip(&[
            "route",
            "add",
            "default",
            "via",
            "198.18.0.254",
            "dev",
            CLIENT_IF,
        ])?;
        nft(&["add", "table", "inet", "egress"])?;
        nft(&[
            "add",
            "chain",
            "inet",
            "egress",
            "out",
            "{ type filter hook output priority 0; }",
        ])?;
        nft(&[
            "add",
            "set",
            "inet",
            "egress",
            "seen4",
            "{ type ipv4_addr; flags dynamic; }",
        ])?;
        nft(&[
            "add",
            "set",
            "inet",
            "egress",
            "seen6",
            "{ type ipv6_addr; flags dynamic; }",
        ])?;
        let set = format!("{{ {} }}", allowed.join(", "));
        nft(&[
            "add",
            "rule",
            "inet",
            "egress",
            "out",
            "ip",
            "daddr",
            "!=",
            &set,
            "counter",
            "add",
            "@seen4",
            "{ ip daddr }",
        ])?;
        // The kernel's own IPv6 neighbour discovery and multicast listener reports (ICMPv6 to
        // link-local multicast, sent when the test's links come up) are not an application
        // talking to a host; everything else over IPv6 counts.
        nft(&[
            "add",
            "rule",
            "inet",
            "egress",
            "out",
            "meta",
            "nfproto",
            "ipv6",
            "ip6",
            "daddr",
            "!=",
            "::1",
            "meta",
            "l4proto",
            "!=",
            "ipv6-icmp",
            "counter",
            "add",
            "@seen6",
            "{ ip6 daddr }",
        ])?;
        Ok(Self)
    }

    /// The addresses packets were sent to, as nft lists them.
    pub fn destinations(&self) -> Result<String> {
        let four = nft(&["list", "set", "inet", "egress", "seen4"])?;
        let six = nft(&["list", "set", "inet", "egress", "seen6"])?;
        Ok(format!("{four}{six}"))
    }

    /// Packets counted so far.
    pub fn packets(&self) -> Result<u64> {
        let listing = nft(&["list", "table", "inet", "egress"])?;
        Ok(listing
            .split("packets ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum())
    }
}

/// Lose `percent` % of what the server sends from its media ports (Janus's `rtp_port_range`,
/// 20000–30000: below the ephemeral ports clients use, so every receiver's downlink and nothing
/// else), at random, or nothing (`0`). Inside the test's namespace; replaces an earlier setting.
/// The packets are dropped where they arrive (nftables input hook), as a network loses them:
/// dropped on output, the server's `sendto` fails with EPERM, which its ICE stack takes for a
/// broken path rather than a lost packet.
pub fn lose_server_media(percent: u32) -> Result<()> {
    lose_arriving("runde_loss", "sport", percent)
}

/// Drop `percent` % of the UDP packets arriving whose `port` (`sport` or `dport`) is one of
/// Janus's media ports, with the nftables table `table` (replaced; removed for `0`).
fn lose_arriving(table: &str, port: &str, percent: u32) -> Result<()> {
    let _ = nft(&["delete", "table", "inet", table]);
    if percent == 0 {
        return Ok(());
    }
    nft(&["add", "table", "inet", table])?;
    nft(&[
        "add",
        "chain",
        "inet",
        table,
        "arriving",
        "{ type filter hook input priority 0; }",
    ])?;
    let percent = percent.to_string();
    nft(&[
        "add",
        "rule",
        "inet",
        table,
        "arriving",
        "udp",
        port,
        "20000-30000",
        "numgen",
        "random",
        "mod",
        "100",
        "<",
        &percent,
        "drop",
    ])
    .map(|_| ())
}

/// Take the test's network away (`true`: every packet arriving in the namespace is dropped,
/// signalling and media alike, as when a Wi-Fi drops out without telling anyone: no reset, no
/// close) or give it back (`false`). Inside the test's namespace.
pub fn cut_network(cut: bool) -> Result<()> {
    let _ = nft(&["delete", "table", "inet", "runde_cut"]);
    if !cut {
        return Ok(());
    }
    nft(&["add", "table", "inet", "runde_cut"])?;
    nft(&[
        "add",
        "chain",
        "inet",
        "runde_cut",
        "arriving",
        "{ type filter hook input priority -10; policy drop; }",
    ])
    .map(|_| ())
}

/// The local ports of the UDP sockets bound to `addr` in this namespace (`/proc/net/udp`).
pub fn udp_ports_on(addr: std::net::Ipv4Addr) -> Result<Vec<u16>> {
    let table = std::fs::read_to_string("/proc/net/udp").map_err(|e| err("/proc/net/udp", e))?;
    // The address as the kernel prints it: the 32-bit value in host (little-endian) order.
    let wanted = format!("{:08X}", u32::from_le_bytes(addr.octets()));
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|local| local.split_once(':'))
        .filter(|(ip, _)| *ip == wanted)
        .filter_map(|(_, port)| u16::from_str_radix(port, 16).ok())
        .filter(|port| *port != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

/// Drop every UDP packet arriving in this namespace for one of `ports`, as a network does that
/// stopped delivering to the mappings a call used (a NAT that forgot them); empty: deliver again.
pub fn drop_arriving_udp(ports: &[u16]) -> Result<()> {
    let _ = nft(&["delete", "table", "inet", "runde_ports"]);
    if ports.is_empty() {
        return Ok(());
    }
    let set = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    nft(&["add", "table", "inet", "runde_ports"])?;
    nft(&[
        "add",
        "chain",
        "inet",
        "runde_ports",
        "arriving",
        "{ type filter hook input priority -10; }",
    ])?;
    nft(&[
        "add",
        "rule",
        "inet",
        "runde_ports",
        "arriving",
        "udp",
        "dport",
        &format!("{{ {set} }}"),
        "drop",
    ])
    .map(|_| ())
}
