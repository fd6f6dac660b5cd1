// The grid that shows every tile at once, as large as the space allows: 16:9 pictures with a
// caption line below each. Pure arithmetic on sizes in CSS pixels; nothing here is a fact about
// the call.

export type Grid = { columns: number; tileWidth: number };

const ASPECT = 9 / 16;

/**
 * The number of columns that makes `count` tiles largest in a `width` × `height` area, and the
 * tile width then. A tile is `tileWidth` wide and `tileWidth × 9/16 + caption` tall; tiles are
 * `gap` apart. When even one column cannot fit every row into the height, tiles keep at least
 * `minWidth` and the area scrolls.
 */
export function fitGrid(count: number, width: number, height: number, gap: number, caption: number, minWidth: number): Grid {
  if (count <= 0 || width <= 0) return { columns: 1, tileWidth: Math.max(minWidth, width) };
  let best: Grid = { columns: 1, tileWidth: 0 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const byWidth = (width - (columns - 1) * gap) / columns;
    const byHeight = ((height - (rows - 1) * gap) / rows - caption) / ASPECT;
    const tileWidth = Math.min(byWidth, byHeight);
    if (tileWidth > best.tileWidth) best = { columns, tileWidth };
  }
  if (best.tileWidth >= minWidth) return { columns: best.columns, tileWidth: Math.floor(best.tileWidth) };
  // Too many to fit: as many columns of the smallest size as the width takes.
  const columns = Math.max(1, Math.min(count, Math.floor((width + gap) / (minWidth + gap))));
  return { columns, tileWidth: Math.floor(Math.min(minWidth, (width - (columns - 1) * gap) / columns)) };
}
