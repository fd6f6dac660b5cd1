// Pictures from the engine, drawn into canvases. The engine scales each picture to the tile's size
// on screen and converts it to RGBA; the page only copies pixels, as soon as a picture arrives
// (holding pictures for the next animation frame instead let gigabytes of them pile up before the
// garbage collector ran). Every drawn picture is acknowledged, and the engine keeps only a few
// per tile on their way (back-pressure). A picture overwritten by the next one before the screen
// refreshed was never seen: the page says so, and the engine counts it as skipped.
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
  /** Tiles drawn into since the last screen refresh, and whether a refresh callback is asked for. */
  #unpainted = new Set<string>();
  #refreshRequested = false;

  constructor(url: string) {
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#socket.onopen = () => {
      this.#open = true;
      this.#sendTiles();
    };
    this.#socket.onmessage = (message) => {
      if (message.data instanceof ArrayBuffer) this.#receive(message.data);
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

  #receive(buffer: ArrayBuffer): void {
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
      // Animation-frame callbacks run just before each refresh: a tile drawn twice between two
      // of them lost its earlier picture.
      if (this.#unpainted.has(frame.id)) this.#send({ skipped: frame.id });
      this.#unpainted.add(frame.id);
      if (!this.#refreshRequested) {
        this.#refreshRequested = true;
        requestAnimationFrame(() => {
          this.#refreshRequested = false;
          this.#unpainted.clear();
        });
      }
    }
    this.#send({ drawn: frame.id });
  }

  #send(message: { drawn: string } | { skipped: string }): void {
    if (this.#open) this.#socket.send(JSON.stringify(message));
  }
}
