"""Runtimes that run a classifier's forward pass: torch, or onnxruntime on an exported graph."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from services.model.classifiers import Classifier
from services.settings import Settings, SettingsError

ONNX_OPSET = 17


class DeviceUnavailable(RuntimeError):
    """The requested device cannot be used; the worker exits instead of falling back to CPU."""


class Runtime(Protocol):
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 to (N, classes) float32."""
        ...


def onnx_path(classifier: Classifier, cache_dir: Path) -> Path:
    return cache_dir / f"{classifier.name}-{classifier.fingerprint}-opset{ONNX_OPSET}.onnx"


def ensure_onnx(classifier: Classifier, cache_dir: Path) -> Path:
    """Export the model once; concurrent workers each write a private file, then rename it.

    The rename is atomic, so a reader sees either no file or a whole one, never half of one.
    The user's own ONNX file (MODEL_NAME=onnx) is served as it is: nothing to export.
    """
    if classifier.model_file is not None:
        return classifier.model_file
    path = onnx_path(classifier, cache_dir)
    if path.is_file():
        return path
    import torch

    cache_dir.mkdir(parents=True, exist_ok=True)
    model = classifier.build_torch()
    crop = classifier.preprocessing.crop
    descriptor, temporary = tempfile.mkstemp(dir=cache_dir, prefix=path.stem, suffix=".partial")
    os.close(descriptor)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose (it needs no onnxscript); its
            # deprecation and constant-folding notes would only clutter every worker's log.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=UserWarning)
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, crop, crop),),
                temporary,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        # mkstemp makes the file private; workers may run as another user than `prepare`.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


class TorchRuntime:
    def __init__(
        self,
        classifier: Classifier,
        device: str,
        num_threads: int,
        gpu_mem_limit_mib: int | None = None,
    ) -> None:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable(
                "DEVICE=cuda but torch sees no CUDA GPU (CPU-only torch build, or no visible "
                "device); refusing to fall back to CPU"
            )
        if device == "cuda" and gpu_mem_limit_mib is not None:
            # Replicas share the card: each caps its caching allocator (GPU_MEM_LIMIT_MIB).
            total = torch.cuda.get_device_properties(0).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, gpu_mem_limit_mib * 2**20 / total))
        torch.set_num_threads(num_threads)
        self._torch = torch
        self._device = torch.device(device)
        self._model = classifier.build_torch().to(self._device)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            inputs = self._torch.from_numpy(batch).to(self._device)
            return self._model(inputs).float().cpu().numpy()


class OnnxRuntime:
    def __init__(
        self,
        classifier: Classifier,
        device: str,
        num_threads: int,
        cache_dir: Path,
        gpu_mem_limit_mib: int | None = None,
    ) -> None:
        import onnxruntime

        providers: list[str | tuple[str, dict[str, str]]] = ["CPUExecutionProvider"]
        if device == "cuda" and hasattr(onnxruntime, "preload_dlls"):
            # The CUDA and cuDNN libraries come as pip wheels (the `gpu` extra): load them from
            # there, so no LD_LIBRARY_PATH is needed.
            onnxruntime.preload_dlls()
        if device == "cuda":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise DeviceUnavailable(
                    "DEVICE=cuda but this onnxruntime has no CUDAExecutionProvider "
                    "(install onnxruntime-gpu); refusing to fall back to CPU"
                )
            # Grow the memory arena by what each allocation needs, up to the replica's cap, so
            # that replicas share the card (GPU_MEM_LIMIT_MIB; harness/gpu.py checks they fit).
            cuda_options = {"device_id": "0", "arena_extend_strategy": "kSameAsRequested"}
            if gpu_mem_limit_mib is not None:
                cuda_options["gpu_mem_limit"] = str(gpu_mem_limit_mib * 2**20)
            providers = [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        model_path = ensure_onnx(classifier, cache_dir)
        try:
            self._session = onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=providers
            )
        except Exception as error:  # onnxruntime's errors share no base class but Exception
            if classifier.model_file is None:
                raise
            raise SettingsError(
                f"MODEL_PATH {model_path}: onnxruntime cannot load it ({error})"
            ) from None
        if device == "cuda" and "CUDAExecutionProvider" not in self._session.get_providers():
            raise DeviceUnavailable(
                "DEVICE=cuda but onnxruntime could not start its CUDA provider (no visible GPU?); "
                "refusing to fall back to CPU"
            )
        self._input_name = self._session.get_inputs()[0].name
        self._channels_last = classifier.channels_last
        self._fixed_batch = classifier.fixed_batch
        if classifier.model_file is not None:
            crop = classifier.preprocessing.crop
            try:  # the user's file: one blank image, so that a graph that cannot run says so now
                self.logits(np.zeros((1, 3, crop, crop), dtype=np.float32))
            except Exception as error:
                raise SettingsError(
                    f"MODEL_PATH {model_path}: onnxruntime cannot run it on a {crop}x{crop} "
                    f"image ({error})"
                ) from None

    def logits(self, batch: np.ndarray) -> np.ndarray:
        if self._channels_last:
            batch = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
        fixed = self._fixed_batch
        if fixed is None or len(batch) == fixed:
            return self._session.run(None, {self._input_name: batch})[0]
        # A model whose batch is fixed at `fixed` runs any batch in passes of that many images,
        # the last one made up with blank images whose answers are dropped.
        return np.concatenate(
            [
                self._fixed_pass(batch[start : start + fixed])
                for start in range(0, len(batch), fixed)
            ]
        )

    def _fixed_pass(self, images: np.ndarray) -> np.ndarray:
        fixed = self._fixed_batch
        assert fixed is not None
        blanks = np.zeros((fixed - len(images), *images.shape[1:]), dtype=images.dtype)
        inputs = np.concatenate([images, blanks]) if len(blanks) else images
        return self._session.run(None, {self._input_name: inputs})[0][: len(images)]


def create_runtime(classifier: Classifier, settings: Settings) -> Runtime:
    """The runtime, device and threads the settings name, for this classifier."""
    if settings.runtime == "torch":
        return TorchRuntime(
            classifier, settings.device, settings.num_threads, settings.gpu_mem_limit_mib
        )
    return OnnxRuntime(
        classifier,
        settings.device,
        settings.num_threads,
        settings.model_cache_dir,
        settings.gpu_mem_limit_mib,
    )
