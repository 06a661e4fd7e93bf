"""The translator's tool: the messages of the code into the catalogs, and the catalogs into
what the package reads.

    python -m kpstask.i18n.catalog extract   # kpstask.pot from the code; every .po merged with it
    python -m kpstask.i18n.catalog compile   # each .po into its .mo (committed, shipped in the wheel)
    python -m kpstask.i18n.catalog check     # what is missing, untranslated or stale (tests run it)

A message is what the code passes to `_`, `N_` or `ngettext`, and the docstring of a command
(typer shows it as the command's help). Plain Python (ast, struct): no gettext tools needed;
the files are standard gettext ones, so Poedit, msgfmt or Babel read them as well.
"""

from __future__ import annotations

import ast
import inspect
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from kpstask.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

LOCALES = Path(LOCALE_DIR)
PACKAGE = LOCALES.parent.parent
TEMPLATE = LOCALES / f"{DOMAIN}.pot"
HEADER = (
    "Project-Id-Version: kpstask\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 8bit\n"
)
PLURALS = {"zh": "nplurals=1; plural=0;"}
_FIELD_RE = re.compile(r"\{[A-Za-z_0-9]*(?::[^{}]*)?\}")


class Message(NamedTuple):
    msgid: str
    plural: str | None
    where: tuple[str, ...]


# -- extraction -------------------------------------------------------------------------


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _found(tree: ast.AST) -> Iterator[tuple[str, str | None, int]]:
    """(msgid, plural, line) of every message in one module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            first = _text(node.args[0])
            if node.func.id in ("_", "N_") and first is not None:
                yield first, None, node.lineno
            elif node.func.id == "ngettext" and first is not None and len(node.args) > 1:
                yield first, _text(node.args[1]), node.lineno
        elif isinstance(node, ast.FunctionDef) and _is_command(node):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield doc, None, node.lineno


def _is_command(node: ast.FunctionDef) -> bool:
    """Decorated `@app.command(...)` or `@app.callback(...)`: typer shows its docstring."""
    return any(
        isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr in ("command", "callback")
        for dec in node.decorator_list
    )


def extract(package: Path = PACKAGE) -> list[Message]:
    """Every message of the package, once, in the order the files and lines have them."""
    found: dict[str, Message] = {}
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package.parent).as_posix()
        for msgid, plural, line in _found(ast.parse(path.read_text(encoding="utf-8"))):
            if msgid not in found:
                found[msgid] = Message(msgid, plural, ())
            found[msgid] = found[msgid]._replace(where=(*found[msgid].where, f"{where}:{line}"))
    return list(found.values())


# -- .po files ---------------------------------------------------------------------------


def quoted(text: str) -> str:
    """A PO string: `"..."`, a long or multi-line text over several lines after `""`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    pieces = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if len(pieces) <= 1:
        return f'"{pieces[0] if pieces else ""}"'
    return '""\n' + "\n".join(f'"{piece}"' for piece in pieces)


