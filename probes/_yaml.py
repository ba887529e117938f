"""Reading a YAML file that a person (or a hostile-input corpus) wrote: bounded, plain and line-marked.

``yaml.safe_load`` is the wrong default for scenario files and target
profiles: it reads any size, nests until Python's stack overflows, expands
an alias bomb ("billion laughs") into gigabytes once the data is walked,
keeps the last of two equal keys without a word, turns ``2026-03-02`` into
a ``date`` that no JSON body can carry, and forgets where each value was
written. :func:`load_yaml_file` reads with a :class:`~yaml.SafeLoader`
subclass (no global patching) that refuses each of those with the line it
found them on, and keeps the node tree so a validation error found later
can name its line too (:meth:`YamlDocument.line_of`). :func:`plain_problem`
checks already-parsed data (YAML or a Python dict) for what JSON cannot hold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ._printable import clip

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "YamlDocument", "YamlProblem", "field_path", "first_problem",
           "load_yaml_file", "parse_field_path", "plain_problem"]

MAX_FILE_BYTES = 1024 * 1024  # the catalogue's largest file is 2 KB; a scenario or profile is written by hand
MAX_DEPTH = 64  # nesting levels; a scenario needs about six
MAX_NODES = 100_000  # values after expanding aliases: an alias bomb stops here, long before it costs memory

Loc = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NOT_JSON: dict[type, str] = {bytes: "binary data (!!binary)", set: "a set (!!set)", tuple: "an ordered pair (!!omap, !!pairs)"}
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([A-Za-z_][\w-]*)")


class YamlProblem(ValueError):
    """The file cannot be read as a bounded, plain YAML document; ``line`` is 1-based (None: not known)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts what it composes: depth, expanded size, duplicate keys; dates stay text.

    YAML 1.1's timestamp type is not JSON (YAML 1.2's core schema dropped it
    as well), so ``date: 2026-03-02`` is the string the author wrote.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._total = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise YamlProblem("an alias refers to the value that contains it", line=mark.line + 1)
            self._count(size, mark)
            return node
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", line=mark.line + 1)
        before = self._total
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._count(1, mark)
        self._sizes[id(node)] = self._total - before
        return node

    def _count(self, size: int, mark: Any) -> None:
        self._total += size
        if self._total > MAX_NODES:
            raise YamlProblem(f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?)", line=mark.line + 1)

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                if key.value in seen:
                    raise YamlProblem(f"key {clip(key.value, 60)!r} appears twice in one mapping", line=key.start_mark.line + 1)
                seen.add(key.value)
        return node


def _as_text(loader: yaml.SafeLoader, node: ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)


@dataclass(frozen=True)
class YamlDocument:
    """One document's plain data and its node tree (for line numbers)."""

    data: Any
    root: Node | None

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The 1-based line where the value at ``loc`` (or its nearest written parent) is written."""
        node, line = self.root, (self.root.start_mark.line + 1 if self.root is not None else None)
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            line, node = found
        return line


def _child(node: Node | None, part: str | int) -> tuple[int, Node] | None:
    """(line of the key or item, the value node) of ``part`` under ``node``."""
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key, value in reversed(node.value):  # the last of merged keys wins, as in the data
            if isinstance(key, ScalarNode) and key.value == part:
                return key.start_mark.line + 1, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None


def load_yaml_file(path: str | Path) -> YamlDocument:
    """Read ``path`` as one bounded YAML document; :class:`YamlProblem` (with a line when known) otherwise.

    ``OSError`` passes through for the caller to word (missing file, folder).
    """
    with open(path, "rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise YamlProblem(f"the file is larger than {MAX_FILE_BYTES:,} bytes; a scenario or profile is a few KB of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlProblem(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8", line=line) from None
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character YAML does not allow in a document
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlProblem(f"not valid YAML: the control character U+{code:04X} is not allowed in YAML", line=line) from None
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = clip(str(exc.problem or exc.context or "unreadable"), 160)
        if exc.problem and exc.context and exc.context_mark:  # "while parsing a flow sequence": where it began
            problem += f" ({str(exc.context).removeprefix('while parsing ')} from line {exc.context_mark.line + 1})"
        raise YamlProblem(f"not valid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {clip(str(exc), 160)}") from None
    finally:
        loader.dispose()
    return YamlDocument(data, root)


def plain_problem(data: Any) -> tuple[Loc, str] | None:
    """The first value in ``data`` that JSON cannot carry, as (where, why); None when all are plain.

    Plain means: mappings with string keys, lists, strings, booleans, None,
    integers and finite floats, at most :data:`MAX_DEPTH` deep and
    :data:`MAX_NODES` values in all. Walked without recursion.
    """
    count = 0
    for loc, value in _walk(data):
        count += 1
        if count > MAX_NODES:
            return loc, f"more than {MAX_NODES:,} values"
        if len(loc) > MAX_DEPTH:
            return loc, f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, float) and not math.isfinite(value):
            return loc, f"{value} is not a finite number"
        if isinstance(value, dict):
            bad = next((k for k in value if not isinstance(k, str)), None)
            if bad is not None:  # YAML 1.1 reads on/off/yes/no as booleans, 200 as a number
                return loc, f"key {clip(repr(bad), 40)} is not a string (quote it)"
        elif not isinstance(value, list | str | int | float | bool | type(None)):
            kind = _NOT_JSON.get(type(value), f"a {type(value).__name__}")
            return loc, f"{kind} is not a JSON value (write it as a string, a number, a list or a mapping)"
    return None


def _walk(data: Any) -> Iterator[tuple[Loc, Any]]:
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        yield loc, value
        if isinstance(value, dict):
            stack.extend(((*loc, k), v) for k, v in reversed(list(value.items())) if isinstance(k, str))
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(value))))


def field_path(loc: Sequence[str | int]) -> str:
    """``steps[0].args.date`` for ``("steps", 0, "args", "date")``; ``(top level)`` for ``()``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_field_path(text: str) -> Loc | None:
    """The inverse of :func:`field_path` for a message that begins with one (``steps[1].args_from.start: …``)."""
    head = text.split(": ", 1)[0]
    if not head or " " in head:
        return None
    parts: list[str | int] = []
    pos = 0
    for match in _PATH_PART.finditer(head):
        if match.start() != pos:
            return None
        parts.append(int(match.group(1)) if match.group(1) is not None else match.group(2))
        pos = match.end()
    return tuple(parts) if pos == len(head) and parts else None


def first_problem(exc: ValidationError) -> tuple[Loc, str]:
    """Where pydantic's first error is and what it says, quoting at most 80 characters of the value.

    A model validator cannot set the error's location, so one that names a
    field at the start of its message (``args_from.start: …``) points there.
    """
    first = exc.errors()[0]
    loc = tuple(first.get("loc", ()))
    message = str(first["msg"]).removeprefix("Value error, ")
    named = parse_field_path(message)
    if named is not None:
        loc, message = _join(loc, named), message.split(": ", 1)[1]
    got = first.get("input")
    quoted = clip(repr(got), 80)
    shown = "" if isinstance(got, dict | list) or named is not None or quoted in message else f"; got {quoted}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return loc, f"{message}{shown}{more}"


def _join(loc: Loc, named: Loc) -> Loc:
    """``named`` under ``loc``; a message that names its field from further up (``paths.function`` in ``paths``) overlaps."""
    for k in range(min(len(loc), len(named)), 0, -1):
        if loc[-k:] == named[:k]:
            return loc + named[k:]
    return loc + named
