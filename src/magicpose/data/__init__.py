from magicpose.data.layout import FramePair, VideoFolder, list_videos

__all__ = [
    "FramePair",
    "VideoFolder",
    "list_videos",
    "PairDataset",
    "ShardedSampler",
    "batches_per_epoch",
    "samples_per_epoch",
]

# The training dataset and sampler import torch: load them on first use, so that importing
# magicpose.data.layout (e.g. from the CLI) stays light.
_LAZY = {
    "PairDataset": "magicpose.data.pairs",
    "ShardedSampler": "magicpose.data.sampler",
    "batches_per_epoch": "magicpose.data.sampler",
    "samples_per_epoch": "magicpose.data.sampler",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
