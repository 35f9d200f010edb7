"""No figure mixes backends: one reports folder holding a target's runs on the local backend and
on compose (as after `make bench` without Docker, then `make capacity` with it) is concluded,
shown, searched and compared one backend at a time, each sentence naming its own."""

import re
from pathlib import Path

import pytest

from harness.analysis import capacity, figures
from harness.analysis.conclusions import conclusions
from harness.analysis.repeats import one_per_point
from harness.capacity import CapacityFile, capacity_path, read_capacity
from harness.matrix import ClosedLoad, Matrix, ShapedLoad, Slo
from harness.pages.compare import comparison_of
from harness.pages.index import build_index
from harness.results import Run, gather
from harness.search import search_at_scale
from harness.search_estimate import closed_loop_estimate
from harness.session import Command, ScaleSession
from harness.stack_setup import StackSetup, setup_names
from harness.tune.file import TuneFile
from tests.index.backends import BACKENDS, RUNS, write_capacity_json, write_point
from tests.index.page import parse_page
from tests.index.runs import make_run, make_stats


@pytest.fixture
def mixed(tmp_path: Path, fixture_matrix: Matrix) -> Path:
    reports = tmp_path / "reports"
    for point in RUNS:
        write_point(reports, fixture_matrix, *point)
    write_capacity_json(capacity_path(reports, "cpu"), fixture_matrix, "compose")
    return reports


def backends_named(sentence: str) -> list[str]:
    return re.findall(rf"\b({'|'.join(BACKENDS)})\b", sentence)


def on_backend(runs: list[Run], backend: str) -> list[Run]:
    return [run for run in runs if run.record.backend == backend]


def conclusion_items(html: str) -> list[str]:
    """Every sentence of the page's conclusions, as shown."""
    section = html.split('<section id="conclusions">', 1)[1].split("</section>", 1)[0]
    return parse_page(section).list_items


def test_every_conclusion_names_exactly_one_backend(mixed: Path, fixture_matrix: Matrix):
    html = build_index(mixed, fixture_matrix).read_text()
    said = conclusion_items(html)
    for sentence in said:
        assert len(backends_named(sentence)) == 1, sentence
    assert len(said) > 10
    assert any(s.startswith("On local, cpu: 2 replicas serve") for s in said), said
    assert any(s.startswith("On compose, cpu, 1 replica: takes 90 req/s") for s in said), said


def test_scaling_is_read_within_one_backend(mixed: Path, fixture_matrix: Matrix):
    runs = one_per_point(gather(mixed).runs)
    for found in figures.scalings(runs):
        [baseline] = [
            run
            for run in runs
            if (run.models, run.kind, run.stats.rps) == (1, "closed", found.rps_one)
            and (run.users, run.spawn_rate) == (found.users, found.spawn_rate)
        ]
        [scaled] = [
            run
            for run in runs
            if (run.models, run.kind, run.stats.rps) == (found.models, "closed", found.rps_n)
            and (run.users, run.spawn_rate) == (found.users, found.spawn_rate)
        ]
        assert baseline.record.backend == scaled.record.backend, found
    said = [
        sentence
        for section in conclusions(runs, fixture_matrix.slo)
        if section.title == "Scaling with replicas"
        for sentence in section.sentences
    ]
    # Each backend's own ratio, at the highest load it measured at 1 and at 2 replicas.
    assert said == [
        "On compose, cpu: 2 replicas serve 1.10× the throughput of 1 (110.0 vs 100.0 req/s)"
        " at 32 users, spawn rate 4/s: 55% of linear scaling.",
        "On local, cpu: 2 replicas serve 1.68× the throughput of 1 (134.7 vs 80.0 req/s)"
        " at 8 users, spawn rate 4/s: 84% of linear scaling.",
    ]


