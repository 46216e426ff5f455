"""Tables that survive an 80-column terminal and a CI log: every id whole on one line.

An id (run id, CallSid, case id) cut to `CA3f…` or folded over two lines cannot be pasted
into the next command, so id columns are never wrapped nor cut. When a table does not fit
the width, its optional columns are dropped, least useful first, rather than squeezed; when
even its essential columns do not fit, its lines are left longer than the console (a terminal
wraps them on screen, a log keeps them whole) rather than cutting an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod, RenderableType
    from rich.table import Table

BIG = 100_000  # a width no table reaches: its natural size, unclamped by the console


@dataclass(frozen=True)
class Column:
    """One column. `drop` 0 is always shown; a column with a higher `drop` is dropped first
    when the table does not fit. An `id` column shows each cell whole on one line."""

    header: str
    drop: int = 0
    id: bool = False
    no_wrap: bool = False  # a short value (a time, a percentage) kept on one line, as an id is
    justify: JustifyMethod = "left"
    style: str = ""


def min_width(con: Console, renderable: RenderableType) -> int:
    """The narrowest width `renderable` lays out in without cutting what may not be cut."""
    from rich.measure import Measurement

    return Measurement.get(con, con.options.update_width(BIG), renderable).minimum


def _narrowest(con: Console, col: Column, cells: Sequence[RenderableType]) -> int:
    """How narrow a column can get: its widest cell when it may not wrap, else its longest word."""
    from rich.measure import Measurement

    options = con.options.update_width(BIG)
    whole = col.id or col.no_wrap
    sizes = (Measurement.get(con, options, c) for c in (col.header, *cells))
    return max((m.maximum if whole else m.minimum) for m in sizes)


def _longest_word(text: Any) -> int:
    from rich.cells import cell_len

    plain = text.plain if hasattr(text, "plain") else str(text or "")
    return max((cell_len(w) for w in plain.split()), default=0)


def _table(
    columns: Sequence[Column],
    narrowest: Sequence[int],
    keep: list[int],
    rows: Sequence[Sequence[RenderableType]],
    options: dict[str, Any],
) -> Table:
    from rich.table import Table

    # a title or caption wraps at the table's width: no narrower than its longest word (a run id)
    floor = max(_longest_word(options.get("title")), _longest_word(options.get("caption")))
    table = Table(min_width=floor or None, **options)
    for i in keep:
        col = columns[i]
        whole = col.id or col.no_wrap
        # a column that may not wrap is as wide as its widest cell: rich never narrows it below that
        table.add_column(
            col.header, justify=col.justify, style=col.style, no_wrap=whole, min_width=narrowest[i] if whole else None
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def fitted_table(
    con: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[RenderableType]],
    *,
    room: int | None = None,
    **options: Any,
) -> Table:
    """A rich Table of `rows` that fits `room` (default: the console's width) by dropping optional
    columns, highest `drop` first; `options` go to rich's Table (title, box...). When even the
    essential columns need more, it still has them all: `print_whole` prints it wider."""
    from rich.measure import Measurement

    width = con.width if room is None else room
    # each cell is measured once; a candidate layout is then measured on a table without rows
    # whose columns are as narrow as those cells allow (padding and borders counted by rich)
    narrowest = [_narrowest(con, col, [r[i] for r in rows]) for i, col in enumerate(columns)]

    def need(keep: list[int]) -> int:
        probe = _table(columns, narrowest, keep, [], options)
        for i, column in zip(keep, probe.columns, strict=True):
            column.min_width = narrowest[i]
        return Measurement.get(con, con.options.update_width(BIG), probe).minimum

    keep = list(range(len(columns)))
    droppable = sorted((i for i, c in enumerate(columns) if c.drop > 0), key=lambda i: (-columns[i].drop, -i))
    while droppable and need(keep) > width:
        keep.remove(droppable.pop(0))
    return _table(columns, narrowest, keep, rows, options)


def print_whole(con: Console, renderable: RenderableType, need: int | None = None) -> None:
    """Print `renderable`, laid out wider than the console when what it may not cut needs it
    (`need`, default: its measured minimum): the long lines are written whole, not cropped."""
    from rich.segment import Segments

    need = min_width(con, renderable) if need is None else need
    if need <= con.width:
        con.print(renderable)
    else:
        con.print(Segments(con.render(renderable, con.options.update_width(need))), crop=False)
