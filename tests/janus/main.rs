//! Runde against a real Janus VideoRoom (Debian's `janus`), each test in its own private network
//! namespace: probing, joining with wrong and missing passwords, seeing others come and go, and
//! losing the server mid-call. The participants are real `runde-cli` processes.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use runde_e2e::cli::{self, CliClient};
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::{Result, artifacts, err, netns};
use serde_json::Value;

const ROOM: u64 = 1234;
const PIN: &str = "correct horse";

fn server(test: &str) -> Result<(std::path::PathBuf, JanusServer)> {
    let dir = artifacts::dir(test)?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN)])?;
    Ok((dir, janus))
}

fn password_file(dir: &std::path::Path, name: &str, password: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{password}\n")).map_err(|e| err("password file", e))?;
    Ok(path.display().to_string())
}

fn event_is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

#[test]
fn probe_tells_janus_from_other_servers() -> Result<()> {
    if !netns::enter("probe_tells_janus_from_other_servers")? {
        return Ok(());
    }
    let (_dir, janus) = server("janus-probe")?;
    let (status, out, _) = cli::run(&["probe", &janus.link(ROOM)], Duration::from_secs(15))?;
    assert!(status.success(), "{out:?}");
    assert!(out.iter().any(|l| l.contains("family:  janus")), "{out:?}");
    assert!(out.iter().any(|l| l.contains("1.1.2")), "{out:?}");

    // Something that answers HTTP but is no conferencing server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| err("listener", e))?
        .port();
    let http = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let link = format!("http://127.0.0.1:{port}/?room=1");
    let (status, _, errout) = cli::run(&["probe", &link], Duration::from_secs(15))?;
    let _ = http.join();
    assert_eq!(status.code(), Some(6), "{errout:?}");
    assert!(
        errout
            .iter()
            .any(|l| l.contains("not a conferencing server")),
        "{errout:?}"
    );

    // Nothing listening at all.
    let free = runde_e2e::process::free_port()?;
    let link = format!("http://127.0.0.1:{free}/?room=1");
    let (status, _, errout) = cli::run(&["probe", &link], Duration::from_secs(15))?;
    assert_eq!(status.code(), Some(6), "{errout:?}");
    assert!(
        errout.iter().any(|l| l.contains("cannot be reached")),
        "{errout:?}"
    );
    Ok(())
}

#[test]
fn wrong_and_missing_passwords_and_unknown_rooms_are_told_apart() -> Result<()> {
    if !netns::enter("wrong_and_missing_passwords_and_unknown_rooms_are_told_apart")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-join-errors")?;
    let link = janus.link(ROOM);
    let timeout = Duration::from_secs(20);

    let (status, out, errout) = cli::run(&["join", &link, "--json"], timeout)?;
    assert_eq!(status.code(), Some(4), "{out:?} {errout:?}");
    assert!(
        out.iter()
            .any(|l| l.contains("\"code\":\"PasswordRequired\"")),
        "{out:?}"
    );

    let wrong = password_file(&dir, "wrong-pin", "hunter2-wrong")?;
    let (status, out, errout) = cli::run(
        &["join", &link, "--json", "--password-file", &wrong],
        timeout,
    )?;
    assert_eq!(status.code(), Some(4), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"code\":\"WrongPassword\"")),
        "{out:?}"
    );
    let everything = [out, errout].concat().join("\n");
    assert!(
        !everything.contains("hunter2-wrong"),
        "the password must never be printed or logged"
    );

    let right = password_file(&dir, "pin", PIN)?;
    let unknown = janus.link(999_999);
    let (status, out, errout) = cli::run(
        &["join", &unknown, "--json", "--password-file", &right],
        timeout,
    )?;
    assert_eq!(status.code(), Some(5), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"code\":\"RoomNotFound\"")),
        "{out:?}"
    );

    let (status, out, errout) = cli::run(
        &[
            "join",
            &link,
            "--json",
            "--password-file",
            &right,
            "--duration",
            "1",
        ],
        timeout,
    )?;
    assert!(status.success(), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"event\":\"joined\"")),
        "{out:?}"
    );
    let everything = [out, errout].concat().join("\n");
    assert!(
        !everything.contains(PIN),
        "the password must never be printed or logged"
    );
    Ok(())
}

#[test]
fn participants_see_each_other_come_and_go() -> Result<()> {
    if !netns::enter("participants_see_each_other_come_and_go")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-participants")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let wait = Duration::from_secs(15);

    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Alice",
            "--password-file",
            &pin,
            "--duration",
            "60",
        ],
    )?;
    alice.wait_event("joined", wait, event_is("joined"))?;
    let mut bob = CliClient::spawn(
        "bob",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Bob",
            "--password-file",
            &pin,
            "--duration",
            "60",
        ],
    )?;
    let joined = bob.wait_event("joined", wait, event_is("joined"))?;
    assert_eq!(joined["participants"][0]["name"], "Alice", "{joined}");
    let bob_id = joined["me"].as_str().unwrap_or_default().to_owned();

    let seen = alice.wait_event("Bob joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Bob"
    })?;
    assert_eq!(seen["participant"]["id"], bob_id.as_str());

    // A third participant comes and goes on its own.
    let carol = cli::run(
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Carol",
            "--password-file",
            &pin,
            "--duration",
            "1",
        ],
        wait,
    )?;
    assert!(carol.0.success(), "{carol:?}");
    let carol_joined = alice.wait_event("Carol joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Carol"
    })?;
    let carol_id = carol_joined["participant"]["id"].clone();
    bob.wait_event("Carol joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Carol"
    })?;
    for client in [&mut alice, &mut bob] {
        client.wait_event("Carol leaves", wait, |e| {
            e["event"] == "participantLeft" && e["id"] == carol_id
        })?;
    }
    alice.save_output(&dir);
    bob.save_output(&dir);
    Ok(())
}

#[test]
fn a_server_that_dies_ends_the_call_with_server_lost() -> Result<()> {
    if !netns::enter("a_server_that_dies_ends_the_call_with_server_lost")? {
        return Ok(());
    }
    let (dir, mut janus) = server("janus-server-lost")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &janus.link(ROOM),
            "--json",
            "--password-file",
            &pin,
            "--duration",
            "60",
        ],
    )?;
    alice.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let killed = Instant::now();
    janus.kill();
    let status = alice.wait_exit(Duration::from_secs(3))?;
    let took = killed.elapsed();
    alice.save_output(&dir);
    assert_eq!(status.code(), Some(7), "exit code for a lost server");
    let ended = alice
        .events()
        .into_iter()
        .find(|e| e["event"] == "ended")
        .ok_or_else(|| err("alice", "no ended event"))?;
    assert_eq!(ended["reason"]["kind"], "lost", "{ended}");
    assert_eq!(ended["reason"]["error"]["code"], "ServerLost", "{ended}");
    println!("server lost noticed after {took:?}");
    Ok(())
}
