//! The VideoRoom state machine against what a real Janus 1.1.2 said (transcripts in
//! `tests/transcripts/`). Each step: our machine sends a request; the test checks it and delivers
//! the server's recorded reply to the matching recorded request — ack and event in the order the
//! server sent them — with the transaction (and, where two recorded sessions are merged into our
//! one, the session id) rewritten to ours.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::secret::Secret;

fn transcript(name: &str) -> Vec<Value> {
    let text = match name {
        "basics" => include_str!("../../tests/transcripts/01-protocol-basics.json"),
        "media" => include_str!("../../tests/transcripts/02-media-and-recording.json"),
        "timeout" => include_str!("../../tests/transcripts/07-session-timeout.json"),
        other => panic!("no transcript {other}"),
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(entries)) => entries,
        other => panic!("transcript {name}: {other:?}"),
    }
}

struct Script {
    entries: Vec<Value>,
}

impl Script {
    fn new(name: &str) -> Self {
        Self {
            entries: transcript(name),
        }
    }

    fn messages<'a>(&'a self, actor: &'a str, dir: &'a str) -> impl Iterator<Item = &'a Value> {
        self.entries
            .iter()
            .filter(move |e| e["actor"] == actor && e["dir"] == dir)
            .map(|e| &e["msg"])
    }

    /// The transaction of the `nth` request `actor` sent that `matches`.
    fn request(&self, actor: &str, nth: usize, matches: impl Fn(&Value) -> bool) -> String {
        let Some(msg) = self.messages(actor, "send").filter(|m| matches(m)).nth(nth) else {
            panic!("{actor} sent no such request #{nth}");
        };
        msg["transaction"].as_str().unwrap_or_default().to_owned()
    }

    /// What `actor` received for transaction `tx`, in recorded order.
    fn replies(&self, actor: &str, tx: &str) -> Vec<Value> {
        self.messages(actor, "recv")
            .filter(|m| m["transaction"] == tx)
            .cloned()
            .collect()
    }

    /// What `actor` received without a transaction and that `matches`.
    fn unsolicited(&self, actor: &str, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.messages(actor, "recv")
            .filter(|m| m.get("transaction").is_none() && matches(m))
            .cloned()
            .collect()
    }
}

fn janus(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["janus"] == kind
}

fn request(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["janus"] == "message" && m["body"]["request"] == kind
}

fn videoroom(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["plugindata"]["data"]["videoroom"] == kind
}

struct Harness {
    room: VideoRoom,
    now: Instant,
    session: Option<u64>,
}

impl Harness {
    fn new(room: &str, pin: Option<&str>) -> Self {
        Self::receiving(room, pin, true)
    }

    fn receiving(room: &str, pin: Option<&str>, receive: bool) -> Self {
        let now = Instant::now();
        let config = JoinConfig {
            room: RoomId::parse(room),
            display: "Tester".into(),
            pin: pin.map(Secret::new),
            receive,
            e2ee: false,
        };
        Self {
            room: VideoRoom::new(config, "t", now),
            now,
            session: None,
        }
    }

    /// Our one outgoing message since the last check, parsed; it must match.
    fn sent(&mut self, what: impl Fn(&Value) -> bool) -> Value {
        let Some(text) = self.room.poll_transmit() else {
            panic!("nothing was sent");
        };
        let extra = self.room.poll_transmit();
        assert!(extra.is_none(), "more than one message: {extra:?}");
        let msg: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(what(&msg), "unexpected message {msg}");
        msg
    }

    fn nothing_sent(&mut self) {
        assert_eq!(self.room.poll_transmit(), None);
    }

    fn deliver(&mut self, recorded: &Value, tx: Option<&str>) {
        let mut msg = recorded.clone();
        if let Some(map) = msg.as_object_mut() {
            if let Some(tx) = tx {
                map.insert("transaction".into(), json!(tx));
            }
            if let (Some(session), true) = (self.session, map.contains_key("session_id")) {
                map.insert("session_id".into(), json!(session));
            }
        }
        if self.session.is_none() && msg["janus"] == "success" {
            self.session = msg["data"]["id"].as_u64();
        }
        let result = self.room.handle_message(&msg.to_string(), self.now);
        assert!(result.is_ok(), "{result:?}");
    }

