"""The pages' templates are compiled once a process (harness/pages/render.py): the index follows
every run, and each page gets an environment of its own, so they were compiled again after each
run. An edited template is compiled again all the same."""

from pathlib import Path

import pytest
from jinja2 import Environment

from harness.matrix import Matrix
from harness.pages import render
from harness.pages.index import build_index


def test_the_index_rebuilt_after_a_run_compiles_no_template_again(
    reports_copy: Path, fixture_matrix: Matrix, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(reports_copy, fixture_matrix)
    compiled = []
    compile_source = Environment.compile

    def counted(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return compile_source(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", counted)
    (reports_copy / "index.html").unlink()
    assert build_index(reports_copy, fixture_matrix).is_file()
    assert compiled == []


def test_an_edited_template_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    monkeypatch.setattr(render, "TEMPLATES_DIR", templates)
    page = templates / "page.html.j2"
    page.write_text("before {{ figure | ms }}")
    assert render.environment(tmp_path).get_template("page.html.j2").render(figure=1.5) == (
        "before 1.5"
    )
    page.write_text("after {{ figure | ms }}")
    assert render.environment(tmp_path).get_template("page.html.j2").render(figure=1.5) == (
        "after 1.5"
    )
