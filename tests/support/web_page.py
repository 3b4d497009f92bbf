"""Reading the FAQ page's HTML in tests: each topic's section, open or not, and its text."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class Sections(HTMLParser):
    """Each <section data-anchor=…>: whether its <details> is open, and its paragraphs'
    text (the anchor's id sits on the answer inside, so following it opens the section)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self._current: str | None = None
        self._in_p = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self._current = found["data-anchor"]
            self.sections[self._current] = {"open": False, "paragraphs": []}
        elif tag == "details" and self._current:
            self.sections[self._current]["open"] = "open" in found
        elif tag == "p" and self._current and not found.get("class"):
            self._in_p = True
            self.sections[self._current]["paragraphs"].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_p = False
        elif tag == "section":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._in_p and self._current:
            self.sections[self._current]["paragraphs"][-1] += data


def sections(body: str) -> dict[str, dict[str, Any]]:
    parser = Sections()
    parser.feed(body)
    return parser.sections
