// One loopback HTTP server for the screen tests: the built UI (ui/dist) as the app's window would
// load it, and the engine's video WebSocket (`/video/<key>`), which answers every tile the page
// asks for with one still test picture in the engine's frame format (see src/lib/video.ts).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};
const VIDEO_KEY = "screen-tests";
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Start serving `dist` on 127.0.0.1 at a free port.
 * @returns {Promise<{ base: string, videoUrl: string, framesSent: () => number, close: () => Promise<void> }>}
 */
export async function startServer(dist) {
  const sockets = new Set();
  let framesSent = 0;
  const server = createServer((req, res) => void serveFile(dist, req, res));
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req, socket) => {
    if (req.url !== `/video/${VIDEO_KEY}` || !req.headers["sec-websocket-key"]) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + WS_GUID).digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    readMessages(socket, (text) => {
      const request = JSON.parse(text);
      for (const tile of request.tiles ?? []) {
        socket.write(wsBinary(frame(tile.id, Math.min(tile.width, 320), Math.min(tile.height, 180))));
        framesSent += 1;
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    base: `http://127.0.0.1:${port}/`,
    videoUrl: `ws://127.0.0.1:${port}/video/${VIDEO_KEY}`,
    framesSent: () => framesSent,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function serveFile(dist, req, res) {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
  const file = normalize(join(dist, path === "/" ? "index.html" : path));
  if (req.method !== "GET" || !file.startsWith(dist + sep)) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
}

/** Call `onText` for every text message the client sends; answer a close; ignore the rest. */
function readMessages(socket, onText) {
  let buffered = Buffer.alloc(0);
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const message = takeFrame(buffered);
      if (!message) return;
      buffered = buffered.subarray(message.size);
      if (message.opcode === 0x1) onText(message.payload.toString("utf8"));
      if (message.opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0x00]));
        return;
      }
    }
  });
}

/** One whole client frame from the start of `buffer` (clients always mask), or null for more. */
function takeFrame(buffer) {
  if (buffer.length < 2) return null;
  const opcode = buffer[0] & 0x0f;
  let length = buffer[1] & 0x7f;
  let at = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (buffer[1] & 0x80) !== 0;
  const mask = masked ? buffer.subarray(at, at + 4) : null;
  if (masked) at += 4;
  if (buffer.length < at + length) return null;
  const payload = Buffer.from(buffer.subarray(at, at + length));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return { opcode, payload, size: at + length };
}

function wsBinary(payload) {
  const head =
    payload.length < 126
      ? Buffer.from([0x82, payload.length])
      : payload.length < 65536
        ? Buffer.from([0x82, 126, payload.length >> 8, payload.length & 0xff])
        : Buffer.concat([Buffer.from([0x82, 127]), bigEndian64(payload.length)]);
  return Buffer.concat([head, payload]);
}

function bigEndian64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** A picture in the engine's format: "RNDV", width, height, id length, id, padding, RGBA. */
function frame(id, width, height) {
  const idBytes = Buffer.from(id, "utf8");
  const pixelsAt = Math.ceil((16 + idBytes.length) / 4) * 4;
  const out = Buffer.alloc(pixelsAt + width * height * 4);
  out.writeUInt32LE(0x56444e52, 0);
  out.writeUInt16LE(width, 4);
  out.writeUInt16LE(height, 6);
  out.writeUInt8(idBytes.length, 8);
  idBytes.copy(out, 16);
  // A colour per participant with a lighter diagonal band, so tiles are told apart in screenshots.
  const hue = [...id].reduce((h, c) => (h * 31 + c.charCodeAt(0) * 67) % 360, 7);
  const [r, g, b] = hsl(hue, 0.45, 0.35);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const band = Math.abs(((x + y) % 120) - 60) < 12 ? 50 : 0;
      const p = pixelsAt + (y * width + x) * 4;
      out[p] = Math.min(255, r + band);
      out[p + 1] = Math.min(255, g + band);
      out[p + 2] = Math.min(255, b + band);
      out[p + 3] = 255;
    }
  }
  return out;
}

function hsl(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}
