"""The one ``key=value`` tokenizer of the project (FortiGate and Sophos lines).

A line is a sequence of ``key=value`` pairs separated by white space. A value is either bare (no white
space, no double quote) or double-quoted; inside quotes a backslash escapes the next character
(``\\"`` is a quote, ``\\\\`` a backslash). The whole line must be such a sequence: a line that is not
(an unterminated quote, text that is no pair) is rejected, so nothing is ever read from inside a quoted
value — ``ua="x tz=+0100 devid=EVIL"`` is one value of ``ua``.

Duplicate keys: **the first occurrence wins, for every key**; later occurrences are ignored (their count
is returned, so callers may report them). Header fields (date, time, devid, type, subtype, …) come first
in every vendor's layout, so a value that manages to repeat a key later on can change nothing that
decides the unit, the time or the classification.
"""

import re

from alert_pipeline.decoders.base import DecodeError

MAX_PAIRS = 512

_KEY = r"[A-Za-z_][A-Za-z0-9_-]*+"
_VALUE = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[^\s"]*+'
# One scan: a pair followed by white space or the end, or else a run of anything else (which makes
# the line invalid: it has no key, so it shows up as the key ""). Possessive quantifiers: no
# backtracking, linear in the length of the line whatever it holds.
_TOKENS = re.compile(rf"({_KEY})=({_VALUE})(?=\s|\Z)|\S++", re.DOTALL)
_PAIRS = re.compile(rf"({_KEY})=({_VALUE})", re.DOTALL)
_OPEN_QUOTE = re.compile(rf'{_KEY}="')
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def tokenize(line: str) -> tuple[dict[str, str], int]:
    """The pairs of a ``key=value`` line (quotes removed, escapes resolved) and the duplicates ignored."""
    pairs = _TOKENS.findall(line)
    if len(pairs) > MAX_PAIRS:
        raise DecodeError(f"more than {MAX_PAIRS} fields")
    if "\\" not in line:
        # No backslash: a quoted value holds no quote, a bare one none at all.
        fields = {k: v.strip('"') for k, v in pairs}
        if "" in fields:
            raise DecodeError(_why(line))
        if len(fields) == len(pairs):
            return fields, 0
    fields = {}
    for key, value in pairs:
        if not key:
            raise DecodeError(_why(line))
        if key not in fields:
            if value[:1] == '"':
                value = value[1:-1]
                if "\\" in value:
                    value = _ESCAPE.sub(r"\1", value)
            fields[key] = value
    return fields, len(pairs) - len(fields)


def _why(line: str) -> str:
    """A short reason why ``line`` is not a key=value sequence."""
    pos = 0
    while True:
        while pos < len(line) and line[pos].isspace():
            pos += 1
        if pos >= len(line):
            return "malformed key=value line"
        match = _PAIRS.match(line, pos)
        if match is None:
            if _OPEN_QUOTE.match(line, pos):
                return f"unterminated quoted value at offset {pos}"
            return f"not a key=value pair at offset {pos}"
        end = match.end()
        if not match.group(2) and line[end : end + 1] == '"':
            return f"unterminated quoted value at offset {end}"
        if end < len(line) and not line[end].isspace():
            return f"no space after the value at offset {end}"
        pos = end
