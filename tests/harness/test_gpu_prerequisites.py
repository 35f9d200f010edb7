"""What a GPU sweep needs, checked before anything starts (`inv doctor`), and whether replicas
fit on a card. No GPU can be had here: nvidia-smi is a stand-in script where a test needs one
(the one mock); everything else (onnxruntime, the Docker engine when one answers) is real."""

import os
import stat
import sys
from pathlib import Path

import pytest

from harness.gpu import Card, GpuFitError, check_fit, replica_cap_mib

FOUR_GB = Card(0, "Tesla T4-ish", 4096)


def test_two_replicas_fit_on_4_gb_with_a_1_5_gb_cap_and_three_do_not():
    check_fit(FOUR_GB, 2, 1536)
    with pytest.raises(GpuFitError) as refused:
        check_fit(FOUR_GB, 3, 1536)
    assert str(refused.value) == (
        "3 replicas need 3 × (1536 MiB cap + 400 MiB CUDA context and libraries) = 5808 MiB,"
        " more than the 4096 MiB of GPU 0 (Tesla T4-ish); at this cap 2 fit: lower"
        " GPU_MEM_LIMIT_MIB in stack.env or run fewer replicas"
    )


def test_without_a_cap_each_replica_gets_the_largest_that_fits():
    cap = replica_cap_mib({}, FOUR_GB, 3)
    assert cap == 965  # 4096 MiB shared by 3, less each one's 400 MiB of CUDA context
    check_fit(FOUR_GB, 3, cap)
    assert replica_cap_mib({"GPU_MEM_LIMIT_MIB": "900"}, FOUR_GB, 3) == 900
    with pytest.raises(GpuFitError, match="cannot share the 4096 MiB"):
        replica_cap_mib({}, FOUR_GB, 16)


def stand_in_nvidia_smi(folder: Path, query_output: str) -> None:
    """nvidia-smi answering -L and --query-gpu as a machine with these cards would."""
    folder.mkdir(exist_ok=True)
    listing = "\n".join(
        f"echo 'GPU {line.split(',')[0]}: {line.split(',')[1].strip()} (UUID: GPU-0)'"
        for line in query_output.splitlines()
    )
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-L" ]; then\n{listing}\nexit 0\nfi\n'
        f"printf '%s\\n' '{query_output}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_on_a_machine_without_a_gpu_the_doctor_says_so_plainly(workspace, local_matrix):
    workspace.env["PATH"] = str(Path(sys.executable).parent)  # no nvidia-smi, wherever this runs
    workspace.write_matrix(**{**local_matrix, "targets": ["cpu", "gpu"]})
    result = workspace.run("inv", "doctor", timeout=60)
    assert result.returncode == 2
    assert "no GPU here: nvidia-smi is not installed" in result.stdout


def test_the_doctor_lists_what_is_missing_for_the_local_backend(workspace, local_matrix):
    stand_in_nvidia_smi(workspace.root / "bin", "0, NVIDIA T4, 4096")
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    matrix = {
        **local_matrix,
        "num_models_list": [1, 2, 3],
        "targets": ["cpu", "gpu"],
        "stack": {"env": {"GPU_MEM_LIMIT_MIB": "1536"}},
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "doctor", "--backend", "local", timeout=120)
    assert result.returncode == 2, result.stdout
    lines = result.stdout.splitlines()
    assert "ok  GPUs: GPU 0: NVIDIA T4, 4096 MiB" in lines
    # This virtualenv's onnxruntime is the CPU build: a real finding, not a mocked one.
    assert any(line.startswith("MISSING  onnxruntime CUDA provider:") for line in lines)
    assert "ok  1 replica(s) on GPU 0: GPU_MEM_LIMIT_MIB=1536" in lines
    assert "ok  2 replica(s) on GPU 0: GPU_MEM_LIMIT_MIB=1536" in lines
    assert any(line.startswith("MISSING  3 replica(s) on GPU 0: 3 replicas need") for line in lines)


def test_a_gpu_sweep_that_cannot_run_starts_nothing(workspace, local_matrix):
    stand_in_nvidia_smi(workspace.root / "bin", "0, NVIDIA T4, 4096")
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    workspace.write_matrix(**{**local_matrix, "targets": ["cpu", "gpu"]})
    result = workspace.run("inv", "sweep", "--target", "gpu", "--backend", "local", timeout=120)
    assert result.returncode == 2
    assert "the gpu target cannot run here:" in result.stdout
    assert "onnxruntime CUDA provider" in result.stdout
    assert not workspace.stack_dir.exists()
    assert not workspace.reports.exists()


def test_the_doctor_asks_the_backend_what_it_needs(workspace, local_matrix):
    # A swarm runs the model in the Docker engine's containers, not in this virtualenv: it is
    # the engine's GPU support and the GPU image that the doctor checks for it.
    stand_in_nvidia_smi(workspace.root / "bin", "0, NVIDIA T4, 4096")
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    workspace.write_matrix(**{**local_matrix, "targets": ["cpu", "gpu"]})
    result = workspace.run("inv", "doctor", "--backend", "swarm", timeout=300)
    checked = [line.split(":")[0] for line in result.stdout.splitlines() if ":" in line]
    assert "onnxruntime CUDA provider" not in " ".join(checked), result.stdout
    assert any(what.endswith(("Docker engine", "Docker GPU support")) for what in checked), (
        result.stdout
    )


def test_a_stack_of_your_own_is_checked_for_its_gpus_alone(workspace, local_matrix):
    # A Procfile that runs some other server: the reference worker's CUDA provider and memory
    # caps are not its needs, and three replicas that would not fit ours are its own business.
    stand_in_nvidia_smi(workspace.root / "bin", "0, NVIDIA T4, 4096")
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    procfile = workspace.root / "Procfile"
    procfile.write_text("model: python -m tests.standin.server --port ${API_PORT} --service-ms 5\n")
    matrix = {
        **local_matrix,
        "num_models_list": [1, 2, 3],
        "targets": ["cpu", "gpu"],
        "stack": {"procfile": str(procfile), "env": {"GPU_MEM_LIMIT_MIB": "1536"}},
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "doctor", "--backend", "local", timeout=120)
    assert result.returncode == 0, result.stdout
    assert "ok  GPUs: GPU 0: NVIDIA T4, 4096 MiB" in result.stdout.splitlines()
    assert "onnxruntime" not in result.stdout and "replica(s) on GPU" not in result.stdout
