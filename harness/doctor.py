"""`inv doctor`: what a GPU sweep needs, checked before anything starts.

Each missing piece is one line naming it and how to get it. The checks: the NVIDIA driver
(nvidia-smi) and the GPUs it lists with their memory; what the backend needs to run the model
on them (its own checks: the Docker engine's GPU support and the GPU image for the Docker
backends, this virtualenv's CUDA provider for the local one); and whether the matrix's replica
counts fit on the card (harness/gpu.py). The image, the provider and the fit where the stack
runs the reference model worker; a stack of your own is checked for its GPUs (and the engine's
GPU support) alone.
"""

import shutil

from harness.gpu import CAP_SETTING, Card, Check, GpuFitError, cards, replica_cap_mib
from harness.matrix import Matrix
from harness.stack import backend_class
from harness.stack.lifecycle import model_env


def gpu_checks(matrix: Matrix, backend: str) -> list[Check]:
    """Every check for a GPU sweep with this matrix and backend, in the order they depend."""
    if shutil.which("nvidia-smi") is None:
        return [
            Check(
                "NVIDIA driver",
                False,
                "no GPU here: nvidia-smi is not installed. Install the NVIDIA driver"
                " (it brings nvidia-smi) on a machine with an NVIDIA GPU",
            )
        ]
    found = cards()
    if not found:
        return [
            Check(
                "GPUs",
                False,
                "no GPU here: nvidia-smi lists none. Check that the driver is loaded"
                " (`nvidia-smi` alone says why)",
            )
        ]
    listed = "; ".join(f"GPU {card.index}: {card.name}, {card.memory_mib} MiB" for card in found)
    stack = backend_class(backend)
    reference_model = stack.serves_reference_model(matrix.stack, "gpu")
    checks = [Check("GPUs", True, listed), *stack.gpu_checks(reference_model)]
    if not reference_model:
        # A stack of your own: its image, runtime and memory caps are its own business.
        return checks
    return checks + [_fit(matrix, found[0], models) for models in matrix.models_list]


def _fit(matrix: Matrix, card: Card, models: int) -> Check:
    env = model_env(matrix.stack, "gpu")
    try:
        cap = replica_cap_mib(env, card, models)
    except GpuFitError as error:
        return Check(f"{models} replica(s) on GPU {card.index}", False, str(error))
    given = "" if CAP_SETTING in env else " (the largest that fits)"
    return Check(f"{models} replica(s) on GPU {card.index}", True, f"{CAP_SETTING}={cap}{given}")
