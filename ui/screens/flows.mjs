// Steps several screen tests share, done the way a person does them.
import { LINK, indicators, people } from "./fixtures.mjs";

/** Paste the link and check it; resolves when the report (or an error) is shown. */
export async function checkLink(app, link = LINK) {
  await app.id("link-input").fill(link);
  await app.id("check-link").click();
  await app.page.locator('[data-testid="link-report"], [data-testid="link-error"]').first().waitFor();
}

/** From the first screen into a call with `people` (video from the first three), as the engine tells it. */
export async function joinCall(app, { microphone = true, camera = true } = {}) {
  await checkLink(app);
  await app.id("name-input").fill("Ada");
  if (microphone) await app.id("use-microphone").check();
  if (camera) await app.id("use-camera").check();
  await app.id("join").click();
  await app.id("call").waitFor();
  await app.callEvents(
    { event: "joined", me: "1", participants: people },
    { event: "connection", state: "connected" },
    { event: "indicators", indicators, recordingChange: null },
    ...people.slice(0, 3).flatMap((p) => [
      { event: "trackAdded", participant: p.id, kind: "video" },
      { event: "trackAdded", participant: p.id, kind: "audio" },
    ]),
  );
  await app.page.locator('[data-testid="tile"]').nth(people.length - 1).waitFor();
}

/** Wait until every canvas in the tiles has drawn at least one picture from the video socket. */
export async function picturesDrawn(app, count) {
  await app.page.waitForFunction(
    (n) => {
      const canvases = [...document.querySelectorAll(".tiles canvas")];
      return canvases.length === n && canvases.every((c) => (c.drawnFrames ?? 0) > 0);
    },
    count,
  );
}
