"""Saved pipeline folders that diffusers' generic entry point loads, as diffusers documents custom pipelines.

``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` finds a pipeline class outside diffusers
through ``model_index.json``: ``"_class_name": ["<module file>", "<class>"]`` names a ``<module file>.py``
inside the folder. The file written here holds a single import of the installed package's class, so the
generic loader returns that very class (not a copy of its source), and every component is loaded by
diffusers' own machinery, the empty-prompt embedding included.

Loading through the class itself (``MagicPosePipeline.from_pretrained``) never runs that file: the class
reads the pointer as its own name, so no ``trust_remote_code`` is needed there.
"""

from __future__ import annotations

import json
from pathlib import Path

from magicpose.files import write_text_atomic
from magicpose.model_index import pipeline_class_name

INDEX_FILE = "model_index.json"


def write_custom_pipeline_files(folder: str | Path, cls: type) -> None:
    """Point ``folder``'s ``model_index.json`` at a one-line module importing ``cls``, written beside it."""
    folder = Path(folder)
    module_file = cls.__module__.rsplit(".", 1)[-1]
    write_text_atomic(
        folder / f"{module_file}.py",
        (
            f'"""Lets diffusers\' generic loader find {cls.__name__}: DiffusionPipeline.from_pretrained(<this folder>, '
            f"trust_remote_code=True).\n\nIt imports the installed package's class (pip install magicpose); nothing "
            f'else runs."""\n\nfrom {cls.__module__} import {cls.__name__}  # noqa: F401\n'
        ),
    )
    index = json.loads((folder / INDEX_FILE).read_text())
    index["_class_name"] = [module_file, cls.__name__]
    write_text_atomic(folder / INDEX_FILE, json.dumps(index, indent=2, sort_keys=True) + "\n")


class GenericLoadingMixin:
    """For a ``DiffusionPipeline`` subclass: ``save_pretrained`` writes the files above, and the class's own
    ``from_pretrained`` reads the pointer as its name instead of executing the folder's module."""

    @classmethod
    def load_config(cls, *args, **kwargs):
        loaded = super().load_config(*args, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded
        if isinstance(config, dict) and pipeline_class_name(config) == cls.__name__:
            config["_class_name"] = cls.__name__
        return loaded

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        write_custom_pipeline_files(save_directory, type(self))
