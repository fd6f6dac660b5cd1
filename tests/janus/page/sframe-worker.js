// The interop peer's frame transforms (RTCRtpScriptTransform): seals each encoded frame this
// browser sends and opens each one it receives, with Runde's SFrame scheme (sframe.js).
"use strict";
importScripts("sframe.js");

const counts = {
  selfTest: "running",
  sealed: { audio: 0, video: 0 },
  opened: { audio: 0, video: 0 },
  failed: { audio: 0, video: 0 },
  errors: [],
};
const ready = RundeSFrame.selfTest().then(
  (r) => { counts.selfTest = r; },
  (e) => { counts.selfTest = "failed: " + e.message; },
);
setInterval(() => self.postMessage(counts), 250);

function note(e) {
  if (counts.errors.length < 10) counts.errors.push(String(e && e.message ? e.message : e));
}

// One secret per key id, derived once.
const secrets = new Map();
function secretFor(callKey, kid) {
  if (!secrets.has(kid)) {
    secrets.set(kid, RundeSFrame.senderBaseKey(callKey, kid).then((base) => RundeSFrame.deriveSecret(base, kid)));
  }
  return secrets.get(kid);
}

self.onrtctransform = (event) => {
  const { side, kind, kid, callKey } = event.transformer.options;
  const key = RundeSFrame.fromHex(callKey);
  let counter = 0n;
  const transform =
    side === "send"
      ? async (frame, out) => {
          await ready;
          const data = new Uint8Array(frame.data);
          const cut = RundeSFrame.clearPrefixLength(kind, data);
          const secret = await secretFor(key, BigInt(kid));
          const sealed = await RundeSFrame.seal(secret, BigInt(kid), counter++, data.subarray(0, cut), data.subarray(cut));
          frame.data = sealed.buffer;
          counts.sealed[kind]++;
          out.enqueue(frame);
        }
      : async (frame, out) => {
          try {
            const opened = await RundeSFrame.open((k) => secretFor(key, k), kind, new Uint8Array(frame.data));
            frame.data = opened.frame.buffer;
            counts.opened[kind]++;
            out.enqueue(frame);
          } catch (e) {
            // Never hand ciphertext to the decoder: the frame is dropped and counted.
            counts.failed[kind]++;
            note(e);
          }
        };
  event.transformer.readable
    .pipeThrough(new TransformStream({ transform }))
    .pipeTo(event.transformer.writable)
    .catch(note);
};
