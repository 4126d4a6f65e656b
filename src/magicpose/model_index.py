"""What a pipeline folder's ``model_index.json`` names, read without importing any pipeline (``magicpose.weights``
checks folders with it, ``magicpose.pipelines.generic_loading`` writes the form diffusers' generic loader reads)."""

from __future__ import annotations


def pipeline_class_name(index: dict) -> str | None:
    """The class a ``model_index.json`` names, in either form (``"Name"``, or ``["module file", "Name"]`` as
    ``magicpose.pipelines.generic_loading`` writes it for diffusers' generic loader)."""
    name = index.get("_class_name")
    if isinstance(name, list) and len(name) == 2 and all(isinstance(part, str) for part in name):
        return name[1]
    return name if isinstance(name, str) else None
