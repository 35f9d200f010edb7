"""compare.html in a real browser (headless chromium, no name resolves but loopback): it shows
each point's verdict, opens offline, and its table sorts."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.pages.compare import comparison_of, write_compare_page
from tests.analysis.test_comparison import sweeps  # noqa: F401 (the fixture)
from tests.chromium import headless_chromium

pytestmark = pytest.mark.browser


class Verdicts(HTMLParser):
    """(point, verdict) in table order, and every external resource the page would load."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self.sources: list[str] = []
        self._point: str | None = None
        self._in_verdict = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-point"):
            self._point = attributes["data-point"]
        self._in_verdict = tag == "td" and attributes.get("data-field") == "verdict"
        if attributes.get("src"):
            self.sources.append(attributes["src"])

    def handle_data(self, data: str) -> None:
        if self._in_verdict and self._point and data.strip():
            self.rows.append((self._point, data.strip()))
            self._in_verdict = False


def verdicts_of(dom: str) -> Verdicts:
    parser = Verdicts()
    parser.feed(dom)
    return parser


def test_the_page_shows_each_verdict_and_sorts(sweeps, tmp_path: Path):  # noqa: F811
    before, after = sweeps
    page = write_compare_page(before, after, comparison_of(before, after), 0.05)
    dom = headless_chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    found = verdicts_of(dom)
    assert found.sources == []
    shown = dict(found.rows)
    assert shown["cpu/1/4 users, spawn 1/s/throughput"] == "worse"
    assert shown["cpu/1/8 users, spawn 1/s/p95"] == "better"
    assert shown["cpu/1/1 user, spawn 1/s/throughput"] == "no significant change"
    assert "Significantly worse by more than 5%" in dom
    assert "cpu/1_16_1" in dom and "cpu/1_32_1" in dom

    # Clicking the verdict heading puts "better" rows first (text order), then the others.
    click = "document.querySelectorAll('table.compare th')[9].click();"
    sorted_page = page.with_name("sorted.html")
    sorted_page.write_text(page.read_text().replace("</body>", f"<script>{click}</script></body>"))
    dom = headless_chromium(["--dump-dom", sorted_page.as_uri()], tmp_path / "profile")
    order = [verdict for _, verdict in verdicts_of(dom).rows]
    assert order == sorted(order)
    assert order[0] == "better"
