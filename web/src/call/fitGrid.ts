export interface GridFit {
  columns: number;
  tileWidth: number;
  tileHeight: number;
}

/**
 * The column count that gives `count` tiles of the given aspect ratio the most room in a box of
 * `width` × `height` pixels (the way Meet and Jitsi size their grids).
 */
export function fitGrid(count: number, width: number, height: number, gap = 8, aspect = 16 / 9): GridFit {
  let best: GridFit = { columns: 1, tileWidth: 0, tileHeight: 0 };
  for (let columns = 1; columns <= Math.max(1, count); columns++) {
    const rows = Math.ceil(count / columns);
    const cellWidth = (width - gap * (columns - 1)) / columns;
    const cellHeight = (height - gap * (rows - 1)) / rows;
    const tileWidth = Math.max(0, Math.min(cellWidth, cellHeight * aspect));
    if (tileWidth > best.tileWidth) best = { columns, tileWidth, tileHeight: tileWidth / aspect };
  }
  return {
    columns: best.columns,
    tileWidth: Math.floor(best.tileWidth),
    tileHeight: Math.floor(best.tileHeight),
  };
}

/**
 * A phone held upright: tiles fill the screen, one column for up to three people, then two, each tile
 * cropped to its cell (as Meet does on phones) rather than small 16:9 boxes in one narrow column.
 */
export function fillGrid(count: number, width: number, height: number, gap = 8): GridFit {
  const columns = count <= 3 ? 1 : 2;
  const rows = Math.max(1, Math.ceil(count / columns));
  return {
    columns,
    tileWidth: Math.max(0, Math.floor((width - gap * (columns - 1)) / columns)),
    tileHeight: Math.max(0, Math.floor((height - gap * (rows - 1)) / rows)),
  };
}
