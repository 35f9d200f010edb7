"""matrix.json: load it, validate it (JSON Schema, then what a schema cannot say), list its points.

Every entry point reads the matrix through `load_matrix`, so one wrong file gives one message
naming the key and what is allowed, before anything starts.
"""

import copy
import itertools
import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from harness import REPO_ROOT
from harness.machine import gpu_description

SCHEMA_PATH = REPO_ROOT / "matrix.schema.json"
TIMESPAN_PATTERN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class MatrixError(Exception):
    """A matrix that cannot be run; its text is the one line the user sees."""

    def __init__(self, source: str, key: str, problem: str, allowed: str) -> None:
        super().__init__(f"{source}: {key}: {problem}; allowed: {allowed}")


def matrix_path() -> Path:
    return Path(os.environ.get("MATRIX") or REPO_ROOT / "matrix.json")


def reports_dir() -> Path:
    return Path(os.environ.get("REPORTS") or REPO_ROOT / "reports")


def parse_run_time(text: str) -> int:
    """Seconds in a Locust time span ("20", "30s", "5m", "1h30m"), as Locust itself reads it."""
    if text.isdigit():
        return int(text)
    parts = TIMESPAN_PATTERN.match(text)
    if not text or parts is None:
        raise ValueError(f"{text!r} is not a Locust time span")
    hours, minutes, seconds = (int(parts.group(unit) or 0) for unit in "hms")
    return int(timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds())


@dataclass(frozen=True)
class StackConfig:
    compose_files: dict[str, list[str]]
    scale_service: str
    ready_path: str
    ready_replicas_field: str
    procfile: Path
    env: dict[str, str]


@dataclass(frozen=True)
class RunPoint:
    """One Locust run of a sweep."""

    target: str
    models: int
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Matrix:
    source: Path
    data: dict[str, Any]  # the matrix as used: the file with the schema's defaults filled in

    @property
    def models_list(self) -> list[int]:
        return self.data["num_models_list"]

    @property
    def targets(self) -> list[str]:
        return self.data["targets"]

    @property
    def run_time(self) -> str:
        return self.data["run_time"]

    @property
    def run_time_s(self) -> int:
        return parse_run_time(self.data["run_time"])

    @property
    def host(self) -> str:
        return self.data["host"].rstrip("/")

    @property
    def backend(self) -> str:
        return self.data["backend"]

    @property
    def warmup_requests(self) -> int:
        return self.data["warmup_requests"]

    @property
    def locustfile(self) -> Path:
        return REPO_ROOT / self.data["locustfile"]

    @property
    def locust_processes(self) -> int:
        return self.data["locust_processes"]

    @property
    def ready_timeout_s(self) -> float:
        return self.data["ready_timeout_s"]

    @property
    def stack(self) -> StackConfig:
        stack = self.data["stack"]
        return StackConfig(
            compose_files=stack["compose_files"],
            scale_service=stack["scale_service"],
            ready_path=stack["ready_path"],
            ready_replicas_field=stack["ready_replicas_field"],
            procfile=REPO_ROOT / stack["procfile"],
            env=stack["env"],
        )

    def points(self, target: str, models: int) -> list[RunPoint]:
        """Every users x spawn-rate run at one scale, in the matrix's order."""
        return [
            RunPoint(target=target, models=models, users=users, spawn_rate=spawn_rate)
            for users, spawn_rate in itertools.product(
                self.data["num_users_list"], self.data["spawn_rate_list"]
            )
        ]

    def check_target(self, target: str | None) -> str:
        """The target to run (the first listed when None); a GPU target needs a GPU here."""
        chosen = target or self.targets[0]
        if chosen not in self.targets:
            raise MatrixError(
                self.source.name, "targets", f"{chosen!r} is not listed", ", ".join(self.targets)
            )
        if chosen == "gpu" and gpu_description() is None:
            raise MatrixError(
                self.source.name,
                "targets",
                "'gpu' asked for but `nvidia-smi -L` shows no GPU on this machine",
                "cpu",
            )
        return chosen


