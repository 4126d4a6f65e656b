"""The synthetic world: procedurally drawn dancers performing procedural dances, rendered with their exact
OpenPose keypoints, and the writer of datasets in the TikTok layout (``magicpose make-synthetic``).

Modules: :mod:`.identity` (who), :mod:`.motion` (how they move), :mod:`.render` (drawing), :mod:`.dataset`
(sequences, the dataset writer; its command is ``magicpose.commands.make_synthetic``). The names below are the ones the rest of the
package, the tests and the benchmarks use.
"""

from magicpose.synthetic.dataset import (
    ID_RANGES,
    make_synthetic,
    pose_sequence,
    split_ids,
    synthesize_video,
)
from magicpose.synthetic.identity import Identity
from magicpose.synthetic.motion import FPS, DanceState, Motion, keypoints_from_state
from magicpose.synthetic.render import render_background, render_ground_truth, render_person

__all__ = [
    "FPS",
    "ID_RANGES",
    "DanceState",
    "Identity",
    "Motion",
    "keypoints_from_state",
    "make_synthetic",
    "pose_sequence",
    "render_background",
    "render_ground_truth",
    "render_person",
    "split_ids",
    "synthesize_video",
]
