//! The summary of a `cargo xtask test` run: each step with its outcome and time, the number of
//! tests run, and an exit code that is non-zero when anything failed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::exec::Result;

/// How one step ended.
pub enum Outcome {
    /// It ran and passed.
    Passed,
    /// It ran and failed, or could not run.
    Failed(String),
    /// It could not run on this machine for a reason outside the project (said plainly).
    Unavailable(String),
}

struct Step {
    name: String,
    outcome: Outcome,
    took: Duration,
}

/// Collects step outcomes and test counts.
#[derive(Default)]
pub struct Report {
    steps: Vec<Step>,
    /// Tests passed, summed over the test runners' own summaries.
    pub tests_passed: u64,
    /// Tests failed, likewise.
    pub tests_failed: u64,
}

impl Report {
    /// Run one step, print a header for it, and record how it went. Returns whether it passed.
    pub fn step(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<Outcome>) -> bool {
        println!("\n==> {name}");
        let start = Instant::now();
        let outcome = f(self).unwrap_or_else(Outcome::Failed);
        let passed = !matches!(outcome, Outcome::Failed(_));
        if let Outcome::Failed(why) = &outcome {
            println!("  FAILED: {why}");
        }
        self.steps.push(Step {
            name: name.to_owned(),
            outcome,
            took: start.elapsed(),
        });
        passed
    }

    /// Read a test runner's summary line (cargo test, vitest or the screen tests) and add its
    /// counts.
    pub fn count_tests(&mut self, line: &str) {
        if let Some((passed, failed)) = parse_counts(line) {
            self.tests_passed += passed;
            self.tests_failed += failed;
        }
    }

    /// Print the summary table and return the process exit code.
    pub fn finish(&self, total: Duration) -> ExitCode {
        println!("\n==> summary ({:.0} s)", total.as_secs_f64());
        for step in &self.steps {
            let (mark, note) = match &step.outcome {
                Outcome::Passed => ("ok  ", String::new()),
                Outcome::Failed(why) => ("FAIL", format!("  {}", first_line(why))),
                Outcome::Unavailable(why) => ("n/a ", format!("  NOT CHECKED: {why}")),
            };
            println!(
                "  {mark} {:<44} {:>6.1} s{note}",
                step.name,
                step.took.as_secs_f64()
            );
        }
        let failed_steps = self
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
            .count();
        println!(
            "  {} steps, {} failed; {} tests passed, {} failed",
            self.steps.len(),
            failed_steps,
            self.tests_passed,
            self.tests_failed
        );
        println!(
            "tests: {} passed, {} failed",
            self.tests_passed, self.tests_failed
        );
        if failed_steps == 0 && self.tests_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Remove ANSI colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `test result: ok. 5 passed; 1 failed; …` (cargo), `Tests  1 failed | 12 passed (13)` (vitest)
/// or `screens: 30 passed, 1 failed` (ui/screens/run.mjs).
fn parse_counts(line: &str) -> Option<(u64, u64)> {
    let line = strip_ansi(line);
    let line = line.trim();
    let rest = line
        .strip_prefix("test result: ")
        .or_else(|| line.strip_prefix("Tests "))
        .or_else(|| line.strip_prefix("screens: "))?;
    let number_before = |word: &str| -> u64 {
        let words: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ';' || c == '|' || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .find(|w| w[1] == word)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or(0)
    };
    Some((number_before("passed"), number_before("failed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_vitest_and_screen_test_summaries() {
        assert_eq!(
            parse_counts("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured"),
            Some((12, 0))
        );
        assert_eq!(
            parse_counts("test result: FAILED. 2 passed; 1 failed; 0 ignored;"),
            Some((2, 1))
        );
        assert_eq!(
            parse_counts(
                "\u{1b}[2m      Tests \u{1b}[22m \u{1b}[1m\u{1b}[32m13 passed\u{1b}[39m (13)"
            ),
            Some((13, 0))
        );
        assert_eq!(
            parse_counts("      Tests  1 failed | 12 passed (13)"),
            Some((12, 1))
        );
        assert_eq!(parse_counts("screens: 33 passed, 1 failed"), Some((33, 1)));
        assert_eq!(parse_counts("running 3 tests"), None);
        assert_eq!(parse_counts("  ok   screens: home (0.8 s)"), None);
    }
}
