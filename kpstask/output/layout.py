"""Fitting a table to a terminal's width, for every human table (get, wait, running, failed
and the live display).

A task id, a server id and a status are never wrapped or cut: a reader copies them. When a
row is wider than the terminal, columns give up their room in an order declared with the
table (`Column.order`): words are dropped first; a column marked "line" moves to a line of
its own under the row instead (at 80 columns a server id keeps its line rather than being
dropped). Only text on such a line of its own that is words (`wraps`) may be wrapped, at
spaces. With no width (a pipe) every column stays on the row and nothing is wrapped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple

from kpstask.i18n import N_, _
from kpstask.text import cell_width, wrap_cells

Give = Literal["keep", "drop", "line"]
SEPARATOR = "   "  # rich's box.SIMPLE_HEAD without edges: padding, a blank divider, padding
INDENT = "  "  # a column moved under its row
RULE = "─"


# The label of a column moved under its row, by its heading.
LABELS = {"SERVER": N_("server"), "STATUS": N_("status"), "REASON": N_("reason"), "ERROR": N_("error")}


class Column(NamedTuple):
    name: str
    give: Give = "keep"  # what the column does when the row is too wide
    order: int = 0  # lower gives up its room first
    wraps: bool = False  # words: may be wrapped once on a line of its own

    @property
    def title(self) -> str:
        """The column's heading in the run's language."""
        return _(self.name)

    @property
    def label(self) -> str:
        """How a line of its own is labelled: `server c9aa197b-...`."""
        return _(LABELS.get(self.name, self.name.lower()))


class Plan(NamedTuple):
    inline: tuple[int, ...]  # the columns on the row's line, in table order
    below: tuple[int, ...]  # the columns given a line of their own under the row
    widths: tuple[int, ...]  # the width of each inline column

    def row_width(self) -> int:
        return sum(self.widths) + len(SEPARATOR) * max(0, len(self.widths) - 1)


def plan(columns: Sequence[Column], natural: Sequence[int], width: int | None) -> Plan:
    """Which columns stay on the row, which go under it, at `width` (None: all stay)."""
    inline = list(range(len(columns)))
    below: list[int] = []

    def needed() -> int:
        return sum(natural[i] for i in inline) + len(SEPARATOR) * max(0, len(inline) - 1)

    if width is not None:
        giving = sorted((i for i, c in enumerate(columns) if c.give != "keep"), key=lambda i: columns[i].order)
        for index in giving:
            if needed() <= width or len(inline) == 1:
                break
            inline.remove(index)
            if columns[index].give == "line":
                below.append(index)
    return Plan(tuple(inline), tuple(sorted(below)), tuple(natural[i] for i in inline))


def own_lines(column: Column, text: str, width: int | None) -> Iterator[str]:
    """A moved cell as its lines: `  server ID`; words wrapped to `width`, ids never."""
    if text in ("", "-"):
        return
    head = f"{INDENT}{column.label} "
    if not column.wraps or width is None or cell_width(head + text) <= width:
        yield head + text
        return
    if not (head + text).isascii():  # Chinese breaks between characters too
        yield from wrap_cells(text, width, head, " " * cell_width(head))
        return
    yield from textwrap.wrap(
        text,
        width,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_long_words=False,
        break_on_hyphens=False,
    )


def rule(layout: Plan) -> str:
    return RULE * layout.row_width()