    /// Deliver what the server answered to `actor`'s `nth` matching request, as the answer to
    /// our last message.
    fn answer(
        &mut self,
        script: &Script,
        actor: &str,
        nth: usize,
        ours: &Value,
        matches: impl Fn(&Value) -> bool,
    ) {
        let tx = script.request(actor, nth, matches);
        let replies = script.replies(actor, &tx);
        assert!(!replies.is_empty(), "no recorded reply to {tx}");
        let our_tx = ours["transaction"].as_str().map(str::to_owned);
        for reply in &replies {
            self.deliver(reply, our_tx.as_deref());
        }
    }

    fn events(&mut self) -> Vec<RoomEvent> {
        std::iter::from_fn(|| self.room.poll_event()).collect()
    }

    /// Join as the recorded watcher did, see three publishers, and subscribe to them: the
    /// server's first offer is out, unanswered. Our subscribe `join`.
    fn subscribed(&mut self, script: &Script) -> Value {
        self.connect(script, "watcher");
        let join = self.sent(request("join"));
        self.answer(script, "watcher", 0, &join, request("join"));
        let news = script.unsolicited("watcher", |m| m["janus"] == "event");
        for msg in &news[..3] {
            self.deliver(msg, None);
        }
        let attach = self.sent(janus("attach"));
        self.answer(script, "sub", 0, &attach, janus("attach"));
        let join = self.sent(|m| m["body"]["ptype"] == "subscriber");
        self.answer(script, "sub", 1, &join, |m| {
            m["body"]["ptype"] == "subscriber"
        });
        self.events();
        join
    }

    /// Create the session and attach the publisher handle as `actor` did.
    fn connect(&mut self, script: &Script, actor: &str) {
        let create = self.sent(janus("create"));
        self.answer(script, actor, 0, &create, janus("create"));
        let attach =
            self.sent(|m| m["janus"] == "attach" && m["plugin"] == "janus.plugin.videoroom");
        self.answer(script, actor, 0, &attach, janus("attach"));
    }
}

#[test]
fn a_missing_then_wrong_password_can_be_retried_on_the_same_connection() {
    let script = Script::new("basics");
    let mut h = Harness::new("4242", None);
    h.connect(&script, "alice");

    let join = h.sent(|m| m["body"]["request"] == "join" && m["body"]["ptype"] == "publisher");
    assert_eq!(join["body"]["room"], 4242);
    assert!(join["body"].get("pin").is_none());
    h.answer(&script, "alice", 0, &join, request("join"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::JoinFailed(JoinError::PasswordRequired)]
    );

    h.room.retry_join(Some(Secret::new("nope")), h.now);
    let join = h.sent(request("join"));
    assert_eq!(join["body"]["pin"], "nope");
    h.answer(&script, "alice", 1, &join, request("join"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::JoinFailed(JoinError::WrongPassword)]
    );

    h.room.retry_join(Some(Secret::new("letmein")), h.now);
    let join = h.sent(request("join"));
    // The recorded reply: the "joined" event arrives before the ack.
    h.answer(&script, "alice", 3, &join, request("join"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::Joined {
            me: 2_548_594_793_317_464,
            participants: vec![]
        }]
    );
    assert!(
        !format!("{:?}", h.room).contains("letmein"),
        "the password must not show in debug output"
    );

    // Bob joins (notify_joining): one event, no subscription (he does not publish).
    for msg in script.unsolicited("alice", |m| {
        m["plugindata"]["data"].get("joining").is_some()
    }) {
        h.deliver(&msg, None);
    }
    assert_eq!(
        h.events(),
        vec![RoomEvent::ParticipantJoined(Participant {
            id: 777,
            display: Some("Bob".into()),
            publishing: false
        })]
    );
    h.nothing_sent();
}

#[test]
fn an_unknown_room_is_reported_as_such() {
    let script = Script::new("basics");
    let mut h = Harness::new("999999", Some("x"));
    h.connect(&script, "alice");
    let join = h.sent(request("join"));
    h.answer(&script, "alice", 2, &join, request("join"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::JoinFailed(JoinError::RoomNotFound)]
    );
}

