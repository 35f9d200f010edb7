"""Reads back what reports/index.html shows: table cells, links, list items, charts."""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Cell:
    sort_value: str
    text: str = ""


@dataclass
class Page:
    summary_rows: dict[str, dict[str, Cell]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    list_items: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    text: str = ""


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._in_summary = False
        self._row: dict[str, Cell] | None = None
        self._cell: Cell | None = None
        self._item: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.page.tags[tag] = self.page.tags.get(tag, 0) + 1
        if tag == "table":
            self._in_summary = "summary" in (attributes.get("class") or "").split()
        elif tag == "tr" and self._in_summary and attributes.get("data-run"):
            self._row = self.page.summary_rows.setdefault(attributes["data-run"], {})
        elif tag == "td" and self._row is not None and attributes.get("data-field"):
            self._cell = Cell(sort_value=attributes.get("data-sort") or "")
            self._row[attributes["data-field"]] = self._cell
        elif tag == "li":
            self._item = []
        for name in ("href", "src"):
            if attributes.get(name) is not None:
                (self.page.links if name == "href" else self.page.sources).append(attributes[name])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._in_summary = False
        elif tag == "li" and self._item is not None:
            self.page.list_items.append(" ".join("".join(self._item).split()))
            self._item = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._cell is not None:
            self._cell.text += data.strip()
        if self._item is not None:
            self._item.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(" ".join(self._text).split())


def parse_page(html: str) -> Page:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser.page
