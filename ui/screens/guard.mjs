// The harness's own promises, tested: a request off 127.0.0.1 is refused and noticed, and a
// serious accessibility problem fails the scan. Without these a broken guard would pass quietly.
import assert from "node:assert/strict";
import { test } from "./harness.mjs";

test("guard: a request off 127.0.0.1 is refused and reported", async (t) => {
  const app = await t.open();
  const logged = app.page.waitForEvent("console", (m) => m.type() === "error" && m.text().includes("ERR_BLOCKED_BY_CLIENT"));
  const outcome = await app.page.evaluate(async () => {
    try {
      await fetch("http://runde-screen-tests.invalid/");
      return "answered";
    } catch {
      return "refused";
    }
  });
  assert.equal(outcome, "refused");
  await logged;
  assert.deepEqual(app.offLoopback, ["http://runde-screen-tests.invalid/"]);
  // Seen and judged here; the harness would otherwise fail this test for it.
  app.offLoopback.length = 0;
  app.problems.length = 0;
});

test("guard: axe-core fails a screen with a serious violation", async (t) => {
  const app = await t.open();
  await app.page.evaluate(() => {
    const button = document.createElement("button");
    button.type = "button";
    document.querySelector("main")?.append(button);
  });
  await assert.rejects(app.axe("guard-unnamed-button"), /button-name/);
  t.violations.length = 0;
});
