"""A DataTable that redraws only the cells that changed. Textual's `update_cell` repaints the
whole table, which sends every line of it to the terminal again; over SSH a price tick should
cost the few cells it moved (mark, PnL, distance), not the table."""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable

Cells = tuple[object, ...]  # one row's cells: str or rich Text


def _width(cell: object) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else str(cell))


def column_widths(labels: Sequence[object], rows: Sequence[tuple[str, Cells]]) -> tuple[int, ...]:
    """Returns each column's content width in cells: the widest of its label and its cells."""
    return tuple(max([_width(label), *(_width(cells[i]) for _, cells in rows)]) for i, label in enumerate(labels))


def table_width(labels: Sequence[object], rows: Sequence[tuple[str, Cells]], padding: int = 1) -> int:
    """Returns the width in cells a table of `rows` ((key, cells) pairs) under `labels` takes,
    with `padding` cells each side of every column, as DataTable lays it out."""
    return sum(column_widths(labels, rows)) + 2 * padding * len(labels)


def _plain(cell: object) -> object:
    # Text compares by text and spans, not its own style; the callers keep style a function of
    # the text and the theme, and compare the theme themselves.
    return cell.plain if isinstance(cell, Text) else cell


class CellTable(DataTable):
    """`show_rows` puts rows on screen: changed cells only while the same rows are shown and
    every column keeps its width, otherwise a rebuild (so widths follow what is shown now)."""

    _cells_only = False  # while True, update_cell's whole-table refresh is left out

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._labels: tuple[object, ...] = ()
        self._rows: tuple[tuple[str, Cells], ...] = ()
        self._widths: tuple[int, ...] = ()
        self.rebuilds = 0
        """How many times the table was cleared and refilled (tests count these)."""
        self.cells_patched = 0
        """How many single cells were redrawn in place (tests count these)."""

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if self._cells_only and not regions and not layout and not recompose:
            return self  # patch_cells repaints the cells it wrote, and only those
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def show_rows(self, labels: Sequence[object], rows: Sequence[tuple[str, Cells]]) -> bool:
        """Shows `rows`, each (row key, cells), under the column `labels`. Returns True when the
        table was rebuilt (other rows, or a column's width changed), False when only changed
        cells were redrawn (or nothing changed). The row cursor stays on the same key."""
        labels, rows = tuple(labels), tuple((key, tuple(cells)) for key, cells in rows)
        widths = column_widths(labels, rows)
        same_rows = [key for key, _ in rows] == [key for key, _ in self._rows]
        if labels == self._labels and same_rows and widths == self._widths:
            self._patch(rows)
            return False
        selected = self._key_under_cursor()
        self._labels, self._rows, self._widths = labels, rows, widths
        self.rebuilds += 1
        self.clear(columns=True)
        self.add_columns(*labels)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if selected in keys:
            self.move_cursor(row=keys.index(selected))
        return True

    def _key_under_cursor(self) -> str | None:
        if self.row_count == 0 or self.cursor_type == "none":
            return None
        row_key, _ = self.coordinate_to_cell_key(Coordinate(min(self.cursor_row, self.row_count - 1), 0))
        return row_key.value

    def _patch(self, rows: tuple[tuple[str, Cells], ...]) -> None:
        changed = [
            (row, column, cell)
            for row, ((key, cells), (_, before)) in enumerate(zip(rows, self._rows))
            for column, (cell, old) in enumerate(zip(cells, before))
            if _plain(cell) != _plain(old) or (isinstance(cell, Text) and cell.style != getattr(old, "style", None))
        ]
        self._rows = rows
        self.patch_cells(changed)

    def patch_cells(self, changes: Iterable[tuple[int, int, object]]) -> None:
        """Writes each (row index, column index, value) and repaints, in each row, just the cells
        from its first changed one to its last."""
        changes = list(changes)
        if not changes:
            return
        self._cells_only = True
        try:
            for row, column, value in changes:
                self.update_cell_at(Coordinate(row, column), value)
        finally:
            self._cells_only = False
        # One region per changed row, from its first to its last changed cell: Textual sends a
        # dirty span of a line from the widget's left edge to the span's end, so a region per
        # cell would send the row once per cell, and the whole row would send cells that did
        # not change.
        spans: dict[int, tuple[int, int]] = {}
        for row, column, _ in changes:
            first, last = spans.get(row, (column, column))
            spans[row] = (min(first, column), max(last, column))
        for row, (first, last) in sorted(spans.items()):
            self.refresh(self._cells_region(row, first, last).translate(-self.scroll_offset))
        self.cells_patched += len(changes)

    def _cells_region(self, row: int, first: int, last: int) -> Region:
        # As DataTable.refresh_coordinate finds one cell (these tables have no row labels).
        columns = self.ordered_columns
        x = sum(column.get_render_width(self) for column in columns[:first])
        width = sum(column.get_render_width(self) for column in columns[first:last + 1])
        rows = self.ordered_rows
        y = sum(r.height for r in rows[:row]) + (self.header_height if self.show_header else 0)
        return Region(x, y, width, rows[row].height)
