//! Video to the webview over a loopback WebSocket.
//!
//! Frames do not go through Tauri's IPC: every IPC message passes the GTK main thread, which
//! saturates near one core with a few video streams (docs/BENCHMARKS.md). Instead the webview
//! opens a WebSocket to `127.0.0.1` on a port chosen at launch. Only our window may read it: the
//! path carries a per-launch random key (given to the window through IPC) and the `Origin` must be
//! the app's own. Nothing listens on any other address.
//!
//! Protocol. The page says which tiles it shows and how large they are on screen (in device
//! pixels), acknowledges each picture once drawn, and says when a tile was drawn twice between two
//! screen refreshes (the earlier picture never reached the screen):
//! `{"tiles":[{"id":"123","width":320,"height":180}]}` · `{"drawn":"123"}` · `{"skipped":"123"}`.
//! The server sends one binary message per picture, scaled down to the tile in Rust and converted
//! to RGBA: a 16-byte header (`b"RNDV"`, width u16 LE, height u16 LE, id length u8, 7 reserved
//! bytes), the id, padding to a multiple of 4, then width × height × 4 bytes.
//!
//! Back-pressure: at most [`IN_FLIGHT_PER_TILE`] pictures per tile are on their way; until the
//! page acknowledges one, the screen keeps only the newest picture for that tile (older ones are
//! counted as replaced). A slow page therefore sees fewer, current pictures, never a growing
//! queue. Two, not one: with one, the next picture is converted and carried only after the page
//! has drawn the last and said so, and that round trip, not the work, limits the rate when the
//! machine is busy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use runde_call::VideoScreen;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// The origins the app's own page has: Linux and macOS, Windows, and the dev server.
const ALLOWED_ORIGINS: &[&str] = &[
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
    "http://localhost:5173",
];

/// Pictures per tile sent and not yet acknowledged as drawn: one being drawn, one on its way.
const IN_FLIGHT_PER_TILE: u32 = 2;

/// Where the page finds the video.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub(crate) struct VideoEndpoint {
    /// `ws://127.0.0.1:<port>/video/<key>`.
    pub url: String,
}

/// How each tile's pictures fared, decoded to drawn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub(crate) struct TileStats {
    /// Whose tile ("self" for our own camera).
    pub participant: String,
    /// Pictures playout handed over.
    #[cfg_attr(test, ts(type = "number"))]
    pub shown: u64,
    /// Pictures replaced by newer ones before they could be sent.
    #[cfg_attr(test, ts(type = "number"))]
    pub replaced: u64,
    /// Pictures sent to the page.
    #[cfg_attr(test, ts(type = "number"))]
    pub sent: u64,
    /// Pictures the page drew.
    #[cfg_attr(test, ts(type = "number"))]
    pub drawn: u64,
    /// Of the pictures drawn, those the next one overwrote before the screen refreshed: never
    /// seen.
    #[cfg_attr(test, ts(type = "number"))]
    pub skipped: u64,
    /// The last picture's size as received, before it was scaled to the tile (the simulcast
    /// layer the server forwards); 0 × 0 before any.
    pub received_width: u32,
    /// See `received_width`.
    pub received_height: u32,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PageMessage {
    Tiles { tiles: Vec<TileSize> },
    Drawn { drawn: String },
    Skipped { skipped: String },
}

#[derive(Debug, Clone, Deserialize)]
struct TileSize {
    id: String,
    width: u32,
    height: u32,
}

/// The tiles the page shows, by id, with their size on screen in device pixels.
pub(crate) type TileSizes = BTreeMap<String, (u32, u32)>;

/// The running server.
pub(crate) struct VideoServer {
    endpoint: VideoEndpoint,
    port: u16,
    counts: Arc<Mutex<BTreeMap<String, TileCounts>>>,
    screen: VideoScreen,
    tiles: tokio::sync::watch::Receiver<TileSizes>,
}

/// Per tile: pictures sent and drawn, and the last one's size as received.
#[derive(Debug, Clone, Copy, Default)]
struct TileCounts {
    sent: u64,
    drawn: u64,
    skipped: u64,
    received: (u32, u32),
}

