"""Go's text/tabwriter as the docker CLI uses it (`tabwriter.NewWriter(w, minwidth, 1, padding, ' ', 0)`):
the one column aligner of every table composer prints (`ps`, `ls`, `top`, `stats`, `volume ls`, templates)."""

from __future__ import annotations

from collections.abc import Sequence


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells like Go's tabwriter.NewWriter(w, minwidth, 1, padding, ' ', 0).

    A column spans the consecutive lines that have a cell in it (a tab-terminated one); its width is the
    widest such cell plus `padding`, at least `minwidth`. Text after a line's last tab is not aligned."""
    cells = [line.split("\t") for line in text.split("\n")]
    width: dict[tuple[int, int], int] = {}

    def blocks(col: int, lo: int, hi: int) -> None:
        row = lo
        while row < hi:
            if col >= len(cells[row]) - 1:
                row += 1
                continue
            start, w = row, minwidth
            while row < hi and col < len(cells[row]) - 1:
                w = max(w, len(cells[row][col]) + padding)
                row += 1
            for r in range(start, row):
                width[r, col] = w
            blocks(col + 1, start, row)

    blocks(0, 0, len(cells))
    return "\n".join(
        "".join(c.ljust(width[r, i]) for i, c in enumerate(line[:-1])) + line[-1] for r, line in enumerate(cells)
    )


def rows_table(rows: Sequence[Sequence[str]], *, minwidth: int = 10, padding: int = 3) -> str:
    """Rows of cells (none holding a tab or a newline) aligned by `tabwrite`, each line ending in a newline."""
    if not rows:
        return ""
    return tabwrite("".join("\t".join(row) + "\n" for row in rows), minwidth=minwidth, padding=padding)


__all__ = ["rows_table", "tabwrite"]