#[test]
fn leaving_others_are_seen_and_our_own_leave_closes_the_session() {
    let script = Script::new("basics");
    let mut h = Harness::new("4242", Some("letmein"));
    h.connect(&script, "bob");
    let join = h.sent(request("join"));
    h.answer(&script, "bob", 0, &join, request("join"));
    let events = h.events();
    assert_eq!(
        events,
        vec![RoomEvent::Joined {
            me: 777,
            participants: vec![Participant {
                id: 2_548_594_793_317_464,
                display: Some("Alice".into()),
                publishing: false
            }]
        }]
    );
    for msg in script.unsolicited("bob", |m| m["plugindata"]["data"].get("leaving").is_some()) {
        h.deliver(&msg, None);
    }
    assert_eq!(
        h.events(),
        vec![RoomEvent::ParticipantLeft {
            id: 2_548_594_793_317_464
        }]
    );

    h.room.leave(h.now);
    let leave = h.sent(request("leave"));
    // Alice's recorded leave: event, then ack.
    h.answer(&script, "alice", 0, &leave, request("leave"));
    let destroy = h.sent(janus("destroy"));
    h.answer(&script, "bob", 0, &destroy, janus("destroy"));
    assert_eq!(h.events(), vec![RoomEvent::Left]);
    assert!(h.room.is_closed());
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn publishing_gets_the_servers_answer_and_media_state() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.connect(&script, "pub");
    let join = h.sent(request("join"));
    h.answer(&script, "pub", 0, &join, request("join"));
    let events = h.events();
    assert!(
        matches!(&events[..], [RoomEvent::Joined { me: 808_784_817_234_103, participants }]
        if participants.len() == 1)
    );

    h.room.publish("v=0\r\n(our offer)", h.now);
    let publish = h.sent(request("publish"));
    assert_eq!(publish["jsep"]["type"], "offer");
    h.answer(&script, "pub", 0, &publish, request("publish"));
    let events = h.events();
    let [RoomEvent::PublishAnswer(answer)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(answer.kind, "answer");
    assert!(answer.sdp.contains("m=video"));

    for msg in script.unsolicited("pub", |m| m["janus"] == "webrtcup" || m["janus"] == "media") {
        h.deliver(&msg, None);
    }
    assert_eq!(
        h.events(),
        vec![
            RoomEvent::WebRtcUp(Role::Publisher),
            RoomEvent::MediaFlowing {
                role: Role::Publisher,
                kind: "audio".into(),
                flowing: true
            },
            RoomEvent::MediaFlowing {
                role: Role::Publisher,
                kind: "video".into(),
                flowing: true
            },
        ]
    );
}

/// The watcher's session, with the recorded subscriber ("sub", another session in the
/// recording) merged in as our second handle.
#[test]
fn the_subscription_follows_who_publishes() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.connect(&script, "watcher");
    let join = h.sent(request("join"));
    h.answer(&script, "watcher", 0, &join, request("join"));
    assert!(
        matches!(&h.events()[..], [RoomEvent::Joined { participants, .. }] if participants.is_empty())
    );

    let news = script.unsolicited("watcher", |m| m["janus"] == "event");
    // joining, the display event, publishers, unpublished (twice), leaving, destroyed.
    for msg in &news[..3] {
        h.deliver(msg, None);
    }
    let pub_id = 808_784_817_234_103;
    let publisher = Participant {
        id: pub_id,
        display: Some("Pub".into()),
        publishing: true,
    };
    assert_eq!(
        h.events(),
        vec![
            RoomEvent::ParticipantJoined(Participant {
                publishing: false,
                ..publisher.clone()
            }),
            RoomEvent::ParticipantPublishing(publisher),
        ]
    );

    // Someone publishes: our subscriber handle is attached and joined with their feed.
    let attach = h.sent(janus("attach"));
    h.answer(&script, "sub", 0, &attach, janus("attach"));
    let join = h.sent(|m| m["body"]["ptype"] == "subscriber");
    assert_eq!(join["body"]["streams"], json!([{"feed": pub_id}]));
    assert_eq!(join["body"]["pin"], "letmein");
    assert!(join["body"]["private_id"].is_u64());
    h.answer(&script, "sub", 1, &join, |m| {
        m["body"]["ptype"] == "subscriber"
    });
    let events = h.events();
    let [RoomEvent::SubscriptionOffer { jsep, streams }] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(jsep.kind, "offer");
    assert_eq!(streams.len(), 2);
    assert_eq!(
        (streams[0].kind, streams[1].kind),
        (MediaKind::Audio, MediaKind::Video)
    );
    assert!(streams.iter().all(|s| s.feed == Some(pub_id) && s.active));

    h.room.answer_subscription("v=0\r\n(our answer)", h.now);
    let start = h.sent(request("start"));
    assert_eq!(start["jsep"]["type"], "answer");
    h.answer(&script, "sub", 0, &start, request("start"));
    for msg in script.unsolicited("sub", janus("webrtcup")) {
        h.deliver(&msg, None);
    }
    assert_eq!(h.events(), vec![RoomEvent::WebRtcUp(Role::Subscriber)]);
    h.nothing_sent();

    // Their picture fits a small tile: the smallest simulcast layer, every frame of it, asked
    // of the subscriber handle.
    let video_mid = streams[1].mid.clone();
    h.room.choose_layer(&video_mid, 0, 2, h.now);
    let configure = h.sent(request("configure"));
    assert_eq!(configure["handle_id"], start["handle_id"]);
    assert_eq!(
        configure["body"]["streams"],
        json!([{"mid": video_mid, "substream": 0, "temporal": 2}])
    );
    h.room.choose_layer(&video_mid, 7, 9, h.now);
    let streams_asked = &h.sent(request("configure"))["body"]["streams"][0];
    assert_eq!(
        (&streams_asked["substream"], &streams_asked["temporal"]),
        (&json!(2), &json!(2))
    );
    // Nobody sees it: half its frames (temporal layers 0 and 1).
    h.room.choose_layer(&video_mid, 0, 1, h.now);
    assert_eq!(
        h.sent(request("configure"))["body"]["streams"][0]["temporal"],
        1
    );

    // They stop publishing: Janus renegotiates our subscription by itself.
    for msg in script.unsolicited("sub", videoroom("updated")) {
        h.deliver(&msg, None);
    }
    let events = h.events();
    assert!(
        matches!(&events[..], [RoomEvent::SubscriptionOffer { streams, .. }]
            if streams.iter().all(|s| !s.active)),
        "{events:?}"
    );
    for msg in &news[3..] {
        h.deliver(msg, None);
    }
    assert_eq!(
        h.events(),
        vec![
            RoomEvent::ParticipantUnpublished { id: pub_id },
            RoomEvent::ParticipantLeft { id: pub_id },
            RoomEvent::RoomDestroyed,
        ]
    );
    assert!(h.room.is_closed());
}

