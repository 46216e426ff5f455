"""Control characters in data, written out so a reader sees them and nothing obeys them.

Case ids, tags, transcript text and Twilio payloads come from outside. An ESC or OSC sequence
in one moves a terminal's cursor or plants a hyperlink; a bidirectional override reorders what
the eye reads; XML cannot hold most C0 controls at all. One rule for every output: the terminal
(commands/safe.py), Markdown and JUnit show each such character as its escape (`\\x1b`, `\\u202e`).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, the bidirectional marks, overrides and
# isolates, and the code points XML cannot carry (lone surrogates, U+FFFE, U+FFFF).
_KEEP_LINES = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
_CONTROL = re.compile(f"[{_KEEP_LINES}]")
_CONTROL_ONE_LINE = re.compile(f"[{_KEEP_LINES}\t\n]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(value: object, *, one_line: bool = False) -> str:
    """`value` as a string with every control character written out as its escape; with
    `one_line`, tabs and newlines too (for a table cell or a one-line message)."""
    text = "" if value is None else str(value)
    return (_CONTROL_ONE_LINE if one_line else _CONTROL).sub(_escape, text)
