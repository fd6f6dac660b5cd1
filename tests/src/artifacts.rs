//! Where tests keep what a person may want to look at afterwards (screenshots, logs):
//! `target/test-artifacts/<test name>/`, or `$RUNDE_TEST_ARTIFACTS/<test name>/`.

use std::path::PathBuf;

use crate::{Result, err};

/// The artifact folder for one test, created empty.
pub fn dir(test: &str) -> Result<PathBuf> {
    let base = match std::env::var_os("RUNDE_TEST_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts"),
    };
    let dir = base.join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| err("cannot clear artifacts", e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| err("cannot create artifacts", e))?;
    // Without `..` in it: some programs (Chromium's file camera) refuse such paths.
    std::fs::canonicalize(&dir).map_err(|e| err("cannot resolve artifacts", e))
}