/// A send-only participant (a load generator) sees who publishes but subscribes to nobody.
#[test]
fn a_send_only_participant_subscribes_to_nobody() {
    let script = Script::new("media");
    let mut h = Harness::receiving("5000", Some("letmein"), false);
    h.connect(&script, "watcher");
    let join = h.sent(request("join"));
    h.answer(&script, "watcher", 0, &join, request("join"));
    h.events();
    let news = script.unsolicited("watcher", |m| m["janus"] == "event");
    for msg in &news[..3] {
        h.deliver(msg, None);
    }
    assert!(
        h.events()
            .iter()
            .any(|e| matches!(e, RoomEvent::ParticipantPublishing(_)))
    );
    h.nothing_sent();
}

#[test]
fn keepalives_keep_the_session_and_its_loss_is_reported() {
    let script = Script::new("timeout");
    let mut h = Harness::new("1", None);
    h.connect(&script, "no-keepalive");
    let _join = h.sent(request("join"));
    let due = h.room.poll_timeout();
    assert_eq!(
        due,
        Some(h.now + REPLY_TIMEOUT),
        "the join awaits its answer"
    );

    // The server answers nothing: after the reply timeout the session counts as lost.
    h.room.handle_timeout(h.now + REPLY_TIMEOUT);
    assert!(
        matches!(&h.events()[..], [RoomEvent::SessionLost { reason }] if reason.contains("join"))
    );
    assert!(h.room.is_closed());

    // A session that waits (here: for the user to type the password) sends keepalives every
    // 25 s; the server's timeout ends it.
    let basics = Script::new("basics");
    let mut h = Harness::new("4242", None);
    h.connect(&basics, "alice");
    let join = h.sent(request("join"));
    h.answer(&basics, "alice", 0, &join, request("join"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::JoinFailed(JoinError::PasswordRequired)]
    );
    assert_eq!(h.room.poll_timeout(), Some(h.now + KEEPALIVE_INTERVAL));
    h.room.handle_timeout(h.now + KEEPALIVE_INTERVAL);
    let keepalive = h.sent(janus("keepalive"));
    h.answer(&script, "with-keepalive", 0, &keepalive, janus("keepalive"));
    h.now += KEEPALIVE_INTERVAL;
    assert_eq!(h.room.poll_timeout(), Some(h.now + KEEPALIVE_INTERVAL));
    for msg in script.unsolicited("no-keepalive", |_| true) {
        h.deliver(&msg, None);
    }
    assert!(
        matches!(&h.events()[..], [RoomEvent::SessionLost { reason }] if reason.contains("timeout"))
    );
}

