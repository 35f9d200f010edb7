from __future__ import annotations

import ast
import os
import re
import socket
from pathlib import Path

import pytest

from services import settings
from services.settings import SettingsError, load_settings

# docs/stack.md's table of every variable services/settings.py reads.
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "stack.md"
TABLE_HEADER = "| variable | read by | default | meaning |"
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


def documented_defaults() -> dict[str, str]:
    """The table's rows: variable -> its default cell, as written."""
    lines = DOCUMENT.read_text().splitlines()
    assert TABLE_HEADER in lines, f"{DOCUMENT} has no table headed {TABLE_HEADER!r}"
    rows: dict[str, str] = {}
    for line in lines[lines.index(TABLE_HEADER) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"{DOCUMENT}: not four cells: {line!r}"
        name = cells[0].strip("`")
        assert VARIABLE.fullmatch(name), f"{DOCUMENT}: not a variable: {cells[0]!r}"
        assert name not in rows, f"{DOCUMENT}: {name} has two rows"
        rows[name] = cells[2]
    return rows


def variables_read() -> set[str]:
    """Every variable services/settings.py reads, from its source: the names given to a call
    that takes `environ` (its helpers, `environ.get`, `os.getenv`) or indexing `environ`."""

    def reads_environ(node: ast.AST) -> bool:
        if isinstance(node, ast.Subscript):
            return ast.unparse(node.value) in ("environ", "os.environ")
        if not isinstance(node, ast.Call):
            return False
        function = ast.unparse(node.func)
        return function in ("environ.get", "os.environ.get", "os.getenv") or any(
            isinstance(argument, ast.Name) and argument.id == "environ" for argument in node.args
        )

    found = set(settings.ONNX_VARIABLES)
    for node in ast.walk(ast.parse(Path(settings.__file__).read_text())):
        if reads_environ(node):
            found |= {
                child.value
                for child in ast.walk(node)
                if isinstance(child, ast.Constant)
                and isinstance(child.value, str)
                and VARIABLE.fullmatch(child.value)
            }
    return found


def setting(loaded: settings.Settings, name: str) -> object:
    """The value a variable sets. Settings' fields are the variables' names in lower case; the
    ONNX_VARIABLES describe the user's model (Settings.onnx_model), without their MODEL_ prefix."""
    if name in settings.ONNX_VARIABLES:
        assert loaded.onnx_model is not None, f"{name} is read for MODEL_NAME=onnx only"
        holder, field = loaded.onnx_model, name.lower().removeprefix("model_")
    else:
        holder, field = loaded, name.lower()
    assert hasattr(holder, field), f"{name}: {type(holder).__name__} has no field {field!r}"
    return getattr(holder, field)


def template_pattern(written: str) -> str:
    """A default written as a template, `<hostname>-<pid>-<random>`, as a regular expression."""
    parts = {
        "<hostname>": re.escape(socket.gethostname()),
        "<pid>": str(os.getpid()),
        "<random>": "[0-9a-f]+",
    }
    return re.sub("|".join(map(re.escape, parts)), lambda found: parts[found[0]], written)


def test_the_environment_table_states_every_variable_and_its_default(tmp_path: Path) -> None:
    documented = documented_defaults()
    read = variables_read()
    assert len(read) > 20, f"the scan of services/settings.py found only {sorted(read)}"
    assert not read - set(documented), (
        f"variables without a row in {DOCUMENT}: {read - set(documented)}"
    )
    assert not set(documented) - read, (
        f"rows for variables settings.py does not read: {set(documented) - read}"
    )

    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"an ONNX file")
    for name, cell in documented.items():
        # The user's model's variables are read for MODEL_NAME=onnx only, which needs a file.
        base = {"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file)}
        base = base if name in settings.ONNX_VARIABLES else {}
        if cell.startswith("required"):
            without = {key: value for key, value in base.items() if key != name}
            with pytest.raises(SettingsError, match=name):
                load_settings(without)
            continue
        actual = setting(load_settings(base), name)
        if cell == "unset":
            assert actual is None, f"{name}: the table says unset, settings.py gives {actual!r}"
            continue
        literal = re.fullmatch(r"`([^`]+)`", cell)
        assert literal, f"{name}: the default {cell!r} is not unset, required, or `a value`"
        written = literal.group(1)
        if "<" in written:  # a template: <hostname>-<pid>-<random>
            pattern = template_pattern(written)
            assert re.fullmatch(pattern, str(actual)), f"{name}: {actual!r} is not {written}"
            continue
        # The default as written, read the way the service reads the variable (a number, a
        # path with ~, three channels), must be what the service gets with nothing set.
        stated = setting(load_settings({**base, name: written}), name)
        assert stated == actual, f"{name}: the table says {written}, settings.py gives {actual!r}"


def test_worker_ids_differ_even_for_one_host_and_pid() -> None:
    # Replicas on the host network share the hostname, and each container's worker may be pid 1.
    first, second = load_settings({}).worker_id, load_settings({}).worker_id
    assert first != second
    assert first.startswith(f"{socket.gethostname()}-{os.getpid()}-")
    assert load_settings({"WORKER_ID": "model-3"}).worker_id == "model-3"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH", "0"),
        ("MAX_BATCH", "sixteen"),
        ("NUM_THREADS", "-1"),
        ("MAX_WAIT_MS", "-5"),
        ("MAX_WAIT_MS", "nan"),
        ("REQUEST_TIMEOUT_S", "inf"),
        ("QUEUE_MAX_LEN", "1.5"),
        ("HEARTBEAT_TTL_S", "0.1"),
        ("RUNTIME", "tensorrt"),
        ("DEVICE", "gpu"),
        ("MODEL_NAME", "vgg16"),
        ("REDIS_URL", "localhost:6379"),
        ("MODEL_WEIGHTS", "/no/such/file.pth"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str) -> None:
    environ = {name: value}
    if name == "MODEL_WEIGHTS":
        environ["MODEL_NAME"] = "resnet50"
    with pytest.raises(SettingsError, match=name):
        load_settings(environ)


def test_weights_are_refused_for_a_model_that_ships_its_own(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"x")
    with pytest.raises(SettingsError, match="MODEL_WEIGHTS"):
        load_settings({"MODEL_WEIGHTS": str(weights)})
    assert load_settings({"MODEL_WEIGHTS": str(weights), "MODEL_NAME": "resnet50"}).model_weights


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    """Settings only check that the file can be read; the worker reads the model in it."""
    path = tmp_path / "model.onnx"
    path.write_bytes(b"an ONNX file")
    return path


def test_the_users_onnx_model_has_defaults(onnx_file: Path) -> None:
    settings = load_settings({"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file)})
    assert settings.onnx_model is not None
    assert settings.onnx_model.path == onnx_file
    assert settings.onnx_model.input_size is None  # the model's own; 224 where it is dynamic
    assert settings.onnx_model.resize is None  # the input's side / 0.875
    assert settings.onnx_model.mean == (0.485, 0.456, 0.406)
    assert settings.onnx_model.std == (0.229, 0.224, 0.225)
    assert settings.onnx_model.labels is None
    assert load_settings({}).onnx_model is None


def test_the_users_normalisation_is_read_per_channel(onnx_file: Path) -> None:
    settings = load_settings(
        {
            "MODEL_NAME": "onnx",
            "MODEL_PATH": str(onnx_file),
            "MODEL_MEAN": "0.5, 0.25,0",
            "MODEL_STD": "1,0.5,0.125",
            "MODEL_INPUT_SIZE": "64",
            "MODEL_RESIZE": "80",
            "MODEL_LABELS": str(onnx_file),
        }
    )
    assert settings.onnx_model is not None
    assert settings.onnx_model.mean == (0.5, 0.25, 0.0)
    assert settings.onnx_model.std == (1.0, 0.5, 0.125)
    assert (settings.onnx_model.input_size, settings.onnx_model.resize) == (64, 80)
    assert settings.onnx_model.labels == onnx_file


def test_model_name_onnx_needs_model_path() -> None:
    with pytest.raises(SettingsError, match="MODEL_PATH"):
        load_settings({"MODEL_NAME": "onnx"})


def test_an_onnx_file_is_only_served_by_onnxruntime(onnx_file: Path) -> None:
    with pytest.raises(SettingsError, match="RUNTIME"):
        load_settings({"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file), "RUNTIME": "torch"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_PATH", "/no/such/model.onnx"),
        ("MODEL_INPUT_SIZE", "0"),
        ("MODEL_INPUT_SIZE", "224px"),
        ("MODEL_RESIZE", "-256"),
        ("MODEL_MEAN", "0.485,0.456"),
        ("MODEL_MEAN", "123.7,116.3,103.5"),
        ("MODEL_MEAN", "red,green,blue"),
        ("MODEL_MEAN", "nan,0.5,0.5"),
        ("MODEL_STD", "0,0.224,0.225"),
        ("MODEL_STD", "0.229,0.224,0.225,0.1"),
        ("MODEL_LABELS", "/no/such/labels.txt"),
    ],
)
def test_bad_onnx_model_values_name_their_variable(onnx_file: Path, name: str, value: str) -> None:
    environ = {"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file), name: value}
    with pytest.raises(SettingsError, match=name):
        load_settings(environ)


@pytest.mark.parametrize("name", ["MODEL_PATH", "MODEL_MEAN", "MODEL_LABELS"])
def test_onnx_model_variables_are_refused_for_the_built_in_models(
    onnx_file: Path, name: str
) -> None:
    value = "0.5,0.5,0.5" if name == "MODEL_MEAN" else str(onnx_file)
    with pytest.raises(SettingsError, match=f"{name} is only read for MODEL_NAME=onnx"):
        load_settings({"MODEL_NAME": "resnet50", name: value})
