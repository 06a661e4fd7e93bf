"""A small terminal emulator for tests: enough of a VT100 to replay what kpstask writes to a
terminal (text with auto-wrap, CR, LF, cursor up, erase line, colours ignored) and show the
screen a person is left looking at."""

from __future__ import annotations

import re

from kpstask.text import cell_width

_CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b.|[\r\n\x07\x08]|[^\x1b\r\n\x07\x08]+")


class Screen:
    """Lines of a terminal `width` columns wide, with a cursor; scrolled lines are kept."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.col = 0
        self.wrapped: set[int] = set()  # rows the terminal continued from the row above

    def feed(self, data: str) -> Screen:
        for match in _CONTROL.finditer(data):
            text, (arg, final) = match.group(), match.groups()
            if text.startswith("\x1b["):
                self._csi(arg or "", final)
            elif text == "\r":
                self.col = 0
            elif text == "\n":  # a terminal's driver makes it CR LF (ONLCR, on by default)
                self.col = 0
                self._down()
            elif text == "\x08":
                self.col = max(0, self.col - 1)
            elif not text.startswith("\x1b") and text != "\x07":
                for char in text:
                    self._put(char)
        return self

    def _csi(self, arg: str, final: str) -> None:
        count = int(arg) if arg.isdigit() else 1
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "K":
            line = self.lines[self.row]
            if arg == "2":
                line.clear()
            elif arg in ("", "0"):
                del line[self.col :]
        elif final == "G":
            self.col = max(0, count - 1)

    def _down(self) -> None:
        self.row += 1
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _put(self, char: str) -> None:
        cells = cell_width(char)  # a Chinese character takes two columns
        if self.col + cells > self.width:  # auto-wrap: the terminal, not the program, breaks the line
            self.col = 0
            self._down()
            self.wrapped.add(self.row)
        line = self.lines[self.row]
        while len(line) < self.col + cells:
            line.append(" ")
        line[self.col] = char
        if cells == 2:
            line[self.col + 1] = ""  # the right half of a wide character: no text of its own
        self.col += cells

    def text(self) -> list[str]:
        """The screen's lines, trailing blanks dropped."""
        shown = ["".join(line).rstrip() for line in self.lines]
        while shown and not shown[-1]:
            shown.pop()
        return shown
