import { describe, expect, it } from "vitest";
import { catalogs, en, type MessageKey } from "./messages";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("message catalogs", () => {
  const keys = Object.keys(en) as MessageKey[];

  it.each(Object.entries(catalogs))("%s has every key, none empty", (_lang, catalog) => {
    expect(Object.keys(catalog).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(catalog[key].trim(), key).not.toBe("");
  });

  it("uses the same placeholders in every language", () => {
    for (const key of keys) {
      expect(placeholders(catalogs.de[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it("German is really translated, not copied", () => {
    const same = keys.filter((k) => catalogs.de[k] === en[k] && !k.endsWith("Placeholder"));
    expect(same.sort()).toEqual(["report.server", "review.server"]);
  });
});
