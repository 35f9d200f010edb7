"""matrix.json against matrix.schema.json: the defaults the schema declares, and one message per
wrong file that names the key and what is allowed."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from harness import REPO_ROOT

SCHEMA_PATH = REPO_ROOT / "matrix.schema.json"
# Keys a matrix may still give under their older names: older -> newer (a dotted key is nested).
RENAMED = {"locust_processes": "locust_workers", "capacity_tolerance": "capacity.tolerance"}


class MatrixError(Exception):
    """A matrix that cannot be run; its text is the one line the user sees."""

    def __init__(self, source: str, key: str, problem: str, allowed: str) -> None:
        super().__init__(f"{source}: {key}: {problem}; allowed: {allowed}")


def read_validated(source: Path) -> dict[str, Any]:
    """The file's JSON, valid against the schema, with the schema's defaults filled in."""
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
    return _with_defaults(schema, _with_newer_names(name, data))


def _with_newer_names(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The matrix with every older key moved to its newer name, so the code reads one name."""
    renamed = copy.deepcopy(data)
    for older, newer in RENAMED.items():
        if older not in renamed:
            continue
        *parents, last = newer.split(".")
        place = renamed
        for parent in parents:
            place = place.setdefault(parent, {})
        if last in place:
            raise MatrixError(name, older, f"given with {newer}", f"one of them ({newer})")
        place[last] = renamed.pop(older)
    return renamed


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
