//! A throw-away TURN server for one test: Debian's coturn on the server host behind the
//! [`crate::wire::Wire`], long-term credentials the test makes up, plain TCP and TLS on one port
//! (coturn tells a TLS handshake from TURN by its first bytes), relaying from the server host's
//! wire address — never loopback, which Janus would not use. Stopped by PID when dropped; its log
//! stays in the test's artifact folder.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::netns::SERVER_ADDR;
use crate::process::{ChildGuard, find_system_program, wait_until};
use crate::tls_proxy::ServerCert;
use crate::wire::ServerHost;
use crate::{Result, err};

/// The realm the test's TURN server names.
pub const REALM: &str = "runde.test";

/// A running coturn.
pub struct Coturn {
    _guard: ChildGuard,
    log: PathBuf,
}

impl Coturn {
    /// Start coturn on `host`, listening on the server address's `port` for TURN over UDP, TCP
    /// and TLS (with `cert`), accepting `user` with `password`; returns once it accepts TCP
    /// connections from this namespace.
    pub fn start_on(
        host: &ServerHost,
        dir: &Path,
        port: u16,
        cert: &ServerCert,
        user: &str,
        password: &str,
    ) -> Result<Self> {
        let log = dir.join("coturn.log");
        let path = |p: &Path| p.display().to_string();
        let mut command = host.command(find_system_program("turnserver", "coturn")?)?;
        command
            .args([
                "-n",
                "--no-cli",
                "--no-dtls",
                "--simple-log",
                "-v",
                &format!("--listening-ip={SERVER_ADDR}"),
                &format!("--listening-port={port}"),
                &format!("--relay-ip={SERVER_ADDR}"),
                "--lt-cred-mech",
                &format!("--realm={REALM}"),
                &format!("--user={user}:{password}"),
                &format!("--cert={}", path(&cert.cert)),
                &format!("--pkey={}", path(&cert.key)),
                &format!("--log-file={}", path(&log)),
                &format!("--pidfile={}", path(&dir.join("coturn.pid"))),
                &format!("--userdb={}", path(&dir.join("coturn.sqlite"))),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut guard = ChildGuard::spawn("coturn", &mut command)?;
        let address = SocketAddr::new(
            SERVER_ADDR.parse().map_err(|e| err("server address", e))?,
            port,
        );
        wait_until(
            "coturn to accept connections",
            Duration::from_secs(10),
            || {
                guard.ensure_running()?;
                Ok(TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok())
            },
        )?;
        Ok(Self { _guard: guard, log })
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
