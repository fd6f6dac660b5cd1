//! The UDP sockets under every connection.
//!
//! webrtc-rs's tokio runtime gives each connection its UDP sockets (quinn-udp underneath). Ours
//! wrap them for two things:
//!
//! - **Counting** the RTP packets that reach them, per stream, for
//!   [`undecryptable`](super::undecryptable).
//! - **Never losing a run the network device cannot segment.** webrtc-rs sends a run of 16 or
//!   more datagrams of one size to one address with a single `sendmsg` that the kernel cuts into
//!   datagrams (UDP segmentation offload). Where the kernel cannot (an IPsec VPN's policy, some
//!   devices and older kernels), `sendmsg` fails with `EIO` or `EINVAL`. quinn-udp then stops
//!   batching on that socket, but the run that failed is gone: a whole video frame, which the
//!   server reports lost and the sender takes for congestion, once on every new socket (every
//!   call, every ICE restart). Here such a run goes out again one datagram at a time.
//!
//! Runs come when the connection's driver falls behind (a loaded machine) or a large frame
//! leaves at once.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

use super::undecryptable::SharedTally;

/// The host runtime, with our UDP sockets.
#[derive(Debug)]
pub(super) struct LinkRuntime {
    inner: Arc<dyn Runtime>,
    tally: SharedTally,
}

impl LinkRuntime {
    /// webrtc-rs's own tokio runtime, counting what arrives into `tally`.
    pub(super) fn new(tally: SharedTally) -> Self {
        Self {
            inner: Arc::new(webrtc::runtime::TokioRuntime),
            tally,
        }
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for LinkRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(LinkSocket::new(
            self.inner.wrap_udp_socket(socket)?,
            Some(Arc::clone(&self.tally)),
        )))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Boxed<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> Boxed<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> std::time::Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Boxed<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future);
    }

    fn yield_now(&self) -> Boxed<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio, with Runde's sockets"
    }
}

/// A connection's UDP socket.
#[derive(Debug)]
struct LinkSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    /// Where arriving RTP packets are counted (none: not counted).
    tally: Option<SharedTally>,
    /// Whether a run was refused already (logged once).
    refused: AtomicBool,
}

impl LinkSocket {
    fn new(inner: Arc<dyn AsyncUdpSocket>, tally: Option<SharedTally>) -> Self {
        Self {
            inner,
            tally,
            refused: AtomicBool::new(false),
        }
    }

    /// Send the datagrams of a run the device refused to segment, one at a time. A full send
    /// buffer part of the way through drops the rest of the run (as a full queue would), since
    /// asking to be polled again would send its first datagrams twice.
    fn send_one_by_one(
        &self,
        cx: &mut Context<'_>,
        run: &Transmit<'_>,
        size: usize,
    ) -> io::Result<usize> {
        if !self.refused.swap(true, Ordering::Relaxed) {
            tracing::info!(
                datagrams = run.contents.len().div_ceil(size),
                "the network device cannot send a run of datagrams as one (no UDP segmentation \
                 offload): this connection sends them one at a time"
            );
        }
        let mut datagrams = run.contents.chunks(size);
        for datagram in datagrams.by_ref() {
            let single = Transmit {
                destination: run.destination,
                ecn: run.ecn,
                contents: datagram,
                segment_size: None,
                src_ip: run.src_ip,
            };
            match self.inner.poll_send(cx, &single) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {
                    tracing::debug!(
                        dropped = datagrams.count() + 1,
                        "the send buffer is full: the rest of a run is dropped"
                    );
                    break;
                }
            }
        }
        Ok(run.contents.len())
    }
}

/// Whether a failed send of a run says the device cannot segment it (quinn-udp stops segmenting
/// on that socket after either).
fn refused_segmentation(error: &io::Error) -> bool {
    const EIO: i32 = 5;
    const EINVAL: i32 = 22;
    cfg!(target_os = "linux") && matches!(error.raw_os_error(), Some(EIO | EINVAL))
}

