//! `runde-cli`: Runde without a window.
//!
//! The same call engine as the desktop app, driven from the command line with synthetic or file
//! media. Tests and benchmarks use it as a participant; operators use it to check what Runde sees of
//! their server. It talks to no host but the one named on its command line.
#![allow(clippy::print_stdout)]

mod join;
mod turn;

use std::process::ExitCode;

use runde_call::UserError;

const USAGE: &str = "\
usage: runde-cli <command>

commands:
  check-link <link>   show what a conference link names, without contacting the server
  probe <link>        ask the server at the link what it is
  join <link> [options]
                      join the room and report what happens
      --name <name>           the name others see (default: Runde CLI)
      --password-file <path>  read the room password from this file
      --password-stdin        read the room password from the first line of standard input
                              (without either, a password remembered in the system keyring is
                              used, else a terminal prompts when the room needs one; a password
                              is never taken from the command line)
      --remember-password     once accepted, remember the password in the system keyring
      --duration <seconds>    leave after this long (default: until the call ends or Ctrl-C)
      --rejoin-for <seconds>  when the server connection is lost, keep trying to rejoin this
                              long before the call ends (default: 120; 0: end at once)
      --audio-in <source>     send sound: mic, mic:<device>, tone, tone:<hz>, or a WAV file
                              (looped)
      --video-in <source>     send video: camera, camera:<device>, pattern (640x360@30),
                              pattern:<w>x<h>@<fps>, a Y4M file, or an IVF file of VP8
                              frames sent as they are (both looped); several IVF
                              files, comma-separated and smallest first, are sent as
                              simulcast layers
      --audio-out <sink>      play what the others say on speaker or speaker:<device>, or
                              write the mix into a WAV file
      --video-out <file.y4m>  write the first other participant's video into a Y4M file
      --video-out-times <file>
                              with --video-out: when each frame written there was shown, one
                              line per frame, in milliseconds since the Unix epoch (for frame
                              rate and freezes as seen)
      --video-out-size <w>x<h>
                              with --video-out: write every picture at this size (by default
                              the size of the first; simulcast starts small)
      --send-only             receive nobody's media (for load tests: many cheap senders)
      --single-layer          send our picture in one size only (no simulcast layers)
      --tile <w>x<h>          the others' pictures are shown this large (pixels): each is
                              asked of the server in the smallest size that fills it
      --tile hidden           the others' pictures are not shown: each is asked of the
                              server in the smallest size at half its frame rate
      --e2ee-passphrase-file <path>
                              end-to-end encrypt the call with the key from the passphrase on
                              this file's first line (not the room password; never on the
                              command line)
      --e2ee-next-passphrase-file <path>
                              on SIGUSR1, change to the passphrase on this file's first line
                              (everyone still in the call agreed on it, e.g. after someone
                              left); the new safety code is printed
      --json                  print events as JSON lines (and media statistics at the end)
      --trust-store <folder>  where the trusted-server list is (default: Runde's settings folder)
      --accept-new-server     trust a server met for the first time and pin its key (after you
                              checked what Runde showed you about it)
      --policy-file <path>    apply this policy file too (it can only add restrictions)
      --turn <url>            relay media through this TURN server when the network blocks
                              it: turn:<host>[:<port>][?transport=udp|tcp] or
                              turns:<host>[:<port>] (TLS); may be repeated
      --turn-user <name>      the TURN servers' user name
      --turn-credential-file <path>
                              the TURN credential, on this file's first line (else from the
                              environment variable RUNDE_TURN_CREDENTIAL; never on the
                              command line)
  policy [--policy-file <path>]...
                      show what the administrator's policy enforces
  --version           print the version
  --help              print this help

exit codes:
  0 ok · 2 usage · 3 unusable link · 4 password missing or wrong · 5 no such room or room full
  6 server unreachable, not a conference server, or TLS failed · 7 connection lost
  8 the server was not understood · 9 a media device or file failed, or no media got through
  10 the server needs your review, is blocked, or its key changed";

fn main() -> ExitCode {
    // Logs go to standard error, at the level `RUNDE_LOG` asks for (warnings by default), as in
    // the app. They never contain passwords: the types that carry secrets cannot be printed.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNDE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--version"] => {
            println!("runde-cli {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["check-link", link] => check_link(link),
        ["probe", link] => join::run_async(join::probe(link)),
        ["policy", options @ ..] => join::policy(options),
        ["join", link, options @ ..] => match join::Options::parse(link, options) {
            Ok(options) => join::run_async(join::join(options)),
            Err(message) => {
                eprintln!("error: {message}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The exit code for an error, by class.
pub(crate) fn exit_code(error: &UserError) -> ExitCode {
    use UserError as E;
    ExitCode::from(match error {
        E::LinkEmpty
        | E::LinkTooLong
        | E::NotALink
        | E::UnsupportedScheme { .. }
        | E::LinkMissingServer
        | E::InsecureTransport
        | E::PasswordInLink { .. }
        | E::InvalidRoom
        | E::LinkWithoutRoom => 3,
        E::PasswordRequired | E::WrongPassword => 4,
        E::RoomNotFound | E::RoomFull | E::JoinRefused { .. } | E::AlreadyInCall => 5,
        E::ServerUnreachable { .. } | E::TlsFailed { .. } | E::NotAConferenceServer { .. } => 6,
        E::ServerLost { .. } | E::MediaPathLost { .. } => 7,
        E::ProtocolError { .. } => 8,
        E::MediaFailed { .. } | E::MediaBlocked { .. } => 9,
        E::ServerBlocked { .. }
        | E::NewServer { .. }
        | E::ServerKeyChanged { .. }
        | E::ServerNotTrusted { .. }
        | E::TrustStoreFailed { .. }
        | E::NotAllowedByPolicy { .. }
        | E::PolicyUnreadable { .. }
        | E::PasswordNotRemembered { .. }
        | E::SettingsFailed { .. }
        | E::ShortcutUnavailable { .. }
        | E::E2eeUnavailable { .. }
        | E::E2eeRequired
        | E::SettingsLocked => 10,
    })
}

fn check_link(link: &str) -> ExitCode {
    match runde_call::inspect_link(link) {
        Ok(report) => {
            println!("server:   {}", report.server);
            println!("endpoint: {}", report.endpoint);
            println!("room:     {}", report.room.as_deref().unwrap_or("(none)"));
            println!(
                "tls:      {}",
                if report.tls { "yes" } else { "no (loopback)" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let UserError::PasswordInLink { without_secret } = &e {
                eprintln!("the link without the secret: {without_secret}");
            }
            exit_code(&e)
        }
    }
}
