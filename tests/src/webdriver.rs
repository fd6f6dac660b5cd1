//! A small W3C WebDriver client: just the commands Runde's tests use, over plain HTTP on loopback.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Error, Result, err};

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A reference to an element in the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// One WebDriver session.
pub struct Session {
    agent: ureq::Agent,
    base: String,
}

impl Session {
    /// Open a session at `server` (e.g. `http://127.0.0.1:4444`) with these capabilities.
    pub fn create(server: &str, capabilities: Value) -> Result<Self> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let reply = send(
            &agent,
            "POST",
            &format!("{server}/session"),
            Some(capabilities),
        )?;
        let id = reply["sessionId"]
            .as_str()
            .ok_or_else(|| err("new session", format!("no session id in {reply}")))?;
        Ok(Self {
            agent,
            base: format!("{server}/session/{id}"),
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        send(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    /// Open a URL in the session's window.
    pub fn navigate(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))?;
        Ok(())
    }

    /// Make the window this large (CSS pixels), as a user would by resizing it.
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )?;
        Ok(())
    }

    /// How long element look-ups wait for an element to appear.
    pub fn set_implicit_wait(&self, wait: Duration) -> Result<()> {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.cmd("POST", "/timeouts", Some(json!({ "implicit": ms })))?;
        Ok(())
    }

    /// The first element matching a CSS selector (waits up to the implicit wait).
    pub fn find(&self, css: &str) -> Result<Element> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        v[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| err("find", format!("{css}: unexpected reply {v}")))
    }

    /// Whether any element matches a CSS selector right now (subject to the implicit wait).
    pub fn count(&self, css: &str) -> Result<usize> {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        Ok(v.as_array().map_or(0, Vec::len))
    }

    /// Click an element.
    pub fn click(&self, el: &Element) -> Result<()> {
        self.cmd("POST", &format!("/element/{}/click", el.0), Some(json!({})))?;
        Ok(())
    }

    /// Clear a text field.
    pub fn clear(&self, el: &Element) -> Result<()> {
        self.cmd("POST", &format!("/element/{}/clear", el.0), Some(json!({})))?;
        Ok(())
    }

    /// Type text into an element.
    pub fn type_text(&self, el: &Element, text: &str) -> Result<()> {
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )?;
        Ok(())
    }

    /// The element's visible text.
    pub fn text(&self, el: &Element) -> Result<String> {
        let v = self.cmd("GET", &format!("/element/{}/text", el.0), None)?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// A DOM property of the element (e.g. `value`), as JSON.
    pub fn property(&self, el: &Element, name: &str) -> Result<Value> {
        self.cmd("GET", &format!("/element/{}/property/{name}", el.0), None)
    }

    /// An HTML attribute of the element.
    pub fn attribute(&self, el: &Element, name: &str) -> Result<Option<String>> {
        let v = self.cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// Run a script in the page; `arguments[…]` holds `args`.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Let the page invoke the app's command `command` (no arguments) and say whether the app's
    /// permissions refused it: `Ok(None)` when refused as not allowed, `Ok(Some(outcome))` with
    /// whatever happened otherwise.
    pub fn invoke_refused(&self, command: &str) -> Result<Option<Value>> {
        let outcome = self.execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            window.__TAURI_INTERNALS__.invoke(arguments[0], {}).then(
              (v) => done({ allowed: true, value: String(v) }),
              (e) => done({ allowed: false, error: String(e) }),
            );
            "#,
            serde_json::json!([command]),
        )?;
        let refused = outcome["allowed"] == false
            && outcome["error"]
                .as_str()
                .is_some_and(|e| e.contains("not allowed"));
        Ok((!refused).then_some(outcome))
    }

    /// Run an asynchronous script; it finishes by calling its last argument.
    pub fn execute_async(&self, script: &str, args: Value) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Wait until the page has painted its current state (two animation frames), then take a
    /// PNG screenshot of the window.
    pub fn screenshot_after_paint(&self) -> Result<Vec<u8>> {
        // WebKit takes the snapshot at its next presentation update; on a page that is not
        // changing (and without accelerated compositing) none would come. Repaint one invisible
        // pixel a few times while the snapshot is taken, so one does.
        self.execute_async(
            "const done = arguments[arguments.length - 1];\
             let dot = document.getElementById('__snapshot_nudge');\
             if (!dot) { dot = document.createElement('div'); dot.id = '__snapshot_nudge';\
               dot.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;opacity:0.01;pointer-events:none';\
               document.body.appendChild(dot); }\
             let n = 0; const nudge = () => { dot.style.background = n % 2 ? '#000' : '#fff';\
               if (++n < 40) setTimeout(nudge, 50); };\
             requestAnimationFrame(() => requestAnimationFrame(() => { setTimeout(nudge, 50); done(true); }));",
            json!([]),
        )?;
        let v = self.cmd("GET", "/screenshot", None)?;
        let b64 = v
            .as_str()
            .ok_or_else(|| err("screenshot", "no image in reply"))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| err("screenshot", e))
    }

    /// End the session (closes the app).
    pub fn delete(self) -> Result<()> {
        send(&self.agent, "DELETE", &self.base, None).map(|_| ())
    }
}

/// Send one WebDriver command and unwrap its `value`, turning WebDriver errors into [`Error`].
fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent.post(url).send_json(body.unwrap_or_else(|| json!({}))),
    };
    let mut response = response.map_err(|e| err(&format!("{method} {url}"), e))?;
    let status = response.status();
    let reply: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| err(&format!("{method} {url}: reply"), e))?;
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(Error(format!(
            "{method} {url}: {status}: {} {}",
            value["error"], value["message"]
        )))
    }
}