/// Janus announces no change of a room's recording flag: the room list is asked for right after
/// joining and every few seconds, and a change becomes an event.
#[test]
fn room_facts_are_polled_and_changes_reported() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.connect(&script, "watcher");
    let join = h.sent(request("join"));
    h.answer(&script, "watcher", 0, &join, request("join"));
    assert!(matches!(&h.events()[..], [RoomEvent::Joined { .. }]));
    assert_eq!(
        h.room.poll_timeout(),
        Some(h.now),
        "the facts are due at once"
    );
    h.room.handle_timeout(h.now);
    let list = h.sent(request("list"));
    h.answer(&script, "watcher", 0, &list, request("list"));
    assert_eq!(
        h.events(),
        vec![RoomEvent::RoomFacts(RoomFacts::Listed {
            record: false,
            require_e2ee: false
        })]
    );
    // Unchanged: no event. Then the owner turns recording on.
    for (record, expect_event) in [(false, false), (true, true), (true, false)] {
        h.now += ROOM_FACTS_INTERVAL;
        assert_eq!(h.room.poll_timeout(), Some(h.now));
        h.room.handle_timeout(h.now);
        let list = h.sent(request("list"));
        let tx = script.request("watcher", 0, request("list"));
        let mut reply = script.replies("watcher", &tx).remove(0);
        if let Some(rooms) = reply["plugindata"]["data"]["list"].as_array_mut() {
            for room in rooms {
                room["record"] = json!(record);
            }
        }
        h.deliver(&reply, list["transaction"].as_str());
        let events = h.events();
        assert_eq!(!events.is_empty(), expect_event, "{events:?}");
        if expect_event {
            assert_eq!(
                events,
                vec![RoomEvent::RoomFacts(RoomFacts::Listed {
                    record: true,
                    require_e2ee: false
                })]
            );
        }
    }
    // A room the list does not show is private: the server says nothing about it.
    let mut h = Harness::new("777", Some("letmein"));
    h.connect(&script, "watcher");
    let join = h.sent(request("join"));
    h.answer(&script, "watcher", 0, &join, request("join"));
    h.events();
    h.room.handle_timeout(h.now);
    let list = h.sent(request("list"));
    h.answer(&script, "watcher", 0, &list, request("list"));
    assert_eq!(h.events(), vec![RoomEvent::RoomFacts(RoomFacts::Unlisted)]);
}

#[test]
fn garbage_from_the_server_is_an_error_and_changes_nothing() {
    let script = Script::new("basics");
    let mut h = Harness::new("4242", Some("letmein"));
    let create = h.sent(janus("create"));
    for text in ["", "not json", "[]", "{\"janus\": 1}", "{\"no\": \"type\"}"] {
        assert!(h.room.handle_message(text, h.now).is_err(), "{text:?}");
    }
    // Wrong types inside a well-formed message are ignored, not trusted.
    let odd = json!({"janus": "success", "transaction": "nobody", "data": {"id": "x"}});
    assert!(h.room.handle_message(&odd.to_string(), h.now).is_ok());
    assert!(h.events().is_empty());
    h.answer(&script, "alice", 0, &create, janus("create"));
    let _attach = h.sent(janus("attach"));
    h.now += Duration::from_millis(1);
}

