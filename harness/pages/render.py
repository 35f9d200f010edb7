"""What every page shares: the Jinja environment over templates/, the filters that format
figures, and writing a page whole."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.bccache import Bucket

from harness import REPO_ROOT
from harness.analysis.formatting import (
    describe_load,
    format_ms,
    format_percent,
    format_percent_whole,
    format_rps,
)

TEMPLATES_DIR = REPO_ROOT / "templates"


class _Compiled(BytecodeCache):
    """The templates as compiled, kept for the process: each page gets an environment of its own
    (its links are relative to its folder), and the index follows every run, so its templates
    were compiled again after each (0.1 s of the harness's between a capacity search's probes).
    Jinja checks each template's source against what was compiled, so an edited one compiles
    again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _Compiled()


def environment(reports_dir: Path, **filters: Callable[..., Any]) -> Environment:
    """Templates with autoescaping, the figure formatters, and links relative to the page."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        bytecode_cache=_COMPILED,
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms=format_ms,
        rps=format_rps,
        percent=format_percent,
        whole_percent=format_percent_whole,
        load=lambda run: describe_load(run.record.name.load),
        link=lambda path: relative_link(reports_dir, path),
        **filters,
    )
    return env


def relative_link(reports_dir: Path, path: Path) -> str:
    """A link relative to the page, so the folder can be moved or copied whole."""
    return quote(path.relative_to(reports_dir).as_posix())


def write_page(path: Path, html: str) -> Path:
    # A person may have the page open while a sweep rewrites it: never show half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as staging:
        staging.write(html)
    os.chmod(staging.name, 0o644)  # readable like the reports beside it, not 0600
    os.replace(staging.name, path)
    return path
