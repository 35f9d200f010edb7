"""The conclusions' arithmetic on small hand-built runs (no GPU here: GPU runs are built too)."""

from dataclasses import replace

import pytest

from harness.analysis import capacity, explanations, figures, sentences
from harness.analysis.conclusions import conclusions
from harness.capacity import CapacityFile, Probe, ScaleCapacity
from harness.matrix import OpenLoad, Slo
from harness.record.names import RunName
from harness.record.parts import Breakdown, StageFigures
from tests.index.runs import make_run, make_stats

SLO = Slo(p95_ms=500, max_failure_ratio=0.01)


def joined(sentences: list[str]) -> str:
    return "\n".join(sentences)


def test_scaling_is_throughput_at_n_over_n_times_throughput_at_one():
    runs = [
        make_run(models=1, users=8, spawn_rate=4, stats=make_stats(rps=10.0)),
        make_run(models=2, users=8, spawn_rate=4, stats=make_stats(rps=18.0)),
        make_run(models=4, users=8, spawn_rate=4, stats=make_stats(rps=30.0)),
    ]
    by_models = {found.models: found for found in figures.scalings(runs)}
    assert by_models[2].speedup == pytest.approx(1.8)
    assert by_models[2].efficiency == pytest.approx(0.9)
    assert by_models[4].efficiency == pytest.approx(0.75)
    text = joined(sentences.scaling_sentences(runs))
    assert "cpu: 2 replicas serve 1.80× the throughput of 1 (18.0 vs 10.0 req/s)" in text
    assert "90% of linear scaling" in text
    assert "cpu: 4 replicas serve 3.00×" in text and "75% of linear" in text


def test_scaling_is_read_at_the_highest_load_measured_at_both_counts():
    runs = [
        make_run(models=1, users=1, stats=make_stats(rps=10.0)),
        make_run(models=2, users=1, stats=make_stats(rps=10.0)),
        make_run(models=1, users=8, stats=make_stats(rps=20.0)),
        make_run(models=2, users=8, stats=make_stats(rps=38.0)),
        # No 1-replica run at 16 users: this point cannot be compared.
        make_run(models=2, users=16, stats=make_stats(rps=50.0)),
    ]
    text = joined(sentences.scaling_sentences(runs))
    assert "1.90× the throughput of 1 (38.0 vs 20.0 req/s) at 8 users" in text
    assert "95% of linear" in text
    assert "ranges from 50% to 95%" in text


def test_scaling_matches_users_and_spawn_rate_and_target():
    runs = [
        make_run(models=1, users=4, spawn_rate=1, stats=make_stats(rps=10.0)),
        make_run(models=2, users=4, spawn_rate=4, stats=make_stats(rps=20.0)),
        make_run(target="gpu", models=1, users=4, spawn_rate=4, stats=make_stats(rps=10.0)),
    ]
    assert figures.scalings(runs) == []
    assert "no users × spawn-rate point was measured at both 1 and 2 replicas" in joined(
        sentences.scaling_sentences(runs)
    )


def test_scaling_says_when_there_is_one_replica_count_or_no_baseline():
    one_count = [make_run(models=2, users=users) for users in (1, 4)]
    assert "cpu: only 2 replicas measured" in joined(sentences.scaling_sentences(one_count))
    no_baseline = [make_run(models=2), make_run(models=4)]
    assert "cpu: no measured run with 1 replica" in joined(sentences.scaling_sentences(no_baseline))


def test_failed_runs_are_left_out_of_the_arithmetic():
    runs = [
        make_run(models=1, users=4, stats=make_stats(rps=10.0)),
        make_run(models=2, users=4, status="failed", failure_reason="replicas died"),
        make_run(models=2, users=4, spawn_rate=2, status="failed", stats=make_stats(rps=99.0)),
    ]
    assert figures.scalings(runs) == []
    assert figures.best_configuration(runs, SLO) is runs[0]


def test_gpu_against_cpu_ratios_of_throughput_and_p90():
    runs = [
        make_run("cpu", models=1, users=8, stats=make_stats(rps=20.0, p90_ms=200.0)),
        make_run("gpu", models=1, users=8, stats=make_stats(rps=64.0, p90_ms=110.0)),
        make_run("cpu", models=1, users=1, stats=make_stats(rps=5.0, p90_ms=100.0)),
        make_run("gpu", models=1, users=1, stats=make_stats(rps=7.0, p90_ms=80.0)),
    ]
    pairs = figures.gpu_cpu_pairs(runs)
    assert [(pair.users, pair.rps_ratio) for pair in pairs] == [
        (1, pytest.approx(1.4)),
        (8, pytest.approx(3.2)),
    ]
    assert pairs[1].p90_ratio == pytest.approx(0.55)
    text = joined(sentences.gpu_cpu_sentences(runs))
    assert "At 1 replica and 8 users (spawn rate 1/s), the GPU serves 3.20× the CPU's" in text
    assert "(64.0 vs 20.0 req/s), and its p90 is 45% lower (110 vs 200 ms, ratio 0.55)" in text


