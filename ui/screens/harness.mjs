// The screen tests' harness: a registry of tests, a fresh browser context per test with the IPC
// mock installed and every request off 127.0.0.1 refused, and the checks each screen goes
// through: axe-core, focus visible on every control reached by Tab, a screenshot.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { installIpcMock } from "./ipc-mock.mjs";
import { defaultAnswers } from "./fixtures.mjs";
import { focusTour } from "./focus.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
/** Impacts that fail a test; the others are printed. */
const FAILING_IMPACTS = new Set(["serious", "critical"]);
const TEST_TIMEOUT_MS = 20_000;

/** @typedef {{ name: string, fn: (t: TestContext) => Promise<void> }} Test */
/** @type {Test[]} */
const registered = [];

/** Register a screen test. */
export function test(name, fn) {
  registered.push({ name, fn });
}

/** Wait until `locator` (the element itself or its descendants) contains `text`. */
export async function waitText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor({ state: "attached" });
}

/** Whether a URL stays on this machine's loopback address. */
function loopback(url) {
  try {
    return new URL(url).hostname === "127.0.0.1";
  } catch {
    return false;
  }
}

/**
 * What a test works with. `open` starts the app in a new window (browser context) with the
 * fixtures' answers, changed by `answers`.
 */
class TestContext {
  constructor(env, log) {
    this.env = env;
    this.log = log;
    /** @type {App[]} */
    this.apps = [];
    this.violations = [];
  }

