import { describe, expect, it } from "vitest";
import { fitGrid } from "./layout";

const fits = (count: number, width: number, height: number) => {
  const g = fitGrid(count, width, height, 12, 34, 160);
  const rows = Math.ceil(count / g.columns);
  const usedWidth = g.columns * g.tileWidth + (g.columns - 1) * 12;
  const usedHeight = rows * (g.tileWidth * (9 / 16) + 34) + (rows - 1) * 12;
  return { ...g, rows, usedWidth, usedHeight };
};

describe("fitGrid", () => {
  it("puts one tile as large as the area allows, limited by the height", () => {
    const g = fits(1, 1200, 500);
    expect(g.columns).toBe(1);
    expect(g.usedHeight).toBeLessThanOrEqual(500);
    expect(g.tileWidth).toBe(Math.floor(((500 - 34) * 16) / 9));
  });

  it("fits ten tiles without scrolling on a laptop-sized window", () => {
    const g = fits(10, 1240, 560);
    expect(g.usedWidth).toBeLessThanOrEqual(1240);
    expect(g.usedHeight).toBeLessThanOrEqual(560);
    expect(g.columns).toBe(4);
    expect(g.tileWidth).toBeGreaterThan(200);
  });

  it("chooses the column count that gives the largest tiles", () => {
    // Wide and low: two tiles side by side beat two stacked.
    expect(fits(2, 1200, 400).columns).toBe(2);
    // Narrow and tall: stacked.
    expect(fits(2, 400, 900).columns).toBe(1);
  });

  it("keeps a minimum size and lets the area scroll when there are too many", () => {
    const g = fits(40, 800, 300);
    expect(g.tileWidth).toBeLessThanOrEqual(160);
    expect(g.tileWidth).toBeGreaterThan(100);
    expect(g.usedWidth).toBeLessThanOrEqual(800);
  });
});
