"""The upload page in Debian's headless chromium: the form renders, the message is only text."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from stack_processes import LocalStack

from tests.chromium import headless_chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("page"), model_cache_dir, {})
    try:
        yield local
    finally:
        local.close()


def rendered_dom(url: str, profile: Path) -> str:
    return headless_chromium(["--dump-dom", url], profile)


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(dom: str) -> Elements:
    elements = Elements()
    elements.feed(dom)
    return elements


def test_the_form_posts_a_file_field_to_the_page(stack: LocalStack, tmp_path: Path) -> None:
    page = parse(rendered_dom(f"http://127.0.0.1:{stack.api_port}/", tmp_path / "profile"))
    forms = [attrs for tag, attrs in page.tags if tag == "form"]
    assert forms == [{"method": "post", "action": "/", "enctype": "multipart/form-data"}]
    inputs = [attrs for tag, attrs in page.tags if tag == "input"]
    assert [(i["type"], i["name"]) for i in inputs] == [("file", "file")]


def test_a_message_in_the_address_stays_text(stack: LocalStack, tmp_path: Path) -> None:
    message = '<img src=x onerror="document.body.dataset.owned=1">Choose an image first.'
    url = f"http://127.0.0.1:{stack.api_port}/?message={quote(message)}"
    page = parse(rendered_dom(url, tmp_path / "profile"))
    assert message in "".join(page.text)
    assert not any(tag == "img" for tag, _ in page.tags)
    assert not any("data-owned" in attrs for _, attrs in page.tags)