def test_gpu_p90_higher_than_cpu_is_said_so():
    runs = [
        make_run("cpu", models=2, users=4, stats=make_stats(rps=20.0, p90_ms=100.0)),
        make_run("gpu", models=2, users=4, stats=make_stats(rps=10.0, p90_ms=150.0)),
    ]
    assert "its p90 is 50% higher" in joined(sentences.gpu_cpu_sentences(runs))


def test_gpu_against_cpu_says_plainly_when_there_is_nothing_to_compare():
    cpu_only = [make_run("cpu"), make_run("gpu", status="failed", failure_reason="no GPU")]
    assert sentences.gpu_cpu_sentences(cpu_only) == [
        "No measured GPU runs, so there is no GPU/CPU comparison to draw."
    ]
    unmatched = [make_run("cpu", users=1), make_run("gpu", users=4)]
    assert "No replicas × users × spawn-rate point was measured on both" in joined(
        sentences.gpu_cpu_sentences(unmatched)
    )


def test_slo_break_is_the_first_load_outside_along_users():
    runs = [
        make_run(models=1, users=1, stats=make_stats(rps=5, p95_ms=100)),
        make_run(models=1, users=4, stats=make_stats(rps=9, p95_ms=300)),
        make_run(models=1, users=8, stats=make_stats(rps=10, p95_ms=900)),
        make_run(models=1, users=16, stats=make_stats(rps=10, p95_ms=1800)),
        make_run(models=2, users=1, stats=make_stats(rps=5, p95_ms=700)),
        make_run(models=4, users=1, stats=make_stats(rps=5, p95_ms=90)),
        make_run(models=4, users=8, stats=make_stats(rps=5, p95_ms=90, failures=20)),
        make_run(models=8, users=8, stats=make_stats(rps=5, p95_ms=90)),
    ]
    text = joined(sentences.slo_break_sentences(runs, SLO))
    assert "cpu, 1 replica: within the SLO up to 4 users; breaks it at 8 users" in text
    assert "(p95 900 ms > 500 ms)" in text
    assert "cpu, 2 replicas: outside the SLO already at the lowest load measured, 1 user" in text
    assert "cpu, 4 replicas: within the SLO up to 1 user; breaks it at 8 users" in text
    assert "(failures 2% > 1%)" in text
    assert "cpu, 8 replicas: within the SLO at every load measured (up to 8 users)" in text


def test_a_point_run_at_several_spawn_rates_is_charted_at_the_highest():
    slow_ramp = make_run(users=4, spawn_rate=1, stats=make_stats(rps=5, p95_ms=900))
    fast_ramp = make_run(users=4, spawn_rate=4, stats=make_stats(rps=6, p95_ms=200))
    assert figures.representatives([slow_ramp, fast_ramp]) == [fast_ramp]
    assert "within the SLO at every load" in joined(
        sentences.slo_break_sentences([slow_ramp, fast_ramp], SLO)
    )


def test_best_configuration_is_highest_throughput_within_the_slo():
    runs = [
        make_run(models=1, users=8, stats=make_stats(rps=40.0, p95_ms=400)),
        make_run(models=2, users=8, stats=make_stats(rps=90.0, p95_ms=600)),
        make_run(models=2, users=4, stats=make_stats(rps=80.0, p95_ms=450, failures=11)),
        make_run(models=2, users=2, stats=make_stats(rps=70.0, p95_ms=300, failures=10)),
    ]
    assert figures.best_configuration(runs, SLO) is runs[3]
    assert joined(sentences.best_configuration_sentences(runs, SLO)) == (
        "cpu: 2 replicas at 2 users (spawn rate 1/s): 70.0 req/s with p95 300 ms and 1% failures."
    )


def test_best_configuration_tie_goes_to_fewest_replicas():
    runs = [
        make_run(models=2, users=8, stats=make_stats(rps=50.02)),
        make_run(models=1, users=8, stats=make_stats(rps=49.98)),
        make_run(models=4, users=8, stats=make_stats(rps=50.0)),
    ]
    assert figures.best_configuration(runs, SLO) is runs[1]


def test_best_configuration_when_every_run_breaks_the_slo():
    runs = [make_run(users=users, stats=make_stats(rps=10, p95_ms=800)) for users in (1, 4)]
    assert figures.best_configuration(runs, SLO) is None
    assert sentences.best_configuration_sentences(runs[:1], SLO)[0].startswith(
        "cpu: the only measured run breaks the SLO"
    )
    assert sentences.best_configuration_sentences(runs, SLO) == [
        "cpu: all 2 measured runs break the SLO"
        " (p95 ≤ 500 ms and failures ≤ 1%), so there is no configuration to recommend."
    ]


def test_best_configuration_over_targets():
    runs = [
        make_run("cpu", models=2, stats=make_stats(rps=30)),
        make_run("gpu", models=1, stats=make_stats(rps=60)),
    ]
    assert "Over all targets: gpu, 1 replica at 1 user" in joined(
        sentences.best_configuration_sentences(runs, SLO)
    )