impl VideoServer {
    /// Listen on a free loopback port; pictures come from `screen`.
    pub(crate) fn start(screen: VideoScreen) -> std::io::Result<Self> {
        let mut key_bytes = [0u8; 24];
        getrandom::fill(&mut key_bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        let key: String = key_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let (tiles_tx, tiles) = tokio::sync::watch::channel(TileSizes::new());
        let server = Self {
            endpoint: VideoEndpoint {
                url: format!("ws://127.0.0.1:{port}/video/{key}"),
            },
            port,
            counts: counts.clone(),
            screen: screen.clone(),
            tiles,
        };
        let path = format!("/video/{key}");
        tauri::async_runtime::spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "the video server cannot listen");
                    return;
                }
            };
            // One page at a time: a new connection (a reloaded page) replaces the old one.
            let mut current: Option<tauri::async_runtime::JoinHandle<()>> = None;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let path = path.clone();
                // The handshake callback's error type is tungstenite's, whatever its size.
                #[allow(clippy::result_large_err)]
                let check = move |request: &Request, response: Response| {
                    check_request(request, &path).map(|()| response)
                };
                match tokio_tungstenite::accept_hdr_async(stream, check).await {
                    Ok(socket) => {
                        if let Some(old) = current.take() {
                            old.abort();
                        }
                        tracing::debug!("the page opened the video connection");
                        current = Some(tauri::async_runtime::spawn(serve(
                            socket,
                            screen.clone(),
                            counts.clone(),
                            tiles_tx.clone(),
                        )));
                    }
                    Err(e) => tracing::warn!(error = %e, "a video connection was refused"),
                }
            }
        });
        Ok(server)
    }

    /// The loopback port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The tiles the page shows now and their sizes (the call asks the server for each picture
    /// in the size its tile needs).
    pub(crate) fn tiles(&self) -> tokio::sync::watch::Receiver<TileSizes> {
        self.tiles.clone()
    }

    /// Where the page connects.
    pub(crate) fn endpoint(&self) -> VideoEndpoint {
        self.endpoint.clone()
    }

    /// Decoded, sent and drawn pictures per tile on the screen now.
    pub(crate) fn stats(&self) -> Vec<TileStats> {
        let counts = self.counts.lock().map(|c| c.clone()).unwrap_or_default();
        self.screen
            .counts()
            .into_iter()
            .map(|(participant, c)| {
                let t = counts.get(&participant).copied().unwrap_or_default();
                TileStats {
                    participant,
                    shown: c.shown,
                    replaced: c.replaced,
                    sent: t.sent,
                    drawn: t.drawn,
                    skipped: t.skipped,
                    received_width: t.received.0,
                    received_height: t.received.1,
                }
            })
            .collect()
    }
}

/// Only the app's own page, only with the key.
#[allow(clippy::result_large_err)]
fn check_request(request: &Request, path: &str) -> Result<(), ErrorResponse> {
    let refuse = |status: StatusCode| {
        let mut response = ErrorResponse::new(None);
        *response.status_mut() = status;
        Err(response)
    };
    if request.uri().path() != path {
        return refuse(StatusCode::NOT_FOUND);
    }
    let origin = request
        .headers()
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .unwrap_or_default();
    if !ALLOWED_ORIGINS.contains(&origin) {
        tracing::warn!("a video connection from another origin was refused");
        return refuse(StatusCode::FORBIDDEN);
    }
    Ok(())
}

