"""Text that came from outside (a server, a file, argv) made safe to print.

`printable` is the one sanitizer of text a person or a line-based tool reads: the
human tables, TSV, and every line on stderr pass outside strings through it. JSON
output does not — it keeps the server's text as sent and escapes the same characters
its own way (`kpstask.output.machine.json_text`), so the value survives a round trip.
"""

from __future__ import annotations

import re

# Characters that break a line or reorder what a terminal shows; each becomes a space, so the
# text stays on one line (one TSV record a line) and in its own order. As regex class fragments:
# C0 and C1 controls (ESC, CR, tab, newline, NEL ...) and DEL; the line and paragraph
# separators U+2028 and U+2029; the Unicode bidirectional controls (Bidi_Control: U+061C,
# U+200E/F, U+202A-U+202E, U+2066-U+2069).
CONTROLS = r"\x00-\x1f\x7f-\x9f"
LINE_BREAKS = r"\u2028\u2029"
BIDI_CONTROLS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_RE = re.compile(f"[{CONTROLS}{LINE_BREAKS}{BIDI_CONTROLS}]+")

# Characters a terminal draws as nothing at all, so that two strings that differ look alike
# (or a text hides in another: the Unicode tag characters): each is shown escaped, `\u200b`.
# Soft hyphen, combining grapheme joiner, the Hangul fillers, the Khmer inherent vowels, the
# Mongolian vowel separator, zero width space, word joiner and the invisible operators, the
# deprecated format controls, the byte order mark, the interlinear annotation controls, and
# U+E0000-U+E007F. The joiners and variation selectors that emoji and scripts need stay.
INVISIBLE = (
    r"\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u2060-\u2064\u206a-\u206f\u3164"
    r"\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f"
)
# A lone surrogate: JSON may carry one ("\ud800" is a valid escape), UTF-8 cannot; written
# as it is, it would end the whole run with an encoding error and lose every other answer.
SURROGATES = r"\ud800-\udfff"
_ESCAPED_RE = re.compile(f"[{INVISIBLE}{SURROGATES}]")


def printable(text: str) -> str:
    """Control, line-breaking and bidirectional-control characters become spaces; invisible
    characters and lone surrogates are shown escaped (`\\u200b`, `\\ud800`), as JSON writes them."""
    return _ESCAPED_RE.sub(escaped, _UNSAFE_RE.sub(" ", text))


def escaped(match: re.Match[str]) -> str:
    """A matched character as `\\uXXXX`, as JSON writes it (so `json_text` uses it too): one
    beyond the Basic Multilingual Plane as its surrogate pair, `\\udb40\\udc41`."""
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def one_line(text: str, limit: int = 300) -> str:
    """Printable, whitespace collapsed, at most `limit` characters."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# Wide characters (CJK, fullwidth forms) take two terminal cells; a line of Chinese may break
# between any two of them, but not before a closing mark (a comma, a full stop, a bracket)
# nor after an opening one.
_CLOSING = "\uff0c\u3002\u3001\uff1b\uff1a\uff01\uff1f\uff09\u300b\u300d\u300f\u3011\u3015,.;:!?)"
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_OPENING = "\uff08\u300a\u300c\u300e\u3010\u3014\u201c("
_PIECE_RE = re.compile(rf"\s+|[{_OPENING}]*(?:[{_WIDE}]|[^\s{_WIDE}]+)[{_CLOSING}]*")


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: two for a wide (East Asian) character, none for a combining one."""
    if text.isascii():
        return len(text)
    import unicodedata  # built in: only for text that is not ASCII

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cell_ljust(text: str, width: int) -> str:
    """`text` padded with spaces to `width` cells."""
    return text + " " * max(0, width - cell_width(text))


def wrap_cells(text: str, width: int, first: str = "", later: str = "") -> list[str]:
    """`text` in lines of at most `width` cells, the first starting with `first`, the others
    with `later`: broken at spaces and between wide characters; a longer word (an id, a URL)
    is never split, it overflows."""
    lines, used = [first], cell_width(first)  # the width of the last line, kept as it grows
    for piece in _PIECE_RE.findall(text):
        if piece.isspace():
            if lines[-1].strip():
                lines[-1], used = lines[-1] + " ", used + 1
            continue
        size = cell_width(piece)
        if lines[-1].strip() and used + size > width and lines[-1] not in (first, later):
            lines[-1] = lines[-1].rstrip(" ")
            lines.append(later)
            used = cell_width(later)
        lines[-1], used = lines[-1] + piece, used + size
    return [line.rstrip(" ") for line in lines]