def test_failed_runs_are_counted_per_target_and_replica_count():
    runs = [
        make_run("gpu", models=2, users=1),
        make_run("gpu", models=2, users=4, status="failed", failure_reason="containers died"),
        make_run("gpu", models=2, users=8, status="failed", failure_reason="containers died"),
        make_run("gpu", models=2, users=16, status="failed", failure_reason="ready timeout"),
        make_run("gpu", models=1, users=1, status="failed", failure_reason="out of memory"),
    ]
    assert sentences.failure_sentences(runs) == [
        "With 1 replica on gpu, the run failed: out of memory",
        "With 2 replicas on gpu, 3 of 4 runs failed: containers died; ready timeout",
    ]


def test_nothing_to_conclude_without_a_valid_measured_run():
    runs = [
        make_run(status="failed", failure_reason="x"),
        make_run(users=4, invalid_reasons=("Locust used 95% of its cores",)),
    ]
    sections = conclusions(runs, SLO)
    assert [section.sentences for section in sections] == [
        ["Measured on the local backend, with stack settings not recorded."],
        ["No valid run has finished with requests answered yet, so there is nothing to conclude."],
        ["With 1 replica on cpu, 1 of 2 runs failed: x"],
        [
            "1 run left out of every conclusion, as invalid:"
            " cpu/1_4_1: Locust used 95% of its cores."
        ],
    ]


def test_a_run_whose_load_generator_saturated_is_invalid_and_left_out():
    runs = [
        make_run(users=1, stats=make_stats(rps=10)),
        make_run(users=64, stats=make_stats(rps=99), locust_cpu_warning=True),
        make_run(
            users=8, stats=make_stats(rps=98), invalid_reasons=("Locust used 97% of its cores",)
        ),
    ]
    sections = {section.title: section for section in conclusions(runs, SLO)}
    assert joined(sections["Invalid runs"].sentences) == (
        "2 runs left out of every conclusion, as invalid:"
        " cpu/1_64_1: Locust warned that its CPU was saturated."
        " cpu/1_8_1: Locust used 97% of its cores."
    )
    assert figures.best_configuration(runs, SLO) is runs[0]


def staged(mean_ms: float, **stage_ms: float) -> dict:
    """A run's record fields for a known breakdown of a `mean_ms` client latency."""
    stages = {name: StageFigures(ms, ms, 100) for name, ms in stage_ms.items()}
    return {
        "stats": replace(make_stats(rps=10.0), mean_ms=mean_ms),
        "stages": Breakdown(stages, batch_size_mean=1.0, jobs_per_replica={"model-1": 100}),
    }


def test_the_dominant_stage_and_what_the_stack_adds_at_one_user():
    one_user = make_run(
        users=1, **staged(10.0, upload=0.5, queue_wait=0.5, decode=2.0, inference=5.0)
    )
    loaded = make_run(
        users=8, **staged(60.0, upload=0.5, queue_wait=45.0, decode=4.0, inference=8.0)
    )
    text = joined(explanations.limit_sentences([one_user, loaded]))
    # 8 users: 45 of 60 ms is queue wait; 1 user: 7 ms of model work, the other 3 ms the stack's.
    assert (
        "cpu, 1 replica at 8 users: 75% of a request's 60 ms is queue wait"
        " (the replicas are the bottleneck" in text
    )
    assert (
        "the model's stages (decode and preprocessing, inference) take 7 ms of 10 ms:"
        " the stack adds 3 ms." in text
    )


def test_under_load_the_time_beside_the_model_is_not_called_the_stacks_cost():
    light = make_run(users=2, **staged(20.0, queue_wait=8.0, decode=4.0, inference=6.0))
    heavy = make_run(users=8, **staged(60.0, queue_wait=45.0, decode=4.0, inference=8.0))
    text = joined(explanations.limit_sentences([light, heavy]))
    assert "the stack adds" not in text
    assert (
        "(decode and preprocessing, inference) take 10 ms of 20 ms, the other 10 ms waiting and"
        " the stack's own work." in text
    )


def test_a_capacity_found_by_an_unstable_probe_says_so():
    probe_run = make_run(
        stats=make_stats(rps=117.0),
        unstable_reason="p95 varies 243% across windows",
        windows=(),
    )
    probe_run = replace(
        probe_run,
        record=replace(probe_run.record, name=RunName("cpu", 1, OpenLoad(117.0))),
    )
    scale = ScaleCapacity(
        probes=[
            Probe(132.0, 875.5, 0.0, valid=True, within=False, report="1_rate132.html"),
            Probe(117.0, 296.4, 0.0, valid=True, within=True, report="1_rate117.html"),
        ],
        capacity_rps=117.0,
        complete=True,
    )
    found = CapacityFile("cpu", SLO, 0.05, "poisson", scales={1: scale})
    text = joined(capacity.capacity_sentences([found], SLO, [probe_run]))
    assert "cpu, 1 replica: takes 117 req/s with p95 ≤ 500 ms" in text
    assert "its probe was not stable (p95 varies 243% across windows)" in text
    steady = replace(probe_run, record=replace(probe_run.record, unstable_reason=None))
    assert "not stable" not in joined(capacity.capacity_sentences([found], SLO, [steady]))
