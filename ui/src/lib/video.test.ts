import { afterEach, describe, expect, it, vi } from "vitest";
import { parseFrame, VideoClient, type DrawnCanvas } from "./video";

function frame(id: string, width: number, height: number, extra = 0): ArrayBuffer {
  const idBytes = new TextEncoder().encode(id);
  const pixelsAt = Math.ceil((16 + idBytes.length) / 4) * 4;
  const buffer = new ArrayBuffer(pixelsAt + width * height * 4 + extra);
  const view = new DataView(buffer);
  new Uint8Array(buffer, 0, 4).set(new TextEncoder().encode("RNDV"));
  view.setUint16(4, width, true);
  view.setUint16(6, height, true);
  view.setUint8(8, idBytes.length);
  new Uint8Array(buffer, 16, idBytes.length).set(idBytes);
  new Uint8Array(buffer, pixelsAt).fill(200);
  return buffer;
}

describe("parseFrame", () => {
  it("reads who, how large and the pixels", () => {
    const parsed = parseFrame(frame("12345", 4, 2));
    expect(parsed?.id).toBe("12345");
    expect([parsed?.width, parsed?.height]).toEqual([4, 2]);
    expect(parsed?.pixels.length).toBe(32);
    expect(parsed?.pixels.every((p) => p === 200)).toBe(true);
  });

  it("refuses what is not a whole frame", () => {
    expect(parseFrame(new ArrayBuffer(8))).toBeNull();
    expect(parseFrame(frame("1", 4, 2, 4))).toBeNull();
    const bad = frame("1", 4, 2);
    new Uint8Array(bad)[0] = 0;
    expect(parseFrame(bad)).toBeNull();
    expect(parseFrame(frame("1", 0, 2))).toBeNull();
  });
});

/** A WebSocket that records what the page sends and lets the test deliver messages. */
class FakeSocket {
  static last: FakeSocket | null = null;
  sent: string[] = [];
  binaryType = "";
  onopen: (() => void) | null = null;
  onmessage: ((message: { data: unknown }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  send(text: string): void {
    this.sent.push(text);
  }
  close(): void {}
}

describe("VideoClient", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("acknowledges every drawn picture and reports one drawn over before the screen refreshed", () => {
    const refreshes: FrameRequestCallback[] = [];
    vi.stubGlobal("WebSocket", FakeSocket);
    vi.stubGlobal("requestAnimationFrame", (callback: FrameRequestCallback) => refreshes.push(callback));
    const client = new VideoClient("ws://127.0.0.1:1/video/key");
    const socket = FakeSocket.last;
    if (!socket) throw new Error("no socket");
    socket.onopen?.();
    const canvas: DrawnCanvas = document.createElement("canvas");
    client.attach("7", canvas);
    const deliver = () => socket.onmessage?.({ data: frame("7", 4, 2) });
    socket.sent = [];

    deliver();
    deliver(); // before the screen refreshed: the first picture was never seen
    expect(socket.sent).toEqual([`{"drawn":"7"}`, `{"skipped":"7"}`, `{"drawn":"7"}`]);
    expect(refreshes.length).toBe(1);

    refreshes.shift()?.(0);
    socket.sent = [];
    deliver();
    // A refresh came between: nothing lost.
    expect(socket.sent).toEqual([`{"drawn":"7"}`]);
    expect(canvas.drawnFrames).toBe(3);
    expect([canvas.width, canvas.height]).toEqual([4, 2]);
    client.close();
  });
});
