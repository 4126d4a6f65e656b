"""Pose keypoints: schema, OpenPose JSON I/O, ControlNet-style rendering and pose-sequence loading."""

from .normalize import (
    PoseNormalizer,
    PoseStats,
    fit_normalizer,
    normalize_poses,
    person_pose_stats,
    pose_stats,
    smooth_poses,
)
from .openpose_json import read_openpose_json, write_openpose_json
from .render import (
    BODY_COLORS,
    FACE_POINT_COLOR,
    HAND_EDGE_COLORS,
    HAND_EDGES,
    HAND_POINT_COLOR,
    LIMB_SEQ,
    NUM_DRAWN_LIMBS,
    draw_pose,
    draw_pose_batch,
)
from .schema import (
    BODY25_TO_BODY18,
    BODY_NAMES,
    NUM_BODY,
    NUM_FACE,
    NUM_HAND,
    NUM_KEYPOINTS,
    FramePose,
    PersonPose,
    PoseInputError,
)
from .sequence import IMAGE_EXTENSIONS, PoseSequence, load_pose_sequence, natural_sort_key

__all__ = [
    "BODY25_TO_BODY18",
    "BODY_COLORS",
    "BODY_NAMES",
    "FACE_POINT_COLOR",
    "HAND_EDGES",
    "HAND_EDGE_COLORS",
    "HAND_POINT_COLOR",
    "IMAGE_EXTENSIONS",
    "LIMB_SEQ",
    "NUM_BODY",
    "NUM_DRAWN_LIMBS",
    "NUM_FACE",
    "NUM_HAND",
    "NUM_KEYPOINTS",
    "FramePose",
    "PersonPose",
    "PoseInputError",
    "PoseNormalizer",
    "PoseSequence",
    "PoseStats",
    "draw_pose",
    "draw_pose_batch",
    "fit_normalizer",
    "load_pose_sequence",
    "natural_sort_key",
    "normalize_poses",
    "person_pose_stats",
    "pose_stats",
    "read_openpose_json",
    "smooth_poses",
    "write_openpose_json",
]
