// Screen tests: the built UI (ui/dist, from `npm run build`) in a real headless Chromium, with
// Tauri's IPC replaced by fixtures (ipc-mock.mjs), every screen and state checked with axe-core,
// by keyboard, and photographed. Only 127.0.0.1 is ever contacted.
//
//   node screens/run.mjs
//
// RUNDE_CHROMIUM         the browser to drive (default: Debian's /usr/bin/chromium, or a known
//                        Chrome/Chromium/Edge path on macOS and Windows); missing = failure
// RUNDE_SCREENS_OUT      where the screenshots go (default: target/test-artifacts/screens)
// RUNDE_SCREENS_ONLY     run only the tests whose name contains this text
// RUNDE_SCREENS_JOBS     tests run at the same time (default 2)
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { runAll } from "./harness.mjs";
import { startServer } from "./server.mjs";
import "./home.mjs";
import "./call.mjs";
import "./settings.mjs";
import "./guard.mjs";

const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(ui, "dist");
const outDir = resolve(process.env.RUNDE_SCREENS_OUT ?? join(ui, "..", "target", "test-artifacts", "screens"));

/** Tests at a time: two keep both cores busy (the browser does most of the work). */
const JOBS = Number(process.env.RUNDE_SCREENS_JOBS ?? 2);

const BROWSERS = {
  linux: ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"],
  darwin: [
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  ],
  win32: [
    "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    "C:\\Program Files\\Microsoft\\Edge\\Application\\msedge.exe",
  ],
};

function browserPath() {
  const given = process.env.RUNDE_CHROMIUM;
  if (given) {
    if (!existsSync(given)) throw new Error(`RUNDE_CHROMIUM=${given} does not exist`);
    return given;
  }
  const found = (BROWSERS[process.platform] ?? []).find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium found (looked for ${(BROWSERS[process.platform] ?? []).join(", ")}); ` +
        "install it (`cargo xtask setup test` does on Debian/Ubuntu) or set RUNDE_CHROMIUM",
    );
  }
  return found;
}

async function main() {
  const started = Date.now();
  if (!existsSync(join(dist, "index.html"))) throw new Error(`${dist} has no build: run \`npm run build\` first`);
  mkdirSync(outDir, { recursive: true });
  // Pictures of failures from an earlier run would mislead; the others are overwritten.
  for (const old of readdirSync(outDir).filter((f) => f.startsWith("FAILED-") && f.endsWith(".png"))) {
    rmSync(join(outDir, old));
  }
  const executablePath = browserPath();
  const server = await startServer(dist);
  let browser = null;
  try {
    browser = await chromium.launch({
      executablePath,
      // Nothing resolves by name: a request that got past the page's routing still goes nowhere.
      args: ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-background-networking", "--no-first-run"],
    });
    console.log(`screen tests in ${executablePath} ${browser.version()}, UI at ${server.base}, screenshots in ${outDir}`);
    const result = await runAll({ browser, server, outDir }, process.env.RUNDE_SCREENS_ONLY, JOBS);
    const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").length;
    console.log(
      `axe-core: ${result.violations.length} violation(s) seen, ${serious} serious or critical; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // The summary line `cargo xtask test` counts (xtask/src/report.rs).
    console.log(`screens: ${result.passed} passed, ${result.failed} failed`);
    return result.failed === 0 && result.passed > 0;
  } finally {
    await browser?.close();
    await server.close();
  }
}

main().then(
  (ok) => {
    process.exitCode = ok ? 0 : 1;
  },
  (error) => {
    console.error(`screen tests could not run: ${error.message}`);
    process.exitCode = 1;
  },
);
