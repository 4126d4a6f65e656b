from magicpose.data.layout import FramePair, VideoFolder, list_videos
from magicpose.lazy_exports import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _LAZY)
