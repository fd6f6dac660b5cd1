import { describe, expect, it } from "vitest";
import { format, i18n, systemLang } from "./i18n.svelte";

describe("language choice", () => {
  it("follows the first German or English system language", () => {
    expect(systemLang(["de-AT", "en-US"])).toBe("de");
    expect(systemLang(["fr-FR", "en-GB", "de"])).toBe("en");
    expect(systemLang(["DE"])).toBe("de");
    expect(systemLang(["fr-FR"])).toBe("en");
    expect(systemLang([])).toBe("en");
  });

  it("switches every message at once", () => {
    i18n.lang = "de";
    expect(i18n.t("home.check")).toBe("Link prüfen");
    expect(document.documentElement.lang).toBe("de");
    i18n.lang = "en";
    expect(i18n.t("home.check")).toBe("Check link");
  });
});

describe("format", () => {
  it("fills placeholders and keeps unknown ones visible", () => {
    expect(format("a {x} b {y}", { x: "1" })).toBe("a 1 b {y}");
  });
});
