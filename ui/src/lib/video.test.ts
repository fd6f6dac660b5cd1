import { describe, expect, it } from "vitest";
import { parseFrame } from "./video";

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
