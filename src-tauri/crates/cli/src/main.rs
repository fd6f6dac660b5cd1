//! `runde-cli`: Runde without a window.
//!
//! The same call engine as the desktop app, driven from the command line with synthetic or file
//! media. Tests and benchmarks use it as a participant; operators use it to check what Runde sees of
//! their server. It talks to no host but the one named on its command line.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

const USAGE: &str = "\
usage: runde-cli <command>

commands:
  check-link <link>   show what a conference link names, without contacting the server
  --version           print the version
  --help              print this help";

fn main() -> ExitCode {
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
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
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
            if let runde_call::UserError::PasswordInLink { without_secret } = &e {
                eprintln!("the link without the secret: {without_secret}");
            }
            ExitCode::FAILURE
        }
    }
}
