//! A TURN server reached over TCP or TLS, offered to webrtc-rs as a UDP one on 127.0.0.1.
//!
//! webrtc-rs's TURN client sends its datagrams (Allocate, Refresh, CreatePermission, ChannelBind,
//! Send indications, ChannelData) to our UDP socket; each local socket of the client gets its own
//! TCP or TLS connection to the real server — its own 5-tuple, so its own allocation, as TURN
//! wants — and every datagram goes onto it framed, every message from it goes back as a datagram.
//! A connection that fails or ends is forgotten: the client's next datagram opens a new one
//! (TURN then sees a new client; ICE notices a relay that stopped working as any broken path).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::framing::{self, StreamDeframer};
use super::{TurnTls, TurnTransport, TurnUrl};
use crate::MediaError;

/// How long opening a connection to the TURN server may take (TCP and TLS handshakes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Datagrams waiting for one connection (a connection still opening, or a slow one): beyond
/// this they are dropped, as a full network queue would.
const QUEUE: usize = 256;
/// At most this many connections at once (webrtc-rs opens one per local address).
const MAX_CONNECTIONS: usize = 16;

/// The running relay; stops (closing its connections) when dropped.
pub(crate) struct StreamRelay {
    local: SocketAddr,
    task: JoinHandle<()>,
}

/// Where the relay connects to.
struct Target {
    host: String,
    port: u16,
    tls: Option<TurnTls>,
}

impl StreamRelay {
    /// Start relaying to the TCP or TLS TURN server `url`; `tls` checks a `turns:` server's
    /// certificate.
    pub(crate) async fn start(url: &TurnUrl, tls: Option<TurnTls>) -> Result<Self, MediaError> {
        let tls = match url.transport {
            TurnTransport::Udp => {
                return Err(MediaError::Transport {
                    reason: "a UDP TURN server needs no relay".into(),
                });
            }
            TurnTransport::Tcp => None,
            TurnTransport::Tls => Some(tls.ok_or_else(|| MediaError::Transport {
                reason: "turns: needs a TLS configuration".into(),
            })?),
        };
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| MediaError::Transport {
                reason: format!("TURN relay socket: {e}"),
            })?;
        let local = socket.local_addr().map_err(|e| MediaError::Transport {
            reason: format!("TURN relay socket: {e}"),
        })?;
        let target = Arc::new(Target {
            host: url.host.clone(),
            port: url.port,
            tls,
        });
        let task = tokio::spawn(serve(Arc::new(socket), target));
        Ok(Self { local, task })
    }

    /// The URL webrtc-rs's TURN client is given instead of the real server's.
    pub(crate) fn local_url(&self) -> String {
        format!("turn:{}?transport=udp", self.local)
    }
}

impl Drop for StreamRelay {
    fn drop(&mut self) {
        // Aborting the task drops its `JoinSet`, which aborts every connection.
        self.task.abort();
    }
}

/// Take datagrams from the TURN client and hand each to its connection.
async fn serve(socket: Arc<UdpSocket>, target: Arc<Target>) {
    let mut connections: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buffer = vec![0u8; 65_536];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let (n, from) = match received {
                    Ok(received) => received,
                    // An ICMP error for an earlier datagram, or a signal: the socket still works.
                    Err(e) if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused | ErrorKind::Interrupted
                    ) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "TURN relay: the local socket failed");
                        return;
                    }
                };
                let framed = match buffer.get(..n).map(framing::to_stream) {
                    Some(Ok(framed)) => framed,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "TURN relay: a datagram that is not TURN; dropped");
                        continue;
                    }
                    None => continue,
                };
                // Only a TURN client on this machine opens connections, and not too many.
                if !connections.contains_key(&from)
                    && (connections.len() >= MAX_CONNECTIONS || !is_local(from))
                {
                    continue;
                }
                let queue = connections.entry(from).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    tasks.spawn(connection(from, Arc::clone(&socket), rx, Arc::clone(&target)));
                    tx
                });
                if let Err(mpsc::error::TrySendError::Closed(_)) = queue.try_send(framed) {
                    connections.remove(&from);
                }
            }
            Some(ended) = tasks.join_next() => {
                if let Ok(from) = ended {
                    connections.remove(&from);
                }
            }
        }
    }
}

/// Whether `address` is one of this machine's (webrtc-rs binds its sockets to the interfaces'
/// addresses, and sends to 127.0.0.1 from them).
fn is_local(address: SocketAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(address.ip(), 0)).is_ok()
}

