"""MODEL_NAME=onnx: what the user's ONNX file says of itself, read from its graph: the layout,
side and batch of its input, and how many classes it answers.

Every problem is a SettingsError naming MODEL_PATH: the worker exits 2 with it, as it does for a
bad variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.settings import SettingsError

Dims = list[int | str]  # a fixed dimension is a number, a dynamic one its name (or "?")


@dataclass(frozen=True)
class Graph:
    input_dims: Dims  # as the graph writes them, for messages
    channels_last: bool  # [N,H,W,3] rather than [N,3,H,W]
    side: int | None  # the input's height and width where fixed; None where dynamic
    batch: int | None  # where fixed: every forward pass takes exactly this many images
    classes: int | None  # None where the graph does not say


def _dims(value: Any) -> Dims | None:
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [
        dim.dim_value if dim.dim_value > 0 else (dim.dim_param or "?") for dim in tensor.shape.dim
    ]


def read_graph(path: Path) -> Graph:
    """The graph's description of its input and first output (its weights are not loaded)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError for anything that is not ONNX
        raise SettingsError(f"MODEL_PATH {path} is not an ONNX model ({error})") from None
    graph = model.graph
    # Older exporters list the weights among the inputs: they are not the model's to be fed.
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or not graph.output:
        raise SettingsError(
            f"MODEL_PATH {path}: a classifier takes one input, an image batch, and answers its "
            f"logits first; this model has {len(inputs)} inputs and {len(graph.output)} outputs"
        )
    image = inputs[0]
    element = image.type.tensor_type.elem_type
    if element != onnx.TensorProto.FLOAT:
        raise SettingsError(
            f"MODEL_PATH {path}: its input {image.name!r} is "
            f"{onnx.TensorProto.DataType.Name(element)}; only FLOAT (float32) inputs are served"
        )
    dims = _dims(image)
    if dims is None or len(dims) != 4:
        raise SettingsError(
            f"MODEL_PATH {path}: its input {image.name!r} is {dims}; an image batch is expected, "
            "[N,3,H,W] or [N,H,W,3]"
        )
    batch, second, third, fourth = dims
    if fourth == 3 and second != 3:
        channels_last, spatial = True, (second, third)
    elif second == 3 or isinstance(second, str):
        channels_last, spatial = False, (third, fourth)
    else:
        raise SettingsError(
            f"MODEL_PATH {path}: its input {image.name!r} is {dims}; three colour channels are "
            "expected, [N,3,H,W] or [N,H,W,3]"
        )
    fixed = {dim for dim in spatial if isinstance(dim, int)}
    if len(fixed) > 1:
        raise SettingsError(
            f"MODEL_PATH {path}: its input {image.name!r} is {dims}; only square images are "
            "served (height = width)"
        )
    outputs = _dims(graph.output[0])
    if outputs is not None and len(outputs) != 2:
        raise SettingsError(
            f"MODEL_PATH {path}: its first output is {outputs}; the logits are expected, "
            "[N, classes]"
        )
    return Graph(
        input_dims=dims,
        channels_last=channels_last,
        side=fixed.pop() if fixed else None,
        batch=batch if isinstance(batch, int) else None,
        classes=outputs[1] if outputs is not None and isinstance(outputs[1], int) else None,
    )


def classes_by_one_pass(path: Path, graph: Graph, side: int) -> int:
    """The number of classes, where the graph leaves it dynamic: one pass on a blank image."""
    import numpy as np
    import onnxruntime

    batch = graph.batch or 1
    shape = (batch, side, side, 3) if graph.channels_last else (batch, 3, side, side)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        logits = session.run(None, {name: np.zeros(shape, dtype=np.float32)})[0]
    except Exception as error:  # onnxruntime's errors share no base class but Exception
        raise SettingsError(f"MODEL_PATH {path}: onnxruntime cannot run it ({error})") from None
    if logits.ndim != 2:
        raise SettingsError(
            f"MODEL_PATH {path}: its first output is {list(logits.shape)} for {list(shape)}; "
            "the logits are expected, [N, classes]"
        )
    return int(logits.shape[1])
