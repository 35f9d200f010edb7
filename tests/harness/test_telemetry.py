"""What telemetry records of a run, against ground truths: a stand-in process of known appetite
in the resources table, Locust's every latency in the exact percentiles, the real stack's stages
inside the client's latency, and a stack without stage metrics."""

import csv
import json
import re
import statistics

import pytest

from tests.chromium import headless_chromium

pytestmark = pytest.mark.slow


def standin_sweep(workspace, local_matrix, procfile_lines: list[str], **fields) -> dict:
    procfile = workspace.root / "Procfile"
    procfile.write_text("\n".join(procfile_lines) + "\n")
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "num_users_list": [2],
        "spawn_rate_list": [2],
        "run_time": "6s",
        "ceiling": False,
        "min_requests": 10,
        "stack": {"procfile": str(procfile)},
        **fields,
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout
    return json.loads((workspace.reports / "cpu" / "1_2_2.meta.json").read_text())


STANDIN = "model: python -m tests.standin.server --port ${API_PORT} --service-ms 5"


def test_a_process_of_known_appetite_shows_it_in_the_resources_table(workspace, local_matrix):
    record = standin_sweep(
        workspace,
        local_matrix,
        [STANDIN, "burner: python -m tests.standin.burner --cpu 0.5 --mib 200"],
        telemetry={"interval_s": 0.5},
    )
    with (workspace.reports / "cpu" / "1_2_2.resources.csv").open() as table:
        rows = [row for row in csv.DictReader(table) if row["service"] == "burner"]
    assert len(rows) >= 8
    steady = rows[2:]  # the first samples see it still allocating
    cpu = statistics.fmean(float(row["cpu_percent"]) for row in steady)
    rss = statistics.fmean(float(row["rss_mib"]) for row in steady)
    assert cpu == pytest.approx(50, rel=0.15)
    assert rss == pytest.approx(200, rel=0.15)
    [burner] = [
        member for member in record["resources"]["members"] if member["service"] == "burner"
    ]
    assert burner["cpu_mean"] == pytest.approx(50, rel=0.15)
    assert burner["rss_peak_mib"] == pytest.approx(200, rel=0.15)
    services = {member["service"] for member in record["resources"]["members"]}
    assert services == {"model", "burner", "locust", "harness"}
    [harness] = [
        member for member in record["resources"]["members"] if member["service"] == "harness"
    ]
    # The burner is the harness's grandchild: counted as itself, never again as the harness.
    assert harness["cpu_mean"] < 25
    assert record["resources"]["unaccounted_cpu_mean"] is not None


def test_exact_percentiles_agree_with_every_raw_latency(workspace, local_matrix):
    raw_file = workspace.root / "raw.json"
    workspace.env["RAW_LATENCIES"] = str(raw_file)
    procfile = workspace.root / "Procfile"
    procfile.write_text(STANDIN.replace("--service-ms 5", "--service-ms 3") + "\n")
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "num_users_list": [4],
        "spawn_rate_list": [4],
        "run_time": "6s",
        "ceiling": False,
        "locustfile": str(workspace.repo_root / "tests" / "standin" / "raw_locustfile.py"),
        "stack": {"procfile": str(procfile)},
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout
    latency = json.loads((workspace.reports / "cpu" / "1_4_4.meta.json").read_text())["latency"]
    raw = sorted(json.loads(raw_file.read_text()))
    assert latency["requests"] == len(raw) > 300
    for name, percentile in (("p50_ms", 50), ("p90_ms", 90), ("p95_ms", 95), ("p99_ms", 99)):
        exact = raw[-(-percentile * len(raw) // 100) - 1]  # the nearest rank, ceil(p/100 × n)
        # Within the histogram's precision: 3 significant digits (0.1%), 1 µs at the bottom.
        assert latency[name] == pytest.approx(exact, rel=0.002, abs=0.002), name
    assert latency["max_ms"] == pytest.approx(raw[-1], rel=0.002)
    assert latency["mean_ms"] == pytest.approx(statistics.fmean(raw), rel=0.002)


def test_a_stack_without_stage_metrics_runs_and_its_breakdown_is_absent(workspace, local_matrix):
    record = standin_sweep(
        workspace,
        local_matrix,
        [STANDIN.replace("--service-ms 5", "--service-ms 5 --metrics none")],
    )
    assert record["status"] == "ok" and record["stages"] is None
    assert record["latency"]["requests"] > 0
    page = (workspace.reports / "index.html").read_text()
    assert "Stage metrics not available: " in page and "/metrics: HTTP 404" in page
    assert "the stack reports no request stages, so where the time goes is unknown" in page


def test_the_real_stacks_stages_account_for_most_of_the_clients_latency(workspace, local_matrix):
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "num_users_list": [1, 4],
        "spawn_rate_list": [4],
        "run_time": "5s",
        "ceiling": False,
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout
    for stem in ("1_1_4", "1_4_4"):
        record = json.loads((workspace.reports / "cpu" / f"{stem}.meta.json").read_text())
        stages = record["stages"]["stages"]
        assert list(stages) == [
            "upload",
            "check",
            "enqueue",
            "queue_wait",
            "batch_wait",
            "decode",
            "inference",
            "return",
        ]
        server_ms = sum(stage["mean_ms"] for stage in stages.values())
        client_ms = record["latency"]["mean_ms"]
        assert server_ms <= client_ms, (stem, server_ms, client_ms)
        assert server_ms >= 0.6 * client_ms, (stem, server_ms, client_ms)
        assert record["stages"]["jobs_per_replica"], "the replica's jobs were counted"
    page = headless_chromium(
        ["--dump-dom", (workspace.reports / "index.html").as_uri()], workspace.root / "profile"
    )
    for stem in ("1_1_4", "1_4_4"):
        row = re.search(
            rf'<div class="breakdown-row" data-run="cpu/{stem}">(.*?)</div>', page, re.S
        )
        assert row, f"{stem} has its breakdown bar on the page"
        widths = [
            float(width) for width in re.findall(r'class="segment" style="width: ([\d.]+)%', row[1])
        ]
        assert len(widths) >= 4 and sum(widths) == pytest.approx(100, abs=0.5), widths
    run_page = headless_chromium(
        ["--dump-dom", (workspace.reports / "cpu" / "1_4_4.telemetry.html").as_uri()],
        workspace.root / "profile",
    )
    resources = run_page.split('id="resources"', 1)[1]
    assert resources.count("<svg") >= 2, "CPU and memory charts of the run's processes"
    assert "<polyline" in resources or "<path" in resources