def test_closed_and_open_loop_are_set_side_by_side_within_one_backend(mixed: Path):
    runs = gather(mixed).runs
    pairs = capacity.loop_pairs(runs)
    assert [(pair.closed.stem, pair.open.stem) for pair in pairs] == [("1_32_4", "1_rate100")]
    for pair in pairs:
        assert pair.closed.record.backend == pair.open.record.backend
    [sentence] = capacity.loop_sentences(runs)
    assert "closed loop (32 users) reports p95 40 ms, the open loop p95 490 ms" in sentence


def test_the_page_shows_each_backend_apart(mixed: Path, fixture_matrix: Matrix):
    html = build_index(mixed, fixture_matrix).read_text()
    runs = gather(mixed).runs
    for backend in ("local", "compose"):
        assert f"Target cpu on {backend}" in html
        table = html.split(f'id="summary-cpu-{backend}"', 1)[1].split("</table>", 1)[0]
        shown = set(re.findall(r'data-run="cpu/([^"]+)"', table))
        closed = {run.stem for run in on_backend(runs, backend) if run.kind == "closed"}
        assert shown == closed
        assert f"cpu on {backend}: throughput against users" in html
    # The capacity search is shown with the runs of the backend it was searched on.
    compose = html.split('id="target-cpu-compose"', 1)[1].split("</section>", 1)[0]
    assert 'data-capacity="cpu/1"' in compose
    local = html.split('id="target-cpu-local"', 1)[1].split("</section>", 1)[0]
    assert "data-capacity" not in local


def test_a_page_of_one_backend_names_it_once_near_the_top(tmp_path: Path, fixture_matrix: Matrix):
    reports = tmp_path / "reports"
    for point in RUNS:
        if point[0] == "local":
            write_point(reports, fixture_matrix, *point)
    said = conclusion_items(build_index(reports, fixture_matrix).read_text())
    assert said[0] == (
        "Measured on the local backend, with MODEL_NAME=efficientnet-lite0, RUNTIME=onnxruntime."
    )
    assert [sentence for sentence in said if backends_named(sentence)] == said[:1]
    assert "cpu: 2 replicas serve 1.68× the throughput of 1 (134.7 vs 80.0 req/s)" in " ".join(said)


def unstarted_session(reports: Path, matrix: Matrix, backend: str, models: int) -> ScaleSession:
    """A scale's session on `backend` whose stack never comes up: a probe asked of it raises
    Probed with its rate, so a test sees where a search would start without a stack."""

    class NoProbes(ScaleSession):
        def up(self):
            raise AssertionError("the stack was asked to come up")

        def run(self, point, repeat=1, enough=None, floor=False, keep_warm=False):
            shaped = isinstance(point.load, ShapedLoad)  # the ramp: the rate it rises to
            raise Probed(point.load.phases[-1][0] if shaped else point.load.rate)

    command = Command(matrix, "cpu", backend, reports, reports / ".state")
    return NoProbes(command, models, keep_up=False)


class Probed(Exception):
    """The search asked for a probe at this rate."""


def test_the_capacity_search_starts_from_its_own_backends_runs(mixed: Path, fixture_matrix: Matrix):
    capacity_path(mixed, "cpu").unlink()
    # 2 replicas: local served 134.7 req/s, compose at most 121.
    with pytest.raises(Probed) as first:
        search_at_scale(unstarted_session(mixed, fixture_matrix, "compose", 2), force=False)
    assert first.value.args == (182.0,)  # a ramp to 1.5 × 121
    assert read_capacity(capacity_path(mixed, "cpu")).scales[2].estimate.rps == 121.0
    runs = gather(mixed).runs
    env = fixture_matrix.recorded["stack"]["env"]
    assert closed_loop_estimate(runs, "cpu", 2, StackSetup("local", env)).rps == 134.7
    assert closed_loop_estimate(runs, "cpu", 2, StackSetup("swarm", env)) is None
    assert closed_loop_estimate(runs, "cpu", 2, StackSetup("compose", {**env, "X": "1"})) is None