def _unquoted(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def read_po(path: Path) -> dict[str, list[str]]:
    """msgid -> its translations (one, or one per plural form), the header under ""."""
    entries: dict[str, list[str]] = {}
    fields: dict[str, str] = {}
    key = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith('"'):
            fields[key] += _unquoted(line)
        elif line.startswith(("msgid", "msgstr")):
            key, _, rest = line.partition(" ")
            fields[key] = _unquoted(rest)
        elif not line.strip() and "msgid" in fields:
            forms = [fields[k] for k in sorted(fields) if k.startswith("msgstr")]
            entries[fields["msgid"]] = forms
            fields = {}
    return entries


def write_po(path: Path, messages: list[Message], translated: dict[str, list[str]], lang: str | None) -> None:
    """`messages` as a catalog (a template when `lang` is None), with what is translated."""
    header = HEADER + (f"Language: {LANGUAGES[lang]}\nPlural-Forms: {PLURALS[lang]}\n" if lang else "")
    out = [f"msgid {quoted('')}\nmsgstr {quoted(header)}\n"]
    for message in messages:
        refs = "".join(f"#: {where}\n" for where in message.where)
        forms = translated.get(message.msgid) or ([""] if message.plural is None else ["", ""])
        if lang and message.plural is not None:
            forms = forms[:1] if PLURALS[lang].startswith("nplurals=1") else forms
        text = f"{refs}msgid {quoted(message.msgid)}\n"
        if message.plural is None:
            text += f"msgstr {quoted(forms[0])}\n"
        else:
            text += f"msgid_plural {quoted(message.plural)}\n"
            text += "".join(f"msgstr[{i}] {quoted(form)}\n" for i, form in enumerate(forms))
        out.append(text)
    path.write_text("\n".join(out), encoding="utf-8")


def po_path(lang: str) -> Path:
    return LOCALES / str(LANGUAGES[lang]) / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogs() -> list[str]:
    return [lang for lang, folder in LANGUAGES.items() if folder]


# -- .mo files ---------------------------------------------------------------------------


def mo_bytes(entries: dict[str, list[str]], plurals: dict[str, str]) -> bytes:
    """The GNU .mo file of these translations (the untranslated left out, as msgfmt does)."""
    pairs = sorted(
        ((msgid if msgid not in plurals else f"{msgid}\0{plurals[msgid]}").encode(), "\0".join(forms).encode())
        for msgid, forms in entries.items()
        if all(forms) or msgid == ""
    )
    start = 7 * 4 + 16 * len(pairs)
    originals: list[tuple[int, int]] = []
    translations: list[tuple[int, int]] = []
    blob = b""
    for index in (0, 1):
        for pair in pairs:
            (originals if index == 0 else translations).append((len(pair[index]), start + len(blob)))
            blob += pair[index] + b"\0"
    table = b"".join(struct.pack("<II", *item) for item in originals + translations)
    head = struct.pack("<7I", 0x950412DE, 0, len(pairs), 28, 28 + 8 * len(pairs), 0, start)
    return head + table + blob


def compiled(lang: str) -> bytes:
    path = po_path(lang)
    plurals = {m.msgid: m.plural for m in extract() if m.plural is not None}
    return mo_bytes(read_po(path), plurals)


# -- the commands ------------------------------------------------------------------------


def run_extract() -> None:
    messages = extract()
    write_po(TEMPLATE, messages, {}, None)
    for lang in catalogs():
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_po(path, messages, read_po(path) if path.exists() else {}, lang)


def run_compile() -> None:
    for lang in catalogs():
        po_path(lang).with_suffix(".mo").write_bytes(compiled(lang))


def problems(lang: str) -> list[str]:
    """What is wrong with one catalog: a message of the code it lacks or leaves untranslated,
    a translation that drops or adds a `{field}`, a .mo older than its .po."""
    path = po_path(lang)
    entries = read_po(path)
    found: list[str] = []
    for message in extract():
        forms = entries.get(message.msgid)
        if forms is None:
            found.append(f"not in {path.name} (run extract): {message.msgid!r}")
        elif not all(forms):
            found.append(f"not translated: {message.msgid!r}")
        elif any(sorted(_FIELD_RE.findall(form)) != sorted(_FIELD_RE.findall(message.msgid)) for form in forms):
            found.append(f"fields differ: {message.msgid!r}")
    stale = {msgid for msgid in entries if msgid} - {message.msgid for message in extract()}
    found += [f"no longer in the code (run extract): {msgid!r}" for msgid in sorted(stale)]
    mo = path.with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(lang):
        found.append(f"{mo.name} is stale against {path.name} (run compile)")
    return found


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "extract":
        run_extract()
    elif command == "compile":
        run_compile()
    elif command == "check":
        found = [f"{lang}: {problem}" for lang in catalogs() for problem in problems(lang)]
        print("\n".join(found) or "ok")
        return 1 if found else 0
    else:
        print(inspect.getdoc(sys.modules[__name__]))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