/// One TURN client's connection to the server, for as long as it works; returns whose it was.
async fn connection(
    from: SocketAddr,
    socket: Arc<UdpSocket>,
    outgoing: mpsc::Receiver<Vec<u8>>,
    target: Arc<Target>,
) -> SocketAddr {
    let result = match tokio::time::timeout(CONNECT_TIMEOUT, open(&target)).await {
        Ok(Ok(Opened::Tcp(stream))) => pump(stream, from, &socket, outgoing).await,
        Ok(Ok(Opened::Tls(stream))) => pump(*stream, from, &socket, outgoing).await,
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the TURN server did not answer in time".to_owned()),
    };
    match result {
        Ok(()) => tracing::debug!("TURN relay: connection closed"),
        Err(e) => tracing::info!(error = %e, "TURN relay: connection to the TURN server ended"),
    }
    from
}

enum Opened {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn open(target: &Target) -> Result<Opened, String> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to the TURN server: {e}"))?;
    // Media: no waiting to fill segments.
    let _ = stream.set_nodelay(true);
    let Some(TurnTls(config)) = &target.tls else {
        return Ok(Opened::Tcp(stream));
    };
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| format!("the TURN server's name: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with the TURN server failed: {e}"))?;
    Ok(Opened::Tls(Box::new(stream)))
}

/// Datagrams onto the stream, messages off it, until either side ends or the stream breaks.
async fn pump(
    stream: impl AsyncRead + AsyncWrite,
    client: SocketAddr,
    socket: &UdpSocket,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) -> Result<(), String> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut deframer = StreamDeframer::default();
    let mut buffer = vec![0u8; 16_384];
    loop {
        tokio::select! {
            datagram = outgoing.recv() => {
                let Some(bytes) = datagram else { return Ok(()) };
                writer.write_all(&bytes).await.map_err(|e| format!("sending: {e}"))?;
            }
            read = reader.read(&mut buffer) => {
                let n = read.map_err(|e| format!("receiving: {e}"))?;
                let Some(bytes) = buffer.get(..n).filter(|b| !b.is_empty()) else {
                    return Ok(());
                };
                deframer.push(bytes);
                while let Some(message) = deframer.next_message().map_err(|e| e.to_string())? {
                    // A datagram the client's socket cannot take now is lost, as on a network.
                    let _ = socket.send_to(&message, client).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const STUN: [u8; 24] = [
        0x00, 0x03, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        0xaa, 0xbb, 0xcc, 0xdd,
    ];
    const CHANNEL_DATA: [u8; 7] = [0x40, 0x00, 0x00, 0x03, 7, 8, 9];

    async fn receive(socket: &UdpSocket) -> Vec<u8> {
        let mut buffer = [0u8; 2048];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buffer))
            .await
            .expect("a datagram in time")
            .expect("receive");
        buffer[..n].to_vec()
    }

    /// A datagram to the relay reaches a TCP "TURN server" framed; what the server writes (two
    /// messages in one write, ChannelData padded) comes back as two datagrams without padding;
    /// a broken stream closes the connection, and the next datagram opens a new one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn datagrams_cross_a_tcp_connection_both_ways() {
        let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("listen");
        let port = server.local_addr().expect("address").port();
        let url = TurnUrl::parse(&format!("turn:127.0.0.1:{port}?transport=tcp")).expect("url");
        let relay = StreamRelay::start(&url, None).await.expect("relay");
        assert!(relay.local_url().starts_with("turn:127.0.0.1:"));
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("client");
        client.connect(relay.local).await.expect("connect");

        client.send(&CHANNEL_DATA).await.expect("send");
        let (mut stream, _) = server.accept().await.expect("a connection");
        let mut framed = [0u8; 8];
        stream.read_exact(&mut framed).await.expect("framed");
        assert_eq!(&framed[..7], &CHANNEL_DATA, "padded to 8 on the stream");
        assert_eq!(framed[7], 0);

        let mut both = framed.to_vec();
        both.extend_from_slice(&STUN);
        stream.write_all(&both).await.expect("write");
        assert_eq!(
            receive(&client).await,
            CHANNEL_DATA.to_vec(),
            "without padding"
        );
        assert_eq!(receive(&client).await, STUN.to_vec());

        // Garbage from the server: the relay closes that connection.
        stream.write_all(&[0xff; 8]).await.expect("write");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
        assert!(
            closed.await.is_ok(),
            "the relay closed the broken connection"
        );

        client.send(&STUN).await.expect("send again");
        let (mut again, _) = server.accept().await.expect("a new connection");
        let mut message = [0u8; 24];
        again.read_exact(&mut message).await.expect("read");
        assert_eq!(message, STUN);
    }
}
