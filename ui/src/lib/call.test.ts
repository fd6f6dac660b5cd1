import { describe, expect, it } from "vitest";
import { CallState } from "./call.svelte";
import type { Indicators } from "./bindings";

const indicators = (state: Indicators["recording"]["state"], reason: Indicators["recording"]["reason"]): Indicators => ({
  recording: { state, reason },
  encryption: { state: "transportOnly", reason: "serverDecryptsMedia", notProven: [] },
  operator: { source: "unknown", name: null },
});

describe("CallState", () => {
  it("keeps people, their tracks and speaking as the engine reports them", () => {
    const call = new CallState(false, false);
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({ event: "participantJoined", participant: { id: "3", name: null, publishing: false } });
    call.handle({ event: "trackAdded", participant: "2", kind: "video" });
    call.handle({ event: "trackAdded", participant: "2", kind: "audio" });
    call.handle({ event: "speaking", participant: "2", speaking: true });
    expect(call.me).toBe("1");
    expect(call.people).toEqual([
      { id: "2", name: "Ada", audio: true, video: true, speaking: true, quality: "good", lostPercent: 0, cannotDecrypt: false, previousKey: false },
      { id: "3", name: null, audio: false, video: false, speaking: false, quality: "good", lostPercent: 0, cannotDecrypt: false, previousKey: false },
    ]);
    call.handle({ event: "trackRemoved", participant: "2", kind: "video" });
    call.handle({ event: "participantLeft", id: "3" });
    expect(call.people.map((p) => [p.id, p.video])).toEqual([["2", false]]);
  });

  it("announces a recording change only when the engine says the state changed", () => {
    const call = new CallState(false, false);
    call.handle({ event: "indicators", indicators: indicators("notAnnounced", "notYetKnown"), recordingChange: null });
    call.handle({ event: "indicators", indicators: indicators("notAnnounced", "serverCannotTell"), recordingChange: null });
    expect(call.announcement).toBeNull();
    call.handle({ event: "indicators", indicators: indicators("roomSetToRecord", "roomRecordFlagOn"), recordingChange: "raised" });
    expect(call.announcement?.change).toBe("raised");
    expect(call.indicators?.recording.state).toBe("roomSetToRecord");
    const first = call.announcement?.serial;
    call.handle({ event: "indicators", indicators: indicators("notAnnounced", "serverCannotTell"), recordingChange: "lowered" });
    expect(call.announcement?.change).toBe("lowered");
    expect(call.announcement?.serial).not.toBe(first);
  });

  it("follows a rejoin: reconnecting with its attempt, then back under a new id", () => {
    const call = new CallState(true, false);
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({ event: "connection", state: "connected" });
    call.handle({ event: "connection", state: "reconnecting" });
    call.handle({ event: "indicators", indicators: indicators("notAnnounced", "connectionLost"), recordingChange: null });
    call.handle({ event: "reconnecting", attempt: 3, sinceMs: 1500, error: { code: "ServerLost", detail: "closed" } });
    expect(call.connection).toBe("reconnecting");
    expect(call.reconnectAttempt).toBe(3);
    expect(call.reconnectForMedia).toBe(false);
    expect(call.indicators?.recording.reason).toBe("connectionLost");
    expect(call.announcement).toBeNull();
    call.handle({ event: "rejoined", me: "7", afterMs: 3500, attempts: 4 });
    call.handle({ event: "participantLeft", id: "2" });
    call.handle({ event: "participantJoined", participant: { id: "8", name: "Ada", publishing: true } });
    call.handle({ event: "connection", state: "connected" });
    expect(call.me).toBe("7");
    expect(call.reconnectAttempt).toBeNull();
    expect(call.reconnectForMedia).toBe(false);
    expect(call.people.map((p) => p.id)).toEqual(["8"]);
    expect(call.connection).toBe("connected");
    expect(call.ended).toBeNull();
  });

  it("says when what broke was the connection for sound and picture, not the server", () => {
    const call = new CallState(true, false);
    call.handle({ event: "joined", me: "1", participants: [] });
    call.handle({ event: "connection", state: "reconnecting" });
    const error = { code: "MediaPathLost" as const, detail: "this computer's address 192.0.2.7 went away" };
    call.handle({ event: "reconnecting", attempt: 1, sinceMs: 0, error });
    expect(call.reconnectForMedia).toBe(true);
    // A later attempt that fails on the server says so instead.
    call.handle({ event: "reconnecting", attempt: 2, sinceMs: 400, error: { code: "ServerUnreachable", detail: "refused" } });
    expect(call.reconnectForMedia).toBe(false);
    call.handle({ event: "reconnecting", attempt: 3, sinceMs: 900, error });
    call.handle({ event: "rejoined", me: "7", afterMs: 1000, attempts: 3 });
    expect(call.reconnectForMedia).toBe(false);
  });

  it("records the end and its reason", () => {
    const call = new CallState(true, false);
    call.handle({ event: "connection", state: "connected" });
    call.handle({ event: "ended", reason: { kind: "lost", error: { code: "ServerLost", detail: "closed" } } });
    expect(call.connection).toBe("connected");
    expect(call.ended).toEqual({ kind: "lost", error: { code: "ServerLost", detail: "closed" } });
  });
});
