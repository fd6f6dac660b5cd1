// SFrame (RFC 9605) as Runde seals media frames, written against WebCrypto for the browser
// interop peer: cipher suite AES_256_GCM_SHA512_128 (5), a per-sender base key derived from the
// call key, and a clear prefix (Opus: 1 byte; VP8: 10 bytes of a keyframe, 3 of a delta frame)
// carried in front of the SFrame header and authenticated as SFrame metadata.
//
// On the wire: clear prefix ‖ SFrame header ‖ ciphertext ‖ 16-byte tag. AAD = header ‖ prefix.
// The layout is specified in docs/E2EE.md; this file is an independent implementation of it, so
// the interop test checks the specification, not one implementation against itself.
"use strict";

const RundeSFrame = (() => {
  const SUITE = 5;
  const KEY_BYTES = 32;
  const NONCE_BYTES = 12;
  const text = new TextEncoder();

  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };

  const u64be = (v) => {
    const out = new Uint8Array(8);
    for (let i = 7; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  };

  // The shortest big-endian form of a positive value.
  const minimal = (v) => {
    const out = [];
    while (v > 0n) {
      out.unshift(Number(v & 0xffn));
      v >>= 8n;
    }
    return out;
  };

  // RFC 9605 4.3: |X|K K K|Y|C C C| then the long KID, then the long CTR.
  function encodeHeader(kid, ctr) {
    let first = 0;
    const rest = [];
    if (kid < 8n) {
      first |= Number(kid) << 4;
    } else {
      const b = minimal(kid);
      first |= 0x80 | ((b.length - 1) << 4);
      rest.push(...b);
    }
    if (ctr < 8n) {
      first |= Number(ctr);
    } else {
      const b = minimal(ctr);
      first |= 0x08 | (b.length - 1);
      rest.push(...b);
    }
    return Uint8Array.from([first, ...rest]);
  }

  function decodeHeader(buf) {
    if (buf.length < 1) throw new Error("no SFrame header");
    const first = buf[0];
    let at = 1;
    const read = (n) => {
      if (at + n > buf.length) throw new Error("SFrame header cut short");
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[at++]);
      return v;
    };
    const kid = first & 0x80 ? read(((first >> 4) & 7) + 1) : BigInt((first >> 4) & 7);
    const ctr = first & 0x08 ? read((first & 7) + 1) : BigInt(first & 7);
    return { kid, ctr, length: at };
  }

  // RFC 9605 4.4.2: HKDF-Extract with an empty salt, then Expand with the key and salt labels.
  async function deriveSecret(baseKey, kid) {
    const ikm = await crypto.subtle.importKey("raw", baseKey, "HKDF", false, ["deriveBits"]);
    const label = (what) =>
      concat(text.encode(`SFrame 1.0 Secret ${what} `), u64be(kid), Uint8Array.of(0, SUITE));
    const expand = async (what, bytes) =>
      new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "HKDF", hash: "SHA-512", salt: new Uint8Array(0), info: label(what) },
          ikm,
          bytes * 8,
        ),
      );
    const keyBytes = await expand("key", KEY_BYTES);
    const key = await crypto.subtle.importKey("raw", keyBytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    return { key, salt: await expand("salt", NONCE_BYTES) };
  }

  function nonce(salt, ctr) {
    const out = Uint8Array.from(salt);
    const c = u64be(ctr);
    for (let i = 0; i < 8; i++) out[NONCE_BYTES - 8 + i] ^= c[i];
    return out;
  }

  // Runde's per-sender base key: SHA-512("runde e2ee v1 sender\0" ‖ call key ‖ KID as u64).
  async function senderBaseKey(callKey, kid) {
    const input = concat(text.encode("runde e2ee v1 sender\0"), callKey, u64be(kid));
    return new Uint8Array(await crypto.subtle.digest("SHA-512", input));
  }

  function clearPrefixLength(kind, frame) {
    const wanted = kind === "audio" ? 1 : frame.length > 0 && (frame[0] & 1) === 0 ? 10 : 3;
    return Math.min(wanted, frame.length);
  }

  async function seal(secret, kid, ctr, prefix, payload) {
    const header = encodeHeader(kid, ctr);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce(secret.salt, ctr), additionalData: concat(header, prefix), tagLength: 128 },
      secret.key,
      payload,
    );
    return concat(prefix, header, new Uint8Array(sealed));
  }

  async function open(secretFor, kind, data) {
    const cut = clearPrefixLength(kind, data);
    const prefix = data.subarray(0, cut);
    const header = decodeHeader(data.subarray(cut));
    const secret = await secretFor(header.kid);
    const headerBytes = data.subarray(cut, cut + header.length);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce(secret.salt, header.ctr), additionalData: concat(headerBytes, prefix), tagLength: 128 },
      secret.key,
      data.subarray(cut + header.length),
    );
    return { kid: header.kid, frame: concat(prefix, new Uint8Array(plain)) };
  }

  const fromHex = (hex) => Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  // RFC 9605 appendix C: header encodings and the AES_256_GCM_SHA512_128 example. Run before any
  // media is sealed; a mismatch means this implementation is wrong, not the peer.
  async function selfTest() {
    for (const [kid, ctr, encoded] of [
      [0n, 0n, "00"],
      [0n, 255n, "08ff"],
      [7n, 7n, "77"],
      [291n, 17767n, "9901234567"],
      [0xffffffffffffffffn, 0n, "f0ffffffffffffffff"],
    ]) {
      const got = toHex(encodeHeader(kid, ctr));
      if (got !== encoded) throw new Error(`header ${kid}/${ctr}: ${got} != ${encoded}`);
      const back = decodeHeader(fromHex(encoded));
      if (back.kid !== kid || back.ctr !== ctr) throw new Error(`header ${encoded} decodes wrongly`);
    }
    const secret = await deriveSecret(fromHex("000102030405060708090a0b0c0d0e0f"), 291n);
    if (toHex(secret.salt) !== "84991c167b8cd23c93708ec7") throw new Error("salt differs from RFC 9605");
    const metadata = fromHex("4945544620534672616d65205747");
    const sealed = await seal(secret, 291n, 17767n, metadata, fromHex("64726166742d696574662d736672616d652d656e63"));
    const expected = "990123456794f509d36e9beacb0e261d99c7d1e972f1fed787d4049f17ca21353c1cc24d56ceabced279";
    if (toHex(sealed.subarray(metadata.length)) !== expected) throw new Error("ciphertext differs from RFC 9605");
    return "ok";
  }

  return { encodeHeader, decodeHeader, deriveSecret, senderBaseKey, clearPrefixLength, seal, open, selfTest, fromHex };
})();

if (typeof module !== "undefined") module.exports = RundeSFrame;
