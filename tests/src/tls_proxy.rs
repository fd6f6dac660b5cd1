//! A real TLS front for Janus, as operators run it: Debian's nginx terminating TLS and passing the
//! WebSocket on, with certificates from a certificate authority the test makes with `openssl`.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::SERVER_ADDR;
use crate::process::{ChildGuard, find_system_program, free_port, run_tool, wait_until};
use crate::wire::ServerHost;
use crate::{Result, err};

fn openssl(args: &[&str], dir: &Path) -> Result<()> {
    run_tool("openssl", "openssl", args, Some(dir)).map(|_| ())
}

/// A certificate authority of the test's own.
pub struct TestCa {
    dir: PathBuf,
}

/// A server certificate and its key.
pub struct ServerCert {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl TestCa {
    /// Make a CA in `dir`.
    pub fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| err("ca folder", e))?;
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Runde Test CA",
            ],
            dir,
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The CA certificate (a bundle to trust).
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for 127.0.0.1 naming `organisation`, with a fresh key, signed by this CA.
    pub fn server(&self, name: &str, organisation: &str) -> Result<ServerCert> {
        self.server_for(name, &format!("/CN=127.0.0.1/O={organisation}"))
    }

    /// A fresh P-256 key and a signing request for `subject`.
    fn key_and_request(&self, key: &str, csr: &str, subject: &str) -> Result<()> {
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                key,
                "-out",
                csr,
                "-subj",
                subject,
            ],
            &self.dir,
        )
    }

    /// A certificate for 127.0.0.1 that names no organisation.
    pub fn server_without_organisation(&self, name: &str) -> Result<ServerCert> {
        self.server_for(name, "/CN=127.0.0.1")
    }

    /// A certificate for the IP address `ip` (a test host other than loopback, e.g. a TURN
    /// server on the server host), signed by this CA.
    pub fn server_at(&self, name: &str, ip: &str) -> Result<ServerCert> {
        self.server_with_ip(name, &format!("/CN={ip}"), ip)
    }

    fn server_for(&self, name: &str, subject: &str) -> Result<ServerCert> {
        self.server_with_ip(name, subject, "127.0.0.1")
    }

    fn server_with_ip(&self, name: &str, subject: &str, ip: &str) -> Result<ServerCert> {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        let ext = format!("{name}.ext");
        fs::write(self.dir.join(&ext), format!("subjectAltName=IP:{ip}\n"))
            .map_err(|e| err("ext", e))?;
        self.key_and_request(&key, &csr, subject)?;
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "1",
                "-extfile",
                &ext,
            ],
            &self.dir,
        )?;
        Ok(ServerCert {
            cert: self.dir.join(cert),
            key: self.dir.join(key),
        })
    }
}

impl TestCa {
    /// A certificate for 127.0.0.1 that expired long ago (valid in January 2020), signed by this CA.
    pub fn expired_server(&self, name: &str) -> Result<ServerCert> {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        let conf = format!("{name}.cnf");
        fs::write(self.dir.join(format!("{name}.index")), "").map_err(|e| err("ca", e))?;
        fs::write(self.dir.join(format!("{name}.serial")), "01\n").map_err(|e| err("ca", e))?;
        fs::write(
            self.dir.join(&conf),
            format!(
                "[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = {name}.index\nserial = {name}.serial\n\
                 new_certs_dir = .\ndefault_md = sha256\npolicy = any\nx509_extensions = ext\n\
                 [any]\ncommonName = supplied\n[ext]\nsubjectAltName = IP:127.0.0.1\n"
            ),
        )
        .map_err(|e| err("ca", e))?;
        self.key_and_request(&key, &csr, "/CN=127.0.0.1")?;
        openssl(
            &[
                "ca",
                "-batch",
                "-config",
                &conf,
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                &csr,
                "-out",
                &cert,
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200201000000Z",
            ],
            &self.dir,
        )?;
        Ok(ServerCert {
            cert: self.dir.join(cert),
            key: self.dir.join(key),
        })
    }
}

/// nginx terminating TLS and forwarding the WebSocket to Janus.
pub struct TlsProxy {
    _guard: ChildGuard,
    listen: SocketAddr,
}

impl TlsProxy {
    /// Start nginx with `cert` in front of `127.0.0.1:upstream`, on a free port. A file
    /// `operator.json` in `dir` is served as the operator statement.
    pub fn start(dir: &Path, cert: &ServerCert, upstream: u16) -> Result<Self> {
        Self::start_on(dir, cert, upstream, free_port()?)
    }

    /// The same on a given port (the same server, later, with another certificate).
    pub fn start_on(dir: &Path, cert: &ServerCert, upstream: u16, port: u16) -> Result<Self> {
        let nginx = Command::new(find_system_program("nginx", "nginx-light")?);
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream));
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Self::launch(nginx, dir, cert, upstream, listen)
    }

    /// nginx on the server host behind a [`crate::wire::Wire`], on its wire address's `port`, in
    /// front of Janus's WebSocket there (`janus_port`): clients reach the server across the wire
    /// from their own address, as they reach a real server (`cert` names the server address,
    /// see [`TestCa::server_at`]).
    pub fn start_on_host(
        host: &ServerHost,
        dir: &Path,
        cert: &ServerCert,
        janus_port: u16,
        port: u16,
    ) -> Result<Self> {
        let nginx = host.command(find_system_program("nginx", "nginx-light")?)?;
        let server: IpAddr = SERVER_ADDR.parse().map_err(|e| err("server address", e))?;
        let upstream = SocketAddr::new(server, janus_port);
        Self::launch(nginx, dir, cert, upstream, SocketAddr::new(server, port))
    }

    /// Write the configuration into `dir` and run `nginx` with it until it accepts connections
    /// on `listen` (reached from this namespace).
    fn launch(
        mut nginx: Command,
        dir: &Path,
        cert: &ServerCert,
        upstream: SocketAddr,
        listen: SocketAddr,
    ) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| err("nginx folder", e))?;
        let d = dir.display();
        let conf = format!(
            r#"user root root;
worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{}}
http {{
  access_log {d}/nginx-access.log;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{
    listen {listen} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location = /.well-known/runde-operator.json {{
      default_type application/json;
      alias {d}/operator.json;
    }}
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 120s;
    }}
  }}
}}
"#,
            cert = cert.cert.display(),
            key = cert.key.display(),
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).map_err(|e| err("nginx config", e))?;
        nginx
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut guard = ChildGuard::spawn("nginx", &mut nginx)?;
        wait_until("nginx to listen", Duration::from_secs(10), || {
            guard.ensure_running()?;
            Ok(TcpStream::connect(listen).ok().map(|_| ()))
        })?;
        Ok(Self {
            _guard: guard,
            listen,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// The link to `room` through the proxy.
    pub fn link(&self, room: u64) -> String {
        format!("https://{}/janus?room={room}", self.listen)
    }
}
