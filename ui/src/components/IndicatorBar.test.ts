import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import IndicatorBar from "./IndicatorBar.svelte";
import { i18n } from "../lib/i18n.svelte";

beforeEach(() => (i18n.lang = "en"));
afterEach(cleanup);

describe("IndicatorBar", () => {
  it("before the engine said anything, claims nothing", () => {
    render(IndicatorBar, { indicators: null });
    expect(screen.getByTestId("indicator-recording").dataset.state).toBe("notAnnounced");
    expect(screen.getByTestId("indicator-encryption").dataset.state).toBe("transportOnly");
    expect(screen.getByTestId("indicator-operator").textContent).toContain("unknown");
  });

  it("shows each state and explains it on request", async () => {
    render(IndicatorBar, {
      indicators: {
        recording: { state: "roomSetToRecord", reason: "roomRecordFlagOn" },
        encryption: { state: "transportOnly", reason: "serverDecryptsMedia", notProven: [] },
        operator: { source: "declaredByAdmin", name: "Beratung Nord e.V." },
      },
    });
    expect(screen.getByTestId("indicator-recording").textContent).toContain("Room records");
    expect(screen.getByTestId("indicator-operator").textContent).toContain("Beratung Nord e.V.");
    await fireEvent.click(screen.getByTestId("indicator-recording").querySelector("button")!);
    expect(screen.getByTestId("explain-recording").textContent).toContain("Assume you are recorded");
    await fireEvent.click(screen.getByTestId("indicator-encryption").querySelector("button")!);
    expect(screen.queryByTestId("explain-recording")).toBeNull();
    expect(screen.getByTestId("explain-encryption").textContent).toContain("could see and hear");
    await fireEvent.click(screen.getByTestId("indicator-operator").querySelector("button")!);
    expect(screen.getByTestId("explain-operator").textContent).toContain("administrator");
  });

  it("speaks German", () => {
    i18n.lang = "de";
    render(IndicatorBar, { indicators: null });
    expect(screen.getByTestId("indicator-recording").textContent).toContain("Nicht angekündigt");
  });
});