#[test]
fn a_server_that_breaks_the_protocol_is_reported_not_followed() {
    let script = Script::new("basics");
    let mut h = Harness::new("4242", Some("letmein"));
    h.connect(&script, "alice");
    let join = h.sent(request("join"));
    // A "success" that is not a join: e.g. a server that answers every message the same way.
    h.deliver(
        &json!({"janus": "event", "session_id": 1, "sender": 5_323_041_354_655_369u64,
            "plugindata": {"plugin": "janus.plugin.videoroom",
                "data": {"videoroom": "success", "list": []}}}),
        join["transaction"].as_str(),
    );
    assert!(
        matches!(&h.events()[..], [RoomEvent::ProtocolError { reason }] if reason.contains("success")),
        "a join answered with something else ends the session"
    );
    assert!(h.room.is_closed());

    // A create without a session id.
    let mut h = Harness::new("4242", None);
    let create = h.sent(janus("create"));
    h.deliver(
        &json!({"janus": "success", "data": {}}),
        create["transaction"].as_str(),
    );
    assert!(matches!(&h.events()[..], [RoomEvent::ProtocolError { .. }]));
}

/// Random bytes, random JSON shapes and mutated real messages at every step: never a panic, and
/// what is not a message is an error without effect. (The libFuzzer target `janus` runs the same
/// input space unbounded.)
#[test]
fn random_server_input_never_panics() {
    let recorded: Vec<String> = transcript("media")
        .into_iter()
        .chain(transcript("basics"))
        .filter(|e| e["dir"] == "recv")
        .map(|e| e["msg"].to_string())
        .collect();
    let mut seed = 0x9e37_79b9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for _ in 0..300 {
        let mut room = VideoRoom::new(
            JoinConfig {
                room: RoomId::Number(1),
                display: "x".into(),
                pin: None,
                receive: true,
                e2ee: false,
            },
            "t",
            Instant::now(),
        );
        for _ in 0..40 {
            let base = &recorded[next() as usize % recorded.len()];
            let mut bytes = base.clone().into_bytes();
            for _ in 0..(next() % 4) {
                if bytes.is_empty() {
                    break;
                }
                let at = next() as usize % bytes.len();
                bytes[at] = (next() % 128) as u8;
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = room.handle_message(&text, Instant::now());
            while room.poll_transmit().is_some() {}
            while room.poll_event().is_some() {}
        }
        room.handle_timeout(Instant::now() + Duration::from_secs(60));
    }
}

/// Our offer as webrtc-rs writes it for a restart: new credentials, candidates in the first
/// (bundled) media section only.
const RESTART_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:NEWU\r\na=ice-pwd:NEWP\r\n\
a=mid:0\r\na=candidate:1 1 udp 2130706431 198.18.0.3 40001 typ host\r\n\
a=end-of-candidates\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
a=candidate:9 1 udp 2130706431 198.18.0.3 40001 typ host\r\n";

/// A reply of the VideoRoom plugin to `ours` on its handle, as Janus 1.1.2 shapes it
/// (`janus_videoroom.c`, the `configure` branches: `"configured": "ok"` in an event, the
/// session description beside it).
fn plugin_event(ours: &Value, data: Value, jsep: Option<Value>) -> Value {
    let mut msg = json!({
        "janus": "event",
        "session_id": ours["session_id"],
        "transaction": ours["transaction"],
        "sender": ours["handle_id"],
        "plugindata": {"plugin": "janus.plugin.videoroom", "data": data},
    });
    if let (Some(jsep), Some(map)) = (jsep, msg.as_object_mut()) {
        map.insert("jsep".into(), jsep);
    }
    msg
}

fn ack(ours: &Value) -> Value {
    json!({"janus": "ack", "session_id": ours["session_id"], "transaction": ours["transaction"]})
}

/// A publisher restarts ICE on its own handle: the new offer goes out in a `configure` (Janus
/// sees the new credentials and restarts its side), the answer is handed up as any publish
/// answer, and our candidates follow as trickles once the server has taken the offer.
#[test]
fn a_publisher_restarts_ice_with_a_configure_carrying_a_new_offer() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.connect(&script, "pub");
    let join = h.sent(request("join"));
    h.answer(&script, "pub", 0, &join, request("join"));
    h.room.publish("v=0\r\n(our offer)", h.now);
    let publish = h.sent(request("publish"));
    h.answer(&script, "pub", 0, &publish, request("publish"));
    h.events();

    h.room.restart_publisher(RESTART_OFFER, h.now);
    let configure = h.sent(request("configure"));
    assert_eq!(configure["handle_id"], publish["handle_id"]);
    assert_eq!(configure["body"], json!({"request": "configure"}));
    assert_eq!(configure["jsep"]["type"], "offer");
    assert_eq!(configure["jsep"]["sdp"], RESTART_OFFER);
    // Nothing is trickled before the server has the offer.
    h.nothing_sent();

    // The event may come before the ack.
    let answer = json!({"type": "answer", "sdp": "v=0\r\n(the server's restart answer)"});
    let reply = plugin_event(
        &configure,
        json!({"videoroom": "event", "room": 5000, "configured": "ok"}),
        Some(answer),
    );
    h.deliver(&reply, None);
    h.deliver(&ack(&configure), None);
    let events = h.events();
    assert!(
        matches!(&events[..], [RoomEvent::PublishAnswer(jsep)] if jsep.kind == "answer"),
        "{events:?}"
    );
    let trickle = h
        .room
        .poll_transmit()
        .map(|t| serde_json::from_str::<Value>(&t));
    let Some(Ok(trickle)) = trickle else {
        panic!("no trickle: {trickle:?}");
    };
    assert_eq!(trickle["janus"], "trickle");
    assert_eq!(trickle["handle_id"], publish["handle_id"]);
    assert_eq!(
        trickle["candidate"],
        json!([{"candidate": "candidate:1 1 udp 2130706431 198.18.0.3 40001 typ host",
            "sdpMid": "0", "sdpMLineIndex": 0}])
    );
    let completed = h.sent(janus("trickle"));
    assert_eq!(completed["candidate"], json!({"completed": true}));
    // Trickles are answered with an ack only: once acked, nothing is left waiting.
    h.deliver(&ack(&trickle), None);
    h.deliver(&ack(&completed), None);
    h.now += REPLY_TIMEOUT + Duration::from_secs(1);
    h.room.handle_timeout(h.now);
    assert!(!h.room.is_closed());
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, RoomEvent::SessionLost { .. }))
    );
}