def load_matrix(path: Path | None = None) -> Matrix:
    source = path or matrix_path()
    name = source.name
    try:
        data = json.loads(source.read_text())
    except FileNotFoundError:
        raise MatrixError(name, "(file)", f"{source} does not exist", "a path in MATRIX") from None
    except json.JSONDecodeError as error:
        raise MatrixError(
            name,
            "(file)",
            f"not JSON: {error.msg} at line {error.lineno} column {error.colno}",
            "a JSON object",
        ) from None
    schema = json.loads(SCHEMA_PATH.read_text())
    problem = best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if problem is not None:
        raise _schema_error(name, problem)
    data = _with_api_port(name, _with_defaults(schema, data))
    _check_semantics(name, data)
    return Matrix(source=source, data=data)


def _with_defaults(schema: dict, value: Any) -> Any:
    """The value with the schema's `default`s filled in, so the defaults live in one place."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    filled = copy.deepcopy(value)
    for key, subschema in schema.get("properties", {}).items():
        if key not in filled and "default" in subschema:
            filled[key] = copy.deepcopy(subschema["default"])
        if key in filled:
            filled[key] = _with_defaults(subschema, filled[key])
    return filled


def _with_api_port(name: str, data: dict) -> dict:
    """API_PORT in the environment moves the API of `host` to that port (README: inv up)."""
    port = os.environ.get("API_PORT", "").strip()
    if not port:
        return data
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MatrixError(name, "host", f"API_PORT={port!r} is not a port", "1 to 65535")
    parsed = urlsplit(data["host"])
    moved = parsed._replace(netloc=f"{parsed.hostname}:{int(port)}")
    return {**data, "host": urlunsplit(moved)}


def _check_semantics(name: str, data: dict) -> None:
    if parse_run_time(data["run_time"]) == 0:
        raise MatrixError(name, "run_time", f"{data['run_time']!r} is zero", "a positive time span")
    locustfile = REPO_ROOT / data["locustfile"]
    if not locustfile.is_file():
        raise MatrixError(
            name, "locustfile", f"{locustfile} does not exist", "a file in the repository"
        )


def _key_path(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _schema_error(name: str, error: ValidationError) -> MatrixError:
    key = _key_path(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "additionalProperties":
        allowed = [key for key in schema.get("properties", {}) if key != "$schema"]
        unknown = sorted(set(error.instance) - set(allowed))
        if not allowed:
            return MatrixError(name, key, "takes no keys", "{}")
        key = _key_path([*error.absolute_path, unknown[0]])
        return MatrixError(name, key, "unknown key", ", ".join(allowed))
    if kind == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        missing_key = missing.group(1) if missing else "?"
        described = schema.get("properties", {}).get(missing_key, {}).get("description")
        key = _key_path([*error.absolute_path, missing_key])
        return MatrixError(name, key, "missing", described or "see matrix.schema.json")
    if kind == "type":
        return MatrixError(
            name,
            key,
            f"{json.dumps(error.instance)} is not of type {error.validator_value}",
            f"a value of type {error.validator_value}",
        )
    if kind == "minItems":
        return MatrixError(name, key, "empty list", "a list of at least one value")
    if kind == "uniqueItems":
        return MatrixError(name, key, "a value is repeated", "each value once")
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return MatrixError(
            name,
            key,
            f"{json.dumps(error.instance)} is out of range",
            f"numbers {bound[kind]} {error.validator_value}",
        )
    if kind == "enum":
        return MatrixError(
            name,
            key,
            f"{json.dumps(error.instance)} is not allowed",
            ", ".join(str(choice) for choice in error.validator_value),
        )
    if "propertyNames" in error.absolute_schema_path:
        key = _key_path([*error.absolute_path, error.instance])
        return MatrixError(name, key, "not a variable name", "UPPER_CASE names like MODEL_NAME")
    if kind in ("pattern", "minLength"):
        examples = schema.get("examples")
        allowed = (
            "e.g. " + ", ".join(examples) if examples else f"text matching {schema.get('pattern')}"
        )
        return MatrixError(name, key, f"{json.dumps(error.instance)} is not valid", allowed)
    return MatrixError(name, key, error.message, "see matrix.schema.json")