  /**
   * @param {{ answers?: Record<string, Array<{value?: unknown, error?: unknown}>>,
   *           locale?: string, colorScheme?: "light" | "dark" }} [options]
   */
  async open(options = {}) {
    const context = await this.env.browser.newContext({
      viewport: { width: 1024, height: 700 },
      locale: options.locale ?? "en-GB",
      colorScheme: options.colorScheme ?? "light",
      reducedMotion: "reduce",
      serviceWorkers: "block",
    });
    context.setDefaultTimeout(5_000);
    const app = new App(this, context);
    this.apps.push(app);
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (loopback(url)) return route.continue();
      app.offLoopback.push(url);
      return route.abort("blockedbyclient");
    });
    await context.routeWebSocket(
      (url) => !loopback(url.href),
      (ws) => {
        app.offLoopback.push(ws.url());
        void ws.close();
      },
    );
    const answers = { ...defaultAnswers(this.env.server.videoUrl), ...options.answers };
    await context.addInitScript(installIpcMock, { answers });
    const page = await context.newPage();
    app.page = page;
    page.on("pageerror", (error) => app.problems.push(`uncaught in the page: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") app.problems.push(`console error: ${message.text()}`);
    });
    await page.goto(this.env.server.base);
    await page.getByRole("main").waitFor();
    return app;
  }

  /**
   * What the page did that no test may leave unseen; closes the windows. `failed`: the name of a
   * failed test, whose windows are photographed first.
   */
  async finish(failed) {
    const problems = [];
    for (const app of this.apps) {
      if (app.page && !app.page.isClosed()) {
        const unanswered = await app.page.evaluate(() => window.__rundeMock.unanswered).catch(() => []);
        for (const cmd of unanswered) problems.push(`the page invoked ${cmd}, which has no fixture`);
      }
      for (const url of app.offLoopback) problems.push(`request off 127.0.0.1 refused: ${url}`);
      problems.push(...app.problems);
      if (failed && app.page && !app.page.isClosed()) await app.shot(`FAILED-${failed}-${this.apps.indexOf(app)}`).catch(() => {});
      await app.context.close();
    }
    return problems;
  }
}

/** One app window. */
class App {
  constructor(t, context) {
    this.t = t;
    this.context = context;
    /** @type {import("playwright-core").Page} */
    this.page = /** @type {any} */ (null);
    this.offLoopback = [];
    this.problems = [];
  }

  id(testId) {
    return this.page.getByTestId(testId);
  }

  /** Everything the page invoked so far. */
  async calls() {
    return this.page.evaluate(() => window.__rundeMock.calls);
  }

  /** Wait until the page invoked `cmd` (`count` times in all) and return the last arguments. */
  async invoked(cmd, count = 1) {
    await this.page.waitForFunction(
      ([c, n]) => window.__rundeMock.commands().filter((x) => x === c).length >= n,
      [cmd, count],
    );
    const calls = await this.calls();
    return calls.filter((c) => c.cmd === cmd).at(-1).args;
  }

  /** Events from the engine on the call's channel (or the device check's). */
  async callEvents(...events) {
    await this.page.evaluate((e) => window.__rundeMock.callEvents(e), events);
  }

  async checkEvents(...events) {
    await this.page.evaluate((e) => window.__rundeMock.checkEvents(e), events);
  }

  /** Replace the answers to `cmd` from now on. */
  async answer(cmd, ...outcomes) {
    await this.page.evaluate(([c, o]) => window.__rundeMock.setAnswers(c, o), [cmd, outcomes]);
  }

  async shot(name) {
    // From the top, so the sticky indicator bar is where a person sees it.
    await this.page.evaluate(() => window.scrollTo(0, 0));
    await this.page.screenshot({ path: join(this.t.env.outDir, `${name}.png`), fullPage: true });
  }

  /**
   * A screen state: axe-core over the whole page (all violations printed; serious and critical
   * ones fail), and a screenshot. With `focus`, also the Tab tour (focus.mjs).
   */
  async check(name, { focus = false } = {}) {
    await this.shot(name);
    await this.axe(name);
    if (focus) await this.focus(name);
  }

  async axe(name) {
    const loaded = await this.page.evaluate(() => typeof window.axe !== "undefined");
    if (!loaded) await this.page.evaluate(AXE_SOURCE);
    const violations = await this.page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ["violations"] });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(" "), why: n.failureSummary ?? "" })),
      }));
    });
    const failing = violations.filter((v) => FAILING_IMPACTS.has(v.impact));
    for (const v of violations) {
      this.t.log(`    axe ${v.impact} ${v.id} on "${name}": ${v.help}`);
      for (const n of v.nodes.slice(0, 5)) this.t.log(`      ${n.target}: ${n.why.replace(/\s+/g, " ")}`);
    }
    this.t.violations.push(...violations.map((v) => ({ screen: name, ...v })));
    if (failing.length) {
      throw new Error(`axe-core: ${failing.length} serious or critical violation(s) on "${name}": ${failing.map((v) => v.id).join(", ")}`);
    }
  }

  async focus(name) {
    const tour = await focusTour(this.page);
    const problems = [
      ...tour.missed.map((m) => `not reachable by Tab: ${m}`),
      ...tour.weak.map((w) => `no visible focus indicator: ${w}`),
    ];
    if (problems.length) throw new Error(`keyboard on "${name}":\n      ${problems.join("\n      ")}`);
    if (tour.reached.length === 0) throw new Error(`keyboard on "${name}": Tab reached nothing`);
  }
}

/** Run one test in its own windows; its lines are printed together when it is done. */
async function runOne(env, { name, fn }) {
  const lines = [];
  const started = Date.now();
  const t = new TestContext(env, (line) => lines.push(line));
  let error = null;
  let timer;
  try {
    const running = fn(t);
    // After a timeout the test still runs on until its windows close under it; that ending is
    // not another failure.
    running.catch(() => {});
    await Promise.race([
      running,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS / 1000} s`)), TEST_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  const problems = await t.finish(error === null ? null : name.replace(/[^\w-]+/g, "-"));
  const took = ((Date.now() - started) / 1000).toFixed(1);
  const ok = error === null && problems.length === 0;
  lines.push(`  ${ok ? "ok  " : "FAIL"} ${name} (${took} s)`);
  if (error) {
    const where = String(error.stack ?? "").split("\n").filter((l) => l.includes("/screens/")).slice(0, 3);
    lines.push(`      ${[String(error.message ?? error), ...where.map((l) => l.trim())].join("\n      ")}`);
  }
  for (const p of problems) lines.push(`      ${p}`);
  console.log(lines.join("\n"));
  return { ok, violations: t.violations };
}

/**
 * Run every registered test (or those whose name contains `only`), `jobs` at a time, each in
 * its own browser contexts.
 * @returns {Promise<{ passed: number, failed: number, violations: object[] }>}
 */
export async function runAll(env, only, jobs) {
  const queue = registered.filter((r) => !only || r.name.includes(only));
  const outcome = { passed: 0, failed: 0, violations: [] };
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { ok, violations } = await runOne(env, next);
      if (ok) outcome.passed += 1;
      else outcome.failed += 1;
      outcome.violations.push(...violations);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return outcome;
}