@pytest.mark.parametrize("searched_on", ["local", None])
def test_a_capacity_file_of_another_backend_is_not_resumed(
    mixed: Path, fixture_matrix: Matrix, searched_on: str | None
):
    path = capacity_path(mixed, "cpu")
    write_capacity_json(path, fixture_matrix, searched_on)
    searched = read_capacity(path)
    # On compose the search starts over at 1 replica, from compose's closed loop (100 req/s).
    with pytest.raises(Probed) as first:
        search_at_scale(unstarted_session(mixed, fixture_matrix, "compose", 1), force=False)
    assert first.value.args == (150.0,)  # a ramp to 1.5 × 100
    assert searched.setup.backend == searched_on  # a file before the setup reads as unknown
    assert read_capacity(path).setup.backend == "compose"


def test_a_capacity_file_of_the_same_backend_is_resumed(mixed: Path, fixture_matrix: Matrix):
    scale = search_at_scale(unstarted_session(mixed, fixture_matrix, "compose", 1), force=False)
    assert (scale.complete, scale.capacity_rps) == (True, 90.0)


def test_gpu_against_cpu_pairs_only_one_backend():
    local_cpu = make_run("cpu", users=8, stats=make_stats(rps=20.0))
    compose_gpu = make_run("gpu", users=8, stats=make_stats(rps=64.0), backend="compose")
    assert figures.gpu_cpu_pairs([local_cpu, compose_gpu]) == []
    said = [
        sentence
        for section in conclusions([local_cpu, compose_gpu], Slo(500, 0.01))
        if section.title == "GPU against CPU"
        for sentence in section.sentences
    ]
    assert said == [
        "On compose, no measured CPU runs, so there is no GPU/CPU comparison to draw.",
        "On local, no measured GPU runs, so there is no GPU/CPU comparison to draw.",
    ]


def test_compare_says_when_a_point_crosses_backends(tmp_path: Path, fixture_matrix: Matrix):
    before, after = tmp_path / "before", tmp_path / "after"
    write_point(before, fixture_matrix, "local", 1, ClosedLoad(8, 4), 80.0, 18.0)
    write_point(after, fixture_matrix, "compose", 1, ClosedLoad(8, 4), 70.0, 30.0)
    [point] = comparison_of(before, after).points
    assert point.across == "local → compose"
    assert point.named == "cpu 1r 8 users, spawn 4/s (local → compose)"
    same = tmp_path / "same"
    write_point(same, fixture_matrix, "local", 1, ClosedLoad(8, 4), 81.0, 18.0)
    assert comparison_of(before, same).points[0].across is None


def test_setups_of_one_backend_are_told_apart_by_their_settings():
    plain = StackSetup("compose", {"MODEL_NAME": "m", "MAX_BATCH": "1"})
    batched = StackSetup("compose", {"MODEL_NAME": "m", "MAX_BATCH": "8"})
    unknown = StackSetup(None, None)
    assert setup_names([plain, batched, StackSetup("local", {}), unknown]) == {
        plain: "compose (MAX_BATCH=1)",
        batched: "compose (MAX_BATCH=8)",
        StackSetup("local", {}): "local",
        unknown: "an unknown backend",
    }
    assert StackSetup("compose", {"A": "1", "B": "2"}) == StackSetup(
        "compose", {"B": "2", "A": "1"}
    )


def test_a_tune_of_another_backend_is_not_resumed(fixture_matrix: Matrix):
    env = fixture_matrix.recorded["stack"]["env"]
    settings = ("cpu", fixture_matrix.slo, "capacity", "grid", {"MAX_BATCH": ["1", "8"]})
    local = TuneFile(*settings, setup=StackSetup("local", env))
    assert local.matches(TuneFile(*settings, setup=StackSetup("local", dict(env))))
    assert not local.matches(TuneFile(*settings, setup=StackSetup("compose", env)))
    assert not TuneFile(*settings).matches(local)  # a file before the setup: unknown


def test_capacity_files_record_their_setup(tmp_path: Path, fixture_matrix: Matrix):
    path = capacity_path(tmp_path, "cpu")
    write_capacity_json(path, fixture_matrix, "swarm")
    found = read_capacity(path)
    assert isinstance(found, CapacityFile) and found.setup.backend == "swarm"
