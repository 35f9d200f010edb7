"""The page in a real browser (Debian's headless chromium), with name resolution switched off:
it renders its charts offline, and its sort script reorders the summary table."""

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from harness import charts
from harness.matrix import Matrix
from harness.pages.index import build_index
from tests.chromium import headless_chromium
from tests.index.page import parse_page

pytestmark = pytest.mark.browser

RPS_COLUMN = 5  # 1-based, as :nth-child counts: replicas, users, spawn, requests, req/s


def page_with_clicks(index: Path, clicks: int) -> Path:
    """A copy of the page that clicks the req/s heading `clicks` times once it has loaded."""
    click = f"document.querySelector('table.summary th:nth-child({RPS_COLUMN})').click();"
    html = index.read_text().replace("</body>", f"<script>{click * clicks}</script></body>")
    clicked = index.with_name(f"clicked-{clicks}.html")
    clicked.write_text(html)
    return clicked


def rps_order(dom: str) -> list[str]:
    rows = parse_page(dom).summary_rows
    return [cells["rps"].sort_value for cells in rows.values()]


def test_charts_render_offline_and_the_table_sorts(
    reports_copy: Path, fixture_matrix: Matrix, tmp_path: Path
):
    # A run whose statistics are gone shows "–": it must stay last whichever way the table sorts.
    (reports_copy / "cpu" / "1_1_4_stats.csv").unlink()
    index = build_index(reports_copy, fixture_matrix)
    dom = headless_chromium(["--dump-dom", index.as_uri()], tmp_path / "profile")
    page = parse_page(dom)
    assert page.tags["svg"] == 3 and page.tags["polyline"] >= 4 and page.tags["circle"] >= 5
    original = rps_order(dom)

    ascending = headless_chromium(
        ["--dump-dom", page_with_clicks(index, 1).as_uri()], tmp_path / "profile"
    )
    numbers = sorted(float(value) for value in original if value)
    assert rps_order(ascending) == [f"{value!r}" for value in numbers] + [""]
    assert 'aria-sort="ascending">req/s' in ascending

    descending = headless_chromium(
        ["--dump-dom", page_with_clicks(index, 2).as_uri()], tmp_path / "profile"
    )
    assert rps_order(descending) == [f"{value!r}" for value in numbers[::-1]] + [""]
    assert 'aria-sort="descending">req/s' in descending


def colour_pixels(png: Path, colour: str, tolerance: int = 24) -> int:
    """How many pixels of the screenshot have this colour (anti-aliasing allowed for)."""
    wanted = tuple(int(colour[index : index + 2], 16) for index in (1, 3, 5))
    counts = Counter(Image.open(png).convert("RGB").get_flattened_data())
    return sum(
        count
        for pixel, count in counts.items()
        if all(
            abs(channel - goal) <= tolerance for channel, goal in zip(pixel, wanted, strict=True)
        )
    )


def test_screenshot_shows_each_replica_counts_lines(
    reports_copy: Path, fixture_matrix: Matrix, tmp_path: Path
):
    index = build_index(reports_copy, fixture_matrix)
    screenshot = tmp_path / "index.png"
    headless_chromium(
        ["--window-size=1280,4000", f"--screenshot={screenshot}", index.as_uri()],
        tmp_path / "profile",
    )
    # The fixtures hold runs at 1 and 2 replicas: their lines and markers are drawn in the
    # palette's first two colours, which nothing else on the page uses.
    one_replica, two_replicas = charts.PALETTE[0], charts.PALETTE[1]
    assert colour_pixels(screenshot, one_replica) > 500
    assert colour_pixels(screenshot, two_replicas) > 500
