"""The entry points: nox sessions generated from the matrix, every invoke task and make verb
listed with its help, and bad options refused with exit 2."""

import re
import subprocess

import tasks


def test_nox_lists_a_sweep_and_a_capacity_session_per_scale(workspace, local_matrix) -> None:
    workspace.write_matrix(**{**local_matrix, "num_models_list": [1, 3, 8]})
    result = workspace.run("nox", "-l", timeout=60)
    assert result.returncode == 0, result.stdout
    sessions = {
        line[2:].split(" -> ")[0]: line.split(" -> ")[1]
        for line in result.stdout.splitlines()
        if line[:2] in ("* ", "- ")
    }
    for kind in ("sweep", "capacity"):
        assert {name for name in sessions if name.startswith(f"{kind}(")} == {
            f"{kind}(models={models})" for models in (1, 3, 8)
        }
    # The tune is one session: a configuration's scales share its stack where it rescales.
    assert "tune" in sessions and not any(name.startswith("tune(") for name in sessions)
    assert all(docstring.strip() for docstring in sessions.values())
    # A bare `nox` runs lint and tests, never a sweep.
    assert "* tests" in result.stdout and "- sweep(models=1)" in result.stdout
    assert "uv binary not found" not in result.stdout


def test_invoke_lists_every_task_with_help(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    listing = workspace.run("inv", "--list", timeout=60)
    assert listing.returncode == 0, listing.stdout
    names = sorted(tasks.namespace.task_names)
    assert len(names) >= 11
    for name in names:
        line = next(
            (line for line in listing.stdout.splitlines() if line.split()[:1] == [name]), ""
        )
        assert len(line.split()) > 1, f"`inv --list` gives {name} no description"
        task = tasks.namespace[name]
        options = task.argspec(task.body).parameters
        assert set(task.help) == {option.replace("_", "-") for option in options}, name


def test_bad_option_exits_2_naming_it(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    result = workspace.run("inv", "up", "--models", "0", timeout=60)
    assert result.returncode == 2
    assert "--models: 0 is out of range; allowed: integers >= 1" in result.stdout
    for task in ("sweep", "capacity", "tune"):
        result = workspace.run("inv", task, "--backend", "k8s", timeout=60)
        assert result.returncode == 2, task
        assert (
            "--backend: 'k8s' is not a backend; allowed: auto, compose, local, swarm"
            in result.stdout
        )


def test_make_help_lists_every_verb_of_the_makefile(repo_root) -> None:
    makefile = (repo_root / "Makefile").read_text()
    verbs = re.findall(r"^\.PHONY: ([a-z-]+)  ## (.+)$", makefile, re.M)
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    assert {verb for verb, _ in verbs} == targets, "every target is a verb with a description"
    result = subprocess.run(
        ["make", "help"], cwd=repo_root, capture_output=True, text=True, timeout=30, check=True
    )
    for verb, description in verbs:
        assert f"  {verb} " in result.stdout and description in result.stdout, verb
