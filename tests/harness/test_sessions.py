"""The entry points: nox sessions generated from the matrix, the invoke tasks, make help."""

import subprocess


def test_nox_lists_one_sweep_session_per_scale_of_the_matrix(workspace, local_matrix) -> None:
    workspace.write_matrix(**{**local_matrix, "num_models_list": [1, 3, 8]})
    result = workspace.run("nox", "-l", timeout=60)
    assert result.returncode == 0, result.stdout
    sessions = {
        line[2:].split(" -> ")[0]: line.split(" -> ")[1]
        for line in result.stdout.splitlines()
        if line[:2] in ("* ", "- ")
    }
    assert set(sessions) == {
        "sweep(models=1)",
        "sweep(models=3)",
        "sweep(models=8)",
        "capacity(models=1)",
        "capacity(models=3)",
        "capacity(models=8)",
        "benchmark",
        "index-benchmark",
        "rivals-benchmark",
        "tests",
        "lint",
    }
    assert all(docstring.strip() for docstring in sessions.values())
    # A bare `nox` runs lint and tests, never a sweep.
    assert "* tests" in result.stdout and "- sweep(models=1)" in result.stdout


def test_invoke_lists_every_task_with_help(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    listing = workspace.run("inv", "--list", timeout=60)
    assert listing.returncode == 0, listing.stdout
    for name in ("up", "down", "run", "sweep", "capacity", "index", "setup", "clean"):
        assert f"  {name} " in listing.stdout
    run_help = workspace.run("inv", "--help", "run", timeout=60)
    for option in ("--models", "--users", "--spawn-rate", "--run-time", "--target"):
        assert option in run_help.stdout


def test_bad_option_exits_2_naming_it(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    result = workspace.run("inv", "up", "--models", "0", timeout=60)
    assert result.returncode == 2
    assert "--models: 0 is out of range; allowed: integers >= 1" in result.stdout
    result = workspace.run("inv", "sweep", "--backend", "k8s", timeout=60)
    assert result.returncode == 2
    assert (
        "--backend: 'k8s' is not a backend; allowed: auto, compose, local, swarm" in result.stdout
    )
    result = workspace.run("inv", "capacity", "--backend", "k8s", timeout=60)
    assert result.returncode == 2
    assert (
        "--backend: 'k8s' is not a backend; allowed: auto, compose, local, swarm" in result.stdout
    )


def test_make_help_lists_the_verbs(repo_root) -> None:
    result = subprocess.run(
        ["make", "help"], cwd=repo_root, capture_output=True, text=True, timeout=30, check=True
    )
    verbs = (
        "setup",
        "bench",
        "bench-cpu",
        "bench-gpu",
        "capacity",
        "index",
        "test",
        "clean",
        "help",
    )
    for verb in verbs:
        assert f"  {verb} " in result.stdout
