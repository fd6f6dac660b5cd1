//! `--turn <url>`, `--turn-user <name>` and the TURN credential, which never comes from the
//! command line (other users of the machine can read it): from `--turn-credential-file <path>`
//! (its first line) or the environment variable `RUNDE_TURN_CREDENTIAL`.

use std::path::PathBuf;

use runde_call::{TurnCredential, TurnServer, TurnUrl};

/// The environment variable a TURN credential may come from.
pub const CREDENTIAL_ENV: &str = "RUNDE_TURN_CREDENTIAL";

/// The TURN options as given.
#[derive(Debug, Default)]
pub struct TurnOptions {
    urls: Vec<TurnUrl>,
    user: Option<String>,
    credential_file: Option<PathBuf>,
}

impl TurnOptions {
    /// Take `option` (with its `value`) if it is one of ours: `Ok(true)` when taken.
    pub fn take(
        &mut self,
        option: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        match option {
            "--turn" => {
                let text = value()?;
                let url = TurnUrl::parse(&text).map_err(|e| format!("--turn {text}: {e}"))?;
                self.urls.push(url);
            }
            "--turn-user" => self.user = Some(value()?),
            "--turn-credential-file" => self.credential_file = Some(value()?.into()),
            "--turn-credential" | "--turn-password" => {
                return Err(format!(
                    "a TURN credential is not taken from the command line (other users can read \
                     it); use --turn-credential-file or {CREDENTIAL_ENV}"
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the options fit together (checked before anything is read or contacted).
    pub fn check(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            if self.user.is_some() || self.credential_file.is_some() {
                return Err("--turn-user and --turn-credential-file need --turn".into());
            }
            return Ok(());
        }
        if self.user.is_none() {
            return Err("--turn needs --turn-user".into());
        }
        Ok(())
    }

    /// The TURN servers, with the credential read from its file or the environment.
    pub fn servers(&self) -> Result<Vec<TurnServer>, String> {
        let Some(user) = &self.user else {
            return Ok(Vec::new());
        };
        let credential = match &self.credential_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    format!(
                        "cannot read the TURN credential file {}: {e}",
                        path.display()
                    )
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('\r')
                .to_owned(),
            None => std::env::var(CREDENTIAL_ENV).map_err(|_| {
                format!(
                    "--turn needs a credential: --turn-credential-file <path> or {CREDENTIAL_ENV}"
                )
            })?,
        };
        Ok(self
            .urls
            .iter()
            .map(|url| TurnServer {
                url: url.clone(),
                username: user.clone(),
                credential: TurnCredential::new(credential.clone()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TurnOptions, String> {
        let mut options = TurnOptions::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let value = || {
                args.next()
                    .map(|v| (*v).to_owned())
                    .ok_or("value".to_owned())
            };
            assert!(options.take(arg, value)?, "{arg} not taken");
        }
        options.check()?;
        Ok(options)
    }

    #[test]
    fn urls_user_and_credential_file_make_servers() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("runde-cli-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = dir.join("credential");
        std::fs::write(&file, "s3cret\nignored\n").map_err(|e| e.to_string())?;
        let file = file.display().to_string();
        let options = parse(&[
            "--turn",
            "turn:t.example:443?transport=tcp",
            "--turn",
            "turns:t.example:443",
            "--turn-user",
            "school",
            "--turn-credential-file",
            &file,
        ])?;
        let servers = options.servers()?;
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].username, "school");
        assert_eq!(servers[1].credential, TurnCredential::new("s3cret"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(
            parse(&["--turn", "stun:x.org", "--turn-user", "u"])
                .is_err_and(|e| e.contains("turn: or turns:"))
        );
        assert!(parse(&["--turn", "turn:x.org"]).is_err_and(|e| e.contains("--turn-user")));
        assert!(parse(&["--turn-user", "u"]).is_err_and(|e| e.contains("need --turn")));
        assert!(parse(&["--turn-credential", "x"]).is_err_and(|e| e.contains("command line")));
    }
}