/// The 16-byte header, the id, and padding, before the pixels.
fn header(id: &str, width: u32, height: u32) -> Vec<u8> {
    let id = &id.as_bytes()[..id.len().min(255)];
    let mut out = Vec::with_capacity(16 + id.len() + 3);
    out.extend_from_slice(b"RNDV");
    out.extend_from_slice(&(width as u16).to_le_bytes());
    out.extend_from_slice(&(height as u16).to_le_bytes());
    out.push(id.len() as u8);
    out.extend_from_slice(&[0; 7]);
    out.extend_from_slice(id);
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

/// The page acknowledged a picture of tile `id`: one fewer on its way. False for an
/// acknowledgement of nothing sent (a page reloaded mid-way, or a confused one).
fn landed(in_flight: &mut BTreeMap<String, u32>, id: &str) -> bool {
    match in_flight.get_mut(id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

async fn serve(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    screen: VideoScreen,
    counts: Arc<Mutex<BTreeMap<String, TileCounts>>>,
    tile_sizes: tokio::sync::watch::Sender<TileSizes>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut tiles: TileSizes = BTreeMap::new();
    // Per tile: pictures sent and not yet acknowledged.
    let mut in_flight: BTreeMap<String, u32> = BTreeMap::new();
    let count = |id: &str, update: &dyn Fn(&mut TileCounts)| {
        if let Ok(mut c) = counts.lock() {
            update(c.entry(id.to_owned()).or_default());
        }
    };
    loop {
        tokio::select! {
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<PageMessage>(&text) {
                    Ok(PageMessage::Tiles { tiles: new }) => {
                        tiles = new
                            .into_iter()
                            .map(|t| (t.id, (t.width.clamp(2, 3840), t.height.clamp(2, 2160))))
                            .collect();
                        in_flight.retain(|id, _| tiles.contains_key(id));
                        tile_sizes.send_if_modified(|old| {
                            let changed = *old != tiles;
                            if changed {
                                old.clone_from(&tiles);
                            }
                            changed
                        });
                    }
                    Ok(PageMessage::Drawn { drawn: id }) => {
                        if landed(&mut in_flight, &id) {
                            count(&id, &|c| c.drawn += 1);
                        }
                    }
                    Ok(PageMessage::Skipped { skipped: id }) => {
                        if tiles.contains_key(&id) {
                            count(&id, &|c| c.skipped += 1);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "a video message was not understood"),
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            () = screen.changed() => {}
        }
        let frames = screen.take(|id| {
            tiles.contains_key(id) && in_flight.get(id).copied().unwrap_or(0) < IN_FLIGHT_PER_TILE
        });
        for frame in frames {
            let Some(&(max_w, max_h)) = tiles.get(&frame.participant) else {
                continue;
            };
            let (w, h) = frame.size_fitting(max_w, max_h);
            let mut message = header(&frame.participant, w, h);
            if frame
                .append_rgba_fitting(max_w, max_h, &mut message)
                .is_err()
            {
                continue;
            }
            if tx.send(Message::Binary(message.into())).await.is_err() {
                return;
            }
            *in_flight.entry(frame.participant.clone()).or_default() += 1;
            let received = frame.size();
            count(&frame.participant, &|c| {
                c.sent += 1;
                c.received = received;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_aligned_and_says_who_and_how_large() {
        let h = header("12345", 320, 180);
        assert_eq!(&h[..4], b"RNDV");
        assert_eq!(u16::from_le_bytes([h[4], h[5]]), 320);
        assert_eq!(u16::from_le_bytes([h[6], h[7]]), 180);
        assert_eq!(h[8], 5);
        assert_eq!(&h[16..21], b"12345");
        assert_eq!(h.len() % 4, 0);
    }

    #[test]
    fn an_acknowledgement_frees_one_place_and_only_for_what_was_sent() {
        let mut in_flight = BTreeMap::from([("7".to_owned(), 2)]);
        assert!(landed(&mut in_flight, "7"));
        assert!(landed(&mut in_flight, "7"));
        assert!(!landed(&mut in_flight, "7"), "both places are free already");
        assert!(!landed(&mut in_flight, "8"), "nothing was sent for 8");
        assert_eq!(in_flight.get("7"), Some(&0));
    }

    #[test]
    fn the_page_says_drawn_skipped_or_which_tiles() {
        let parse = |s: &str| serde_json::from_str::<PageMessage>(s).ok();
        assert!(
            matches!(parse(r#"{"drawn":"7"}"#), Some(PageMessage::Drawn { drawn }) if drawn == "7")
        );
        assert!(
            matches!(parse(r#"{"skipped":"7"}"#), Some(PageMessage::Skipped { skipped }) if skipped == "7")
        );
        assert!(matches!(
            parse(r#"{"tiles":[{"id":"7","width":320,"height":180}]}"#),
            Some(PageMessage::Tiles { tiles }) if tiles.len() == 1
        ));
        assert!(parse(r#"{"drawn":7}"#).is_none(), "an id is a string");
    }

    #[test]
    fn only_the_app_with_the_key_may_connect() {
        let request = |path: &str, origin: Option<&str>| {
            let mut r = Request::builder().uri(format!("ws://127.0.0.1:1{path}"));
            if let Some(o) = origin {
                r = r.header("Origin", o);
            }
            r.body(()).unwrap_or_default()
        };
        let path = "/video/abc";
        assert!(check_request(&request(path, Some("tauri://localhost")), path).is_ok());
        let status = |r: Result<(), ErrorResponse>| r.err().map(|e| e.status());
        assert_eq!(
            status(check_request(
                &request("/video/abd", Some("tauri://localhost")),
                path
            )),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            status(check_request(
                &request(path, Some("http://evil.example")),
                path
            )),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(check_request(&request(path, None), path)),
            Some(StatusCode::FORBIDDEN),
            "a local program without an origin"
        );
    }
}