impl AsyncUdpSocket for LinkSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let sent = self.inner.poll_send(cx, transmit);
        match (sent, transmit.segment_size) {
            (Poll::Ready(Err(e)), Some(size))
                if size > 0 && transmit.contents.len() > size && refused_segmentation(&e) =>
            {
                Poll::Ready(self.send_one_by_one(cx, transmit, size))
            }
            (sent, _) => sent,
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let polled = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(n)) = &polled
            && let Some(tally) = &self.tally
            && let Ok(mut tally) = tally.lock()
        {
            for (buf, meta) in bufs.iter().zip(meta.iter()).take(*n) {
                let filled = buf.get(..meta.len).unwrap_or_default();
                // A coalesced (GRO) message holds datagrams of `stride` bytes, the last shorter.
                for datagram in filled.chunks(meta.stride.max(1)) {
                    tally.on_datagram(datagram);
                }
            }
        }
        polled
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A socket that refuses to send a run as one, as the kernel does through a device that
    /// cannot segment it (IPsec, some virtual devices; this machine's kernel segments through
    /// every device the tests can make), and then stops batching, as quinn-udp does.
    #[derive(Debug)]
    struct Refusing {
        sent: Mutex<Vec<Vec<u8>>>,
        batches: AtomicBool,
        /// The error a run gets (`EIO`: the device cannot segment it).
        run_error: i32,
    }

    impl Refusing {
        fn new(run_error: i32) -> Arc<Self> {
            Arc::new(Self {
                sent: Mutex::default(),
                batches: AtomicBool::new(true),
                run_error,
            })
        }
    }

    impl AsyncUdpSocket for Refusing {
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 5000)))
        }

        fn poll_send(
            &self,
            _: &mut Context<'_>,
            transmit: &Transmit<'_>,
        ) -> Poll<io::Result<usize>> {
            if transmit.segment_size.is_some() {
                self.batches.store(false, Ordering::Relaxed);
                return Poll::Ready(Err(io::Error::from_raw_os_error(self.run_error)));
            }
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(transmit.contents.to_vec());
            }
            Poll::Ready(Ok(transmit.contents.len()))
        }

        fn poll_recv(
            &self,
            _: &mut Context<'_>,
            _: &mut [IoSliceMut<'_>],
            _: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }

        fn max_gso_segments(&self) -> usize {
            if self.batches.load(Ordering::Relaxed) {
                64
            } else {
                1
            }
        }
    }

    fn send_run(socket: &LinkSocket, run: &[u8], size: usize) -> Poll<io::Result<usize>> {
        let transmit = Transmit {
            destination: SocketAddr::from(([127, 0, 0, 1], 6000)),
            ecn: None,
            contents: run,
            segment_size: Some(size),
            src_ip: None,
        };
        socket.poll_send(
            &mut Context::from_waker(std::task::Waker::noop()),
            &transmit,
        )
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_run_the_device_refuses_goes_out_one_datagram_at_a_time() {
        let inner = Refusing::new(5);
        let socket = LinkSocket::new(inner.clone(), None);
        assert_eq!(socket.max_gso_segments(), 64);
        // Seventeen datagrams of 1 200 bytes and a shorter last one, as a video frame.
        let run: Vec<u8> = (0..18u8)
            .flat_map(|i| vec![i; if i == 17 { 300 } else { 1_200 }])
            .collect();
        assert!(matches!(send_run(&socket, &run, 1_200), Poll::Ready(Ok(n)) if n == run.len()));
        let sent = inner.sent.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(sent.len(), 18);
        assert!(sent.iter().enumerate().all(|(i, d)| d[0] == i as u8));
        assert_eq!(sent[17].len(), 300);
        // The socket batches no more.
        assert_eq!(socket.max_gso_segments(), 1);
    }

    #[test]
    fn other_errors_are_not_retried() {
        // The network is unreachable (ENETUNREACH): that is the run's fate, not its shape.
        let inner = Refusing::new(101);
        let socket = LinkSocket::new(inner.clone(), None);
        let run = vec![0u8; 4_800];
        assert!(matches!(
            send_run(&socket, &run, 1_200),
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(101)
        ));
        assert!(inner.sent.lock().is_ok_and(|s| s.is_empty()));
    }
}
