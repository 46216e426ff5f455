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


def _widest(con: Console, cells: Sequence[RenderableType]) -> int:
    from rich.measure import Measurement

    options = con.options.update_width(BIG)
    return max((Measurement.get(con, options, c).maximum for c in cells), default=1)


def _longest_word(text: Any) -> int:
    from rich.cells import cell_len

    plain = text.plain if hasattr(text, "plain") else str(text or "")
    return max((cell_len(w) for w in plain.split()), default=0)


def _build(
    con: Console, columns: Sequence[Column], rows: Sequence[Sequence[RenderableType]], keep: list[int], **options: Any
) -> Table:
    from rich.table import Table

    # a title or caption wraps at the table's width: no narrower than its longest word (a run id)
    floor = max(_longest_word(options.get("title")), _longest_word(options.get("caption")))
    table = Table(min_width=floor or None, **options)
    for i in keep:
        col = columns[i]
        whole = col.id or col.no_wrap
        table.add_column(
            col.header,
            justify=col.justify,
            style=col.style,
            no_wrap=whole,
            # as wide as its widest cell (header included): rich then never narrows it below that
            min_width=_widest(con, [col.header, *(r[i] for r in rows)]) if whole else None,
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
    width = con.width if room is None else room
    keep = list(range(len(columns)))
    table = _build(con, columns, rows, keep, **options)
    droppable = sorted((i for i, c in enumerate(columns) if c.drop > 0), key=lambda i: (-columns[i].drop, -i))
    while droppable and min_width(con, table) > width:
        keep.remove(droppable.pop(0))
        table = _build(con, columns, rows, keep, **options)
    return table


def print_whole(con: Console, renderable: RenderableType, need: int | None = None) -> None:
    """Print `renderable`, laid out wider than the console when what it may not cut needs it
    (`need`, default: its measured minimum): the long lines are written whole, not cropped."""
    from rich.segment import Segments

    need = min_width(con, renderable) if need is None else need
    if need <= con.width:
        con.print(renderable)
    else:
        con.print(Segments(con.render(renderable, con.options.update_width(need))), crop=False)
