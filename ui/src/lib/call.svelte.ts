// The call as the window shows it: built only from the engine's events. Nothing here decides a
// fact; it keeps what Rust said, in the order Rust said it.
import type {
  CallEvent,
  ConnectionState,
  EndReason,
  Quality,
  Indicators,
  RecordingChange,
  UserError,
} from "./bindings";

export type Person = {
  id: string;
  name: string | null;
  audio: boolean;
  video: boolean;
  speaking: boolean;
  /** How well their media reaches us, as the engine judged it, and the share of sound lost. */
  quality: Quality;
  lostPercent: number;
  /** End-to-end encrypted calls: their media does not open with the call key (engine-reported). */
  cannotDecrypt: boolean;
  /** It opens only with the key of the passphrase before the last change. */
  previousKey: boolean;
};

export type Announcement = { change: RecordingChange; indicators: Indicators; serial: number };

export class CallState {
  me = $state<string | null>(null);
  people = $state<Person[]>([]);
  indicators = $state<Indicators | null>(null);
  connection = $state<ConnectionState>("connecting");
  /** While the engine rejoins after losing the server: which attempt it is on. */
  reconnectAttempt = $state<number | null>(null);
  /** While it rejoins: whether what broke was the connection for sound and picture (the
   * engine says so with `MediaPathLost`) rather than the one to the server. */
  reconnectForMedia = $state(false);
  ended = $state<EndReason | null>(null);
  announcement = $state<Announcement | null>(null);
  warnings = $state<UserError[]>([]);
  sendsAudio = $state(false);
  sendsVideo = $state(false);
  muted = $state(false);
  cameraOff = $state(false);
  /** The last device change the engine reported (switched to, or stopped working). */
  deviceNotice = $state<{ device: string; inUse: boolean; name: string; reason: string | null } | null>(null);
  /** End-to-end encrypted calls: the safety code to compare out of band, and how many times the
   * passphrase was changed. */
  safetyCode = $state<string | null>(null);
  passphraseGeneration = $state(0);
  /** Someone who knows the passphrase left (by name): a new passphrase keeps them out. */
  passphraseAdvice = $state<string | null>(null);
  /** The push-to-talk keys, once the engine has taken them for this call. */
  pushToTalk = $state<string | null>(null);
  #serial = 0;

  /** What the user chose on the join form, until the engine reports what it sends. */
  constructor(microphone: boolean, camera: boolean) {
    this.sendsAudio = microphone;
    this.sendsVideo = camera;
  }

  #person(id: string): Person | undefined {
    return this.people.find((p) => p.id === id);
  }

  handle(event: CallEvent): void {
    switch (event.event) {
      case "joined":
        this.me = event.me;
        this.people = event.participants.map((p) => ({
          id: p.id,
          name: p.name,
          audio: false,
          video: false,
          speaking: false,
          quality: "good",
          lostPercent: 0,
          cannotDecrypt: false,
          previousKey: false,
        }));
        break;
      case "participantJoined":
        if (!this.#person(event.participant.id)) {
          this.people.push({
            id: event.participant.id,
            name: event.participant.name,
            audio: false,
            video: false,
            speaking: false,
            quality: "good",
            lostPercent: 0,
            cannotDecrypt: false,
            previousKey: false,
          });
        }
        break;
      case "participantLeft":
        this.people = this.people.filter((p) => p.id !== event.id);
        break;
      case "trackAdded":
      case "trackRemoved": {
        const person = this.#person(event.participant);
        if (person) person[event.kind] = event.event === "trackAdded";
        break;
      }
      case "speaking": {
        const person = this.#person(event.participant);
        if (person) person.speaking = event.speaking;
        break;
      }
      case "indicators":
        this.indicators = event.indicators;
        if (event.recordingChange) {
          this.announcement = {
            change: event.recordingChange,
            indicators: event.indicators,
            serial: ++this.#serial,
          };
        }
        break;
      case "connection":
        this.connection = event.state;
        break;
      case "reconnecting":
        this.reconnectAttempt = event.attempt;
        this.reconnectForMedia = event.error.code === "MediaPathLost";
        break;
      case "rejoined":
        // Back under a new id; who left or came meanwhile follows as their own events.
        this.me = event.me;
        this.reconnectAttempt = null;
        this.reconnectForMedia = false;
        break;
      case "decryption": {
        const person = this.#person(event.participant);
        if (person) {
          person.cannotDecrypt = !event.decrypting;
          person.previousKey = event.decrypting && event.previousKey;
        }
        break;
      }
      case "quality": {
        const person = this.#person(event.participant);
        if (person) {
          person.quality = event.quality;
          person.lostPercent = event.audioLostPercent;
        }
        break;
      }
      case "sending":
        // What the engine sends is the truth: a camera that failed to open shows as off.
        this.sendsAudio = event.microphone !== "unavailable";
        this.muted = event.microphone !== "on";
        this.sendsVideo = event.camera !== "unavailable";
        this.cameraOff = event.camera !== "on";
        break;
      case "endToEnd":
        this.safetyCode = event.safetyCode;
        if (event.generation > this.passphraseGeneration) this.passphraseAdvice = null;
        this.passphraseGeneration = event.generation;
        break;
      case "newPassphraseAdvised":
        this.passphraseAdvice = event.left;
        break;
      case "pushToTalk":
        this.pushToTalk = event.keys;
        break;
      case "warning":
        this.warnings.push(event.error);
        break;
      case "ended":
        this.ended = event.reason;
        break;
      case "deviceChanged":
        this.deviceNotice = { device: event.device, inUse: event.inUse, name: event.name, reason: event.reason };
        break;
      case "mediaStarted":
        break;
    }
  }
}