/// A refused restart is reported for its handle, not as a lost session: the call decides.
#[test]
fn a_refused_restart_is_reported_for_its_handle() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.connect(&script, "pub");
    let join = h.sent(request("join"));
    h.answer(&script, "pub", 0, &join, request("join"));
    h.events();
    h.room.restart_publisher(RESTART_OFFER, h.now);
    let configure = h.sent(request("configure"));
    let refusal = plugin_event(
        &configure,
        json!({"videoroom": "event", "error_code": 424, "error": "Can't configure (not publishing)"}),
        None,
    );
    h.deliver(&refusal, None);
    assert_eq!(
        h.events(),
        vec![RoomEvent::RestartFailed {
            role: Role::Publisher,
            code: 424,
            reason: "Can't configure (not publishing)".into()
        }]
    );
    h.nothing_sent();
    assert!(!h.room.is_closed());
}

/// A subscriber asks for the restart (`configure` with `restart: true`), gets the server's new
/// offer for the same streams, answers it with `start`, and trickles its candidates once the
/// server took the answer. A restart asked for while an offer is still unanswered waits for it.
#[test]
fn a_subscriber_restarts_ice_by_asking_for_a_new_offer() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    h.subscribed(&script);

    // The first offer is not answered yet: the restart waits.
    h.room.restart_subscription(h.now);
    h.nothing_sent();
    h.room.answer_subscription("v=0\r\n(our answer)", h.now);
    let start = h.sent(request("start"));
    h.answer(&script, "sub", 0, &start, request("start"));
    let configure = h.sent(request("configure"));
    assert_eq!(configure["handle_id"], start["handle_id"]);
    assert_eq!(
        configure["body"],
        json!({"request": "configure", "restart": true})
    );
    assert!(configure.get("jsep").is_none());

    h.deliver(&ack(&configure), None);
    let offer = json!({"type": "offer", "sdp": "v=0\r\n(restart offer)", "restart": true});
    let reply = plugin_event(
        &configure,
        json!({"videoroom": "event", "room": 5000, "configured": "ok"}),
        Some(offer),
    );
    h.deliver(&reply, None);
    let events = h.events();
    assert!(
        matches!(&events[..], [RoomEvent::SubscriptionRestart(jsep)] if jsep.kind == "offer"),
        "{events:?}"
    );

    h.room.answer_subscription(RESTART_OFFER, h.now);
    let start = h.sent(request("start"));
    assert_eq!(start["jsep"]["type"], "answer");
    h.deliver(&ack(&start), None);
    h.nothing_sent();
    let started = plugin_event(
        &start,
        json!({"videoroom": "event", "room": 5000, "started": "ok"}),
        None,
    );
    h.deliver(&started, None);
    let trickle = h
        .room
        .poll_transmit()
        .map(|t| serde_json::from_str::<Value>(&t));
    let Some(Ok(trickle)) = trickle else {
        panic!("no trickle: {trickle:?}");
    };
    assert_eq!(trickle["janus"], "trickle");
    assert_eq!(trickle["handle_id"], start["handle_id"]);
    assert_eq!(trickle["candidate"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        h.sent(janus("trickle"))["candidate"],
        json!({"completed": true})
    );
    // An ordinary answer later (a renegotiation) trickles nothing.
    h.nothing_sent();
    assert!(h.events().is_empty());
}

