// The stand-in for Tauri's IPC bridge, installed in the page before the app's own scripts run.
// `@tauri-apps/api/core` reaches Rust only through `window.__TAURI_INTERNALS__` (`invoke`, and
// `transformCallback` for a Channel's message handler), so replacing that object is enough to run
// the real UI bundle in a plain browser. The engine is played by fixture answers plus the few
// reactions a test needs from it: what it sends after mute/camera, and `ended` after `leave`.
//
// This function is serialised into the page by Playwright: it may use nothing from outside itself.

/**
 * @param {{ answers: Record<string, Array<{ value?: unknown, error?: unknown }>> }} config
 *   For each command, the answers in order; the last one repeats. `error` is thrown as the
 *   command's error (an object with a `code` is a typed UserError, a string a bridge failure).
 */
export function installIpcMock(config) {
  const handlers = new Map();
  let nextCallbackId = 1;
  const nextIndex = new Map();
  const answers = structuredClone(config.answers);
  const mock = {
    /** Every command the page invoked, with its arguments as JSON (a Channel as its id). */
    calls: [],
    /** Commands that had no answer: a test fails on any. */
    unanswered: [],
    /** The Channel the last `join` got, and the one the device check got. */
    callChannel: null,
    checkChannel: null,
    /** What the emulated engine sends, as in its `sending` event. */
    sending: { microphone: "unavailable", camera: "unavailable" },
    setAnswers(cmd, list) {
      answers[cmd] = list;
    },
    callEvents(events) {
      for (const event of events) {
        if (event.event === "sending") mock.sending = { microphone: event.microphone, camera: event.camera };
        send(mock.callChannel, event);
      }
    },
    checkEvents(events) {
      for (const event of events) send(mock.checkChannel, event);
    },
    commands() {
      return mock.calls.map((c) => c.cmd);
    },
  };

  function send(channel, message) {
    if (channel === null) throw new Error("no channel: the page has not opened one yet");
    const index = nextIndex.get(channel) ?? 0;
    nextIndex.set(channel, index + 1);
    const handler = handlers.get(channel);
    if (!handler) throw new Error(`channel ${channel} is closed`);
    handler({ index, message });
  }

  function answerFor(cmd) {
    const list = answers[cmd];
    if (!list || list.length === 0) {
      mock.unanswered.push(cmd);
      return { error: `command ${cmd} has no answer in the screen tests' fixtures` };
    }
    return list.length > 1 ? list.shift() : list[0];
  }

  /** What the engine does after a command succeeded, as far as the screens can see it. */
  function react(cmd, args) {
    const later = (fn) => setTimeout(fn, 0);
    if (cmd === "join") {
      // The machine has a microphone and a camera; they are on only when chosen on the form.
      const sending = { microphone: args.request.microphone ? "on" : "off", camera: args.request.camera ? "on" : "off" };
      later(() => mock.callEvents([{ event: "sending", ...sending }]));
    } else if (cmd === "set_microphone_muted" && mock.sending.microphone !== "unavailable") {
      mock.sending = { ...mock.sending, microphone: args.muted ? "off" : "on" };
      later(() => mock.callEvents([{ event: "sending", ...mock.sending }]));
    } else if (cmd === "set_camera_off" && mock.sending.camera !== "unavailable") {
      mock.sending = { ...mock.sending, camera: args.off ? "off" : "on" };
      later(() => mock.callEvents([{ event: "sending", ...mock.sending }]));
    } else if (cmd === "leave") {
      later(() => mock.callEvents([{ event: "ended", reason: { kind: "left" } }]));
    }
  }

  async function invoke(cmd, args = {}) {
    mock.calls.push({ cmd, args: JSON.parse(JSON.stringify(args)) });
    if (cmd === "join") mock.callChannel = args.events.id;
    if (cmd === "start_check") mock.checkChannel = args.events.id;
    const answer = answerFor(cmd);
    if ("error" in answer) throw answer.error;
    react(cmd, args);
    return answer.value ?? null;
  }

  window.__TAURI_INTERNALS__ = {
    invoke,
    transformCallback(callback, once = false) {
      const id = nextCallbackId++;
      handlers.set(id, (data) => {
        if (once) handlers.delete(id);
        return callback?.(data);
      });
      return id;
    },
    unregisterCallback(id) {
      handlers.delete(id);
    },
    convertFileSrc(path) {
      return path;
    },
  };
  window.__rundeMock = mock;
}
