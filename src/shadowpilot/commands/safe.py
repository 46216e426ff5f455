"""Data on the terminal as inert text: what a case, a tag, a transcript or a Twilio payload holds
is printed, never obeyed.

Rich reads `[link=...]` in a plain string as markup, and a terminal obeys ESC/OSC sequences
(hyperlinks, title changes, cursor moves that hide a line). Every data cell and line a command
prints goes through `safe_text`: a Text (never parsed for markup) with each control character
written out (controls.visible).
"""

from __future__ import annotations

from rich.text import Text

from ..controls import visible


def safe_text(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """A rich Text of `value` that no markup in it is read from and no control code reaches
    the terminal through; `one_line` also writes out tabs and newlines."""
    return Text(visible(value, one_line=one_line), style=style)