/// A subscription whose streams cannot be decrypted is replaced: the handle is detached and a
/// new one joins with every feed the old one had, for a new offer (a new peer connection). It
/// waits for the offer under way; an offer the old handle still sends is not taken for one of
/// the new handle.
#[test]
fn a_subscription_is_renewed_on_a_new_handle() {
    let script = Script::new("media");
    let mut h = Harness::new("5000", Some("letmein"));
    let first_join = h.subscribed(&script);
    let old_handle = first_join["handle_id"].clone();
    assert!(old_handle.is_u64());

    // The offer is not answered yet: the renewal waits for it.
    h.room.renew_subscription(h.now);
    h.nothing_sent();
    assert!(h.events().is_empty(), "nothing replaced yet");
    h.room.answer_subscription("v=0\r\n(our answer)", h.now);
    let start = h.sent(request("start"));
    h.answer(&script, "sub", 0, &start, request("start"));

    let sent: Vec<Value> = std::iter::from_fn(|| h.room.poll_transmit())
        .map(|t| serde_json::from_str(&t).unwrap_or(Value::Null))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    // The old handle's offer came (and was answered) before; the caller is told now.
    assert_eq!(h.events(), vec![RoomEvent::SubscriptionReplaced]);
    assert_eq!(sent[0]["janus"], "detach");
    assert_eq!(sent[0]["handle_id"], old_handle);
    assert_eq!(sent[1]["janus"], "attach");
    assert_eq!(sent[1]["plugin"], "janus.plugin.videoroom");
    h.deliver(
        &json!({"janus": "success", "session_id": sent[0]["session_id"],
            "transaction": sent[0]["transaction"]}),
        None,
    );
    let new_handle = 777_000_111_u64;
    h.deliver(
        &json!({"janus": "success", "session_id": sent[1]["session_id"],
            "transaction": sent[1]["transaction"], "data": {"id": new_handle}}),
        None,
    );
    let join = h.sent(|m| m["body"]["ptype"] == "subscriber");
    assert_eq!(join["handle_id"], json!(new_handle));
    assert_eq!(join["body"]["streams"], first_join["body"]["streams"]);
    assert!(h.events().is_empty());

    // A late renegotiation offer of the old handle is ignored.
    let stale = json!({
        "janus": "event", "session_id": join["session_id"], "sender": old_handle,
        "plugindata": {"plugin": "janus.plugin.videoroom",
            "data": {"videoroom": "updated", "room": 5000, "streams": []}},
        "jsep": {"type": "offer", "sdp": "v=0\r\n(old handle)"},
    });
    h.deliver(&stale, None);
    assert!(h.events().is_empty());
    h.nothing_sent();

    // The new handle's offer is the one to answer, on the new handle.
    h.answer(&script, "sub", 1, &join, |m| {
        m["body"]["ptype"] == "subscriber"
    });
    let events = h.events();
    assert!(
        matches!(&events[..], [RoomEvent::SubscriptionOffer { jsep, streams }]
            if jsep.kind == "offer" && !streams.is_empty()),
        "{events:?}"
    );
    h.room.answer_subscription("v=0\r\n(our new answer)", h.now);
    let start = h.sent(request("start"));
    assert_eq!(start["handle_id"], json!(new_handle));
}
