"""A text field whose cursor does not blink."""

from __future__ import annotations

from textual.widgets import Input


class SteadyInput(Input):
    """An Input with a steady cursor: a blinking one redraws its line twice a second, which over
    a slow SSH link is traffic for nothing (and makes two screenshots of the same state differ)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = False
