// Pictures from the engine, drawn into canvases. The engine scales each picture to the tile's size
// on screen and converts it to RGBA; the page only copies pixels. Every drawn picture is
// acknowledged, and the engine sends the next one for a tile only then (back-pressure).
const MAGIC = 0x56444e52; // "RNDV", little-endian

export type Tile = { id: string; canvas: HTMLCanvasElement };

/** A canvas that counts the pictures drawn into it (`drawnFrames`, read by the end-to-end tests). */
export type DrawnCanvas = HTMLCanvasElement & { drawnFrames?: number };

export type ParsedFrame = { id: string; width: number; height: number; pixels: Uint8ClampedArray<ArrayBuffer> };

/** Read one binary message: 16-byte header, id, padding to 4, RGBA. `null` if malformed. */
export function parseFrame(buffer: ArrayBuffer): ParsedFrame | null {
  if (buffer.byteLength < 16) return null;
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== MAGIC) return null;
  const width = view.getUint16(4, true);
  const height = view.getUint16(6, true);
  const idLength = view.getUint8(8);
  const pixelsAt = Math.ceil((16 + idLength) / 4) * 4;
  const size = width * height * 4;
  if (width === 0 || height === 0 || buffer.byteLength !== pixelsAt + size) return null;
  const id = new TextDecoder().decode(new Uint8Array(buffer, 16, idLength));
  return { id, width, height, pixels: new Uint8ClampedArray(buffer, pixelsAt, size) };
}

export class VideoClient {
  #socket: WebSocket;
  #tiles = new Map<string, HTMLCanvasElement>();
  #observer: ResizeObserver | null;
  #open = false;

  constructor(url: string) {
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#socket.onopen = () => {
      this.#open = true;
      this.#sendTiles();
    };
    this.#socket.onmessage = (message) => {
      if (message.data instanceof ArrayBuffer) this.#draw(message.data);
    };
    this.#observer =
      typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => this.#sendTiles());
  }

  /** Show `id`'s pictures in `canvas` (replaces an earlier canvas for the same id). */
  attach(id: string, canvas: HTMLCanvasElement): () => void {
    this.#tiles.set(id, canvas);
    this.#observer?.observe(canvas);
    this.#sendTiles();
    return () => {
      if (this.#tiles.get(id) === canvas) this.#tiles.delete(id);
      this.#observer?.unobserve(canvas);
      this.#sendTiles();
    };
  }

  close(): void {
    this.#observer?.disconnect();
    this.#socket.close();
  }

  #sendTiles(): void {
    if (!this.#open) return;
    const ratio = window.devicePixelRatio || 1;
    const tiles = [...this.#tiles].map(([id, canvas]) => ({
      id,
      width: Math.max(2, Math.round(canvas.clientWidth * ratio)),
      height: Math.max(2, Math.round(canvas.clientHeight * ratio)),
    }));
    this.#socket.send(JSON.stringify({ tiles }));
  }

  #draw(buffer: ArrayBuffer): void {
    const frame = parseFrame(buffer);
    if (!frame) return;
    const canvas = this.#tiles.get(frame.id) as DrawnCanvas | undefined;
    if (canvas) {
      if (canvas.width !== frame.width) canvas.width = frame.width;
      if (canvas.height !== frame.height) canvas.height = frame.height;
      // Opaque: the compositor need not blend the picture with what lies beneath it.
      canvas.getContext("2d", { alpha: false })?.putImageData(new ImageData(frame.pixels, frame.width, frame.height), 0, 0);
      // A property, not an attribute: changing an attribute 30 times a second per tile would make
      // the page recompute styles each time. Tests read it.
      canvas.drawnFrames = (canvas.drawnFrames ?? 0) + 1;
    }
    if (this.#open) this.#socket.send(JSON.stringify({ drawn: frame.id }));
  }
}
