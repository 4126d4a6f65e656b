"""Align driving poses to the reference body: one global scale + shift, or per-bone length ratios.

A driving video's dancer rarely has the reference's size, position or proportions; drawn as is, the pose maps
ask the model for a body the reference does not have (the "gorilla limbs" of MusePose #15, the offsets of
MimicMotion-wrapper #23). Two fixes from the image-animation literature, re-implemented on this package's
pose types (OpenPose-18 body, see :data:`~magicpose.pose.schema.BODY_NAMES`):

**Global** (:func:`fit_global_alignment`, MimicMotion-style). One isotropic scale ``s`` and a shift ``t``,
``p' = s * p + t``, fitted by least squares on the first driving frame so that its body lands on the
reference's: ``min_{s,t} sum_i |s d_i + t - r_i|^2`` over the joints visible in both, which has the closed
form ``s = sum(d~ . r~) / sum(|d~|^2)`` on centred points and ``t = mean(r) - s mean(d)``. One scale, not
separate x/y scales: a camera's zoom is isotropic, while the x-spread of the keypoints depends on the pose
(arms out or down), so a separate x scale fitted on one frame would squash or stretch the whole body;
MimicMotion too fits one scale (its x scale is its y scale corrected for the aspect ratio). By default the
fit uses MimicMotion's torso-and-head joints (nose, neck, shoulders, hips, eyes, ears), whose layout barely
depends on the pose (``joints="all"`` uses all 18); when fewer than two of them are visible in both poses,
all common body joints are used. A non-positive least-squares scale (anticorrelated points, unusable) falls
back to the ratio of the RMS spreads.

**Bones** (:func:`fit_bone_alignment`, :func:`align_bones`, UniAnimate/MusePose-style). Every bone of the
OpenPose-18 tree rooted at the neck (neck-shoulders, upper arms, forearms, neck-hips, thighs, shins,
neck-nose, nose-eyes, eyes-ears) gets the ratio ``reference length / first-driving-frame length``. Each frame
is rebuilt down the tree from the root: the neck is placed by the global alignment and each child at
``parent' + ratio * (child - parent)``, so every bone keeps its driving direction (joint angles preserved
exactly) and its driving length times the ratio. Hands follow their wrist (translated with it and scaled
about it by the forearm's ratio), the face follows the nose (scaled about it by the head ratio: the mean
ratio of the measured nose-eye and eye-ear bones, else the neck-nose ratio, else the global scale).

Ratio rules: a bone not measurable in both the reference and the first driving frame takes its mirror
bone's ratio (left for right), else the global scale; every ratio is clipped to ``[s / max_ratio,
s * max_ratio]`` (``s`` the global scale, ``max_ratio`` 2 by default), so a limb foreshortened in the first
frame (pointing at the camera) cannot blow up in the others.

Missing joints (score 0) stay missing. A visible joint whose parent is missing in that frame is placed from
its nearest visible ancestor, scaled by the mean ratio of the bones in between; a visible joint without a
visible ancestor (the neck is missing) starts its own subtree, placed by the global alignment. A hand whose
body wrist is missing uses its own root point (hand point 0, the wrist) in its place; a face without the
body nose uses face point 30 (the nose tip); a hand or face without either is moved by the global alignment.

**Sequences** (:func:`align_poses`): the first person of each frame is aligned; other people are dropped by
default (``other_people="drop"``; ``"keep"`` copies them unchanged, ``"transform"`` moves them by the first
person's global alignment), as in :mod:`magicpose.pose.normalize`. The "first driving frame" is the first
frame whose first person shares at least two visible body joints with the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .render import draw_pose
from .schema import BODY_NAMES, NUM_BODY, FramePose, PersonPose, PoseInputError

__all__ = [
    "ALIGN_MODES",
    "BoneAlignment",
    "GlobalAlignment",
    "align_bones",
    "align_poses",
    "alignment_preview",
    "fit_bone_alignment",
    "fit_global_alignment",
]

ALIGN_MODES = ("none", "global", "bones")
_OTHER_PEOPLE = ("drop", "keep", "transform")
_J = {name: i for i, name in enumerate(BODY_NAMES)}
NECK, NOSE = _J["neck"], _J["nose"]
R_WRIST, L_WRIST = _J["right_wrist"], _J["left_wrist"]
FACE_NOSE_TIP = 30  # the nose tip in OpenPose's 70-point face
# MimicMotion's fitting joints: torso and head, whose layout barely changes with the pose.
TORSO_HEAD = tuple(
    _J[n]
    for n in (
        "nose",
        "neck",
        "right_shoulder",
        "left_shoulder",
        "right_hip",
        "left_hip",
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
    )
)
# Parent of each joint in the tree rooted at the neck (the neck's is -1); ORDER lists parents first.
PARENT: tuple[int, ...] = (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 1, 11, 12, 0, 0, 14, 15)
ORDER: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 14, 15, 16, 17)
# The same bone on the other side (indexed by the bone's child joint).
MIRROR = {2: 5, 3: 6, 4: 7, 8: 11, 9: 12, 10: 13, 14: 15, 16: 17}
MIRROR.update({b: a for a, b in MIRROR.items()})
HEAD_BONES = (14, 15, 16, 17)  # nose-eyes, eyes-ears
_EPS = 1e-6  # px: shorter bones or spreads cannot give a ratio


def _seen(points: np.ndarray) -> np.ndarray:
    return (points[:, 2] > 0) & np.isfinite(points[:, :2]).all(axis=1)


@dataclass(frozen=True)
class GlobalAlignment:
    """``p' = scale * p + (shift_x, shift_y)`` in pixels (build it with :func:`fit_global_alignment`)."""

    scale: float
    shift_x: float
    shift_y: float

    def map_points(self, xy: np.ndarray) -> np.ndarray:
        """Map an (N, 2) array of pixel coordinates (float64 out)."""
        return self.scale * np.asarray(xy, dtype=np.float64) + (self.shift_x, self.shift_y)

    def apply(self, person: PersonPose) -> PersonPose:
        """``person`` moved: every visible point of body, hands and face; missing points untouched."""
        arr = person.to_array()
        seen = _seen(arr)
        arr[seen, :2] = self.map_points(arr[seen, :2])
        return PersonPose.from_array(arr)


def fit_global_alignment(
    reference: PersonPose, driving_first: PersonPose, joints: str = "torso"
) -> GlobalAlignment:
    """Least-squares scale + shift taking ``driving_first``'s body onto ``reference``'s (module docstring).

    ``joints``: ``"torso"`` (MimicMotion's torso-and-head joints, default) or ``"all"`` (all 18). Raises
    :class:`PoseInputError` when the two bodies share fewer than two visible joints or those coincide.
    """
    if joints not in ("torso", "all"):
        raise ValueError(f"joints must be 'torso' or 'all', got {joints!r}")
    ref, drv = np.asarray(reference.body, np.float64), np.asarray(driving_first.body, np.float64)
    common = _seen(ref) & _seen(drv)
    chosen = np.zeros(NUM_BODY, bool)
    chosen[list(TORSO_HEAD) if joints == "torso" else slice(None)] = True
    if (common & chosen).sum() >= 2:
        common &= chosen
    if common.sum() < 2:
        raise PoseInputError(
            f"the reference and the first driving pose share {int(common.sum())} visible body joint(s): "
            "alignment needs at least two (use a reference photo and a driving video that show the body)"
        )
    r, d = ref[common, :2], drv[common, :2]
    rc, dc = r - r.mean(axis=0), d - d.mean(axis=0)
    spread = float((dc**2).sum())
    if spread < _EPS**2:
        raise PoseInputError(
            "the first driving pose's joints all lie on one point: alignment cannot fit a scale"
        )
    scale = float((dc * rc).sum()) / spread
    if not scale > 0:
        scale = float(np.sqrt((rc**2).sum() / spread))
    shift = r.mean(axis=0) - scale * d.mean(axis=0)
    return GlobalAlignment(scale, float(shift[0]), float(shift[1]))


def _bone_lengths(body: np.ndarray) -> np.ndarray:
    """Length of the bone ending at each joint (NaN for the root or a bone with a missing end)."""
    seen = _seen(body)
    out = np.full(NUM_BODY, np.nan)
    for j, p in enumerate(PARENT):
        if p >= 0 and seen[j] and seen[p]:
            out[j] = float(np.hypot(*(body[j, :2] - body[p, :2])))
    return out


@dataclass(frozen=True)
class BoneAlignment:
    """Per-bone ratios and the global alignment placing the root (build it with :func:`fit_bone_alignment`).

    ``ratios[j]``: the length ratio of the bone ending at joint ``j`` (``ratios[neck]`` is the global scale,
    unused); ``measured[j]``: whether it was measured (else taken from the mirror bone or the global scale);
    ``head_ratio``: the face's scale.
    """

    global_alignment: GlobalAlignment
    ratios: tuple[float, ...]
    measured: tuple[bool, ...]
    head_ratio: float

    def _chain_ratio(self, ancestor: int, joint: int) -> float:
        """Mean ratio of the bones from ``ancestor`` down to ``joint``."""
        ratios = []
        while joint != ancestor:
            ratios.append(self.ratios[joint])
            joint = PARENT[joint]
        return float(np.mean(ratios))

    def _place(self, point: np.ndarray, joint: int, drv: np.ndarray, out: np.ndarray, seen: np.ndarray):
        """Where ``point`` goes if it stood for ``joint``: from the nearest visible strict ancestor, else
        by the global alignment."""
        a = PARENT[joint]
        while a >= 0 and not seen[a]:
            a = PARENT[a]
        if a < 0:
            return self.global_alignment.map_points(point[None])[0]
        return out[a] + self._chain_ratio(a, joint) * (point - drv[a])

    def _follow(
        self,
        part: np.ndarray,
        anchor_joint: int,
        anchor_point: int,
        ratio: float,
        drv: np.ndarray,
        out: np.ndarray,
        seen: np.ndarray,
    ) -> np.ndarray:
        """Hand or face points: translated with their anchor joint and scaled about it by ``ratio``."""
        part = np.asarray(part, np.float64).copy()
        part_seen = _seen(part)
        if not part_seen.any():
            return part
        if seen[anchor_joint]:
            src, dst = drv[anchor_joint], out[anchor_joint]
        elif part_seen[anchor_point]:
            src = part[anchor_point, :2]
            dst = self._place(src, anchor_joint, drv, out, seen)
        else:
            part[part_seen, :2] = self.global_alignment.map_points(part[part_seen, :2])
            return part
        part[part_seen, :2] = dst + ratio * (part[part_seen, :2] - src)
        return part

    def apply(self, person: PersonPose) -> PersonPose:
        """``person`` rebuilt bone by bone (module docstring); missing points stay missing, untouched."""
        body = np.asarray(person.body, np.float64)
        seen = _seen(body)
        drv = body[:, :2]
        out = drv.copy()
        for j in ORDER:
            if seen[j]:
                out[j] = self._place(drv[j], j, drv, out, seen)
        new_body = body.copy()
        new_body[seen, :2] = out[seen]
        return PersonPose(
            body=new_body,
            left_hand=self._follow(person.left_hand, L_WRIST, 0, self.ratios[L_WRIST], drv, out, seen),
            right_hand=self._follow(person.right_hand, R_WRIST, 0, self.ratios[R_WRIST], drv, out, seen),
            face=self._follow(person.face, NOSE, FACE_NOSE_TIP, self.head_ratio, drv, out, seen),
        )


def fit_bone_alignment(
    reference: PersonPose, driving_first: PersonPose, *, joints: str = "torso", max_ratio: float = 2.0
) -> BoneAlignment:
    """Per-bone ratios ``reference length / driving_first length`` and the root's global alignment.

    ``joints`` goes to :func:`fit_global_alignment`; ratios are clipped to ``[s / max_ratio, s * max_ratio]``
    around the global scale ``s`` (``max_ratio`` None: no clipping).
    """
    if max_ratio is not None and not max_ratio >= 1:
        raise ValueError(f"max_ratio must be >= 1 or None, got {max_ratio!r}")
    glob = fit_global_alignment(reference, driving_first, joints)
    ref_len = _bone_lengths(np.asarray(reference.body, np.float64))
    drv_len = _bone_lengths(np.asarray(driving_first.body, np.float64))
    measured = np.isfinite(ref_len) & np.isfinite(drv_len) & (np.nan_to_num(drv_len) > _EPS)
    raw = np.where(measured, ref_len / np.where(measured, drv_len, 1.0), np.nan)
    ratios = np.full(NUM_BODY, glob.scale)
    for j in range(NUM_BODY):
        if measured[j]:
            ratios[j] = raw[j]
        elif j in MIRROR and measured[MIRROR[j]]:
            ratios[j] = raw[MIRROR[j]]
    head = [ratios[j] for j in HEAD_BONES if measured[j]]
    head_ratio = float(np.mean(head)) if head else float(ratios[NOSE])
    if max_ratio is not None:
        low, high = glob.scale / max_ratio, glob.scale * max_ratio
        ratios = np.clip(ratios, low, high)
        head_ratio = float(np.clip(head_ratio, low, high))
    ratios[NECK] = glob.scale
    return BoneAlignment(glob, tuple(float(r) for r in ratios), tuple(bool(m) for m in measured), head_ratio)


def _first_usable(reference: PersonPose, people: Sequence[PersonPose | None]) -> PersonPose:
    """The first driving person sharing at least two visible body joints with the reference."""
    ref_seen = _seen(np.asarray(reference.body))
    for p in people:
        if p is not None and (ref_seen & _seen(np.asarray(p.body))).sum() >= 2:
            return p
    raise PoseInputError(
        "no driving frame has a person sharing two visible body joints with the reference: alignment needs "
        "a reference and a driving video that both show the body (or use alignment mode 'none')"
    )


def align_bones(reference: PersonPose, driving: Sequence[PersonPose], **kwargs) -> list[PersonPose]:
    """Every driving pose rebuilt with the reference's bone-length ratios (:func:`fit_bone_alignment` on
    the first usable driving pose; ``kwargs`` go there)."""
    driving = list(driving)
    if not driving:
        return []
    fit = fit_bone_alignment(reference, _first_usable(reference, driving), **kwargs)
    return [fit.apply(p) for p in driving]


def align_poses(
    reference: PersonPose | FramePose,
    driving: Sequence[FramePose],
    mode: str = "bones",
    *,
    other_people: str = "drop",
    canvas: tuple[int, int] | None = None,
    joints: str = "torso",
    max_ratio: float = 2.0,
) -> list[FramePose]:
    """Align the first person of each driving frame to ``reference`` (``mode``: ``"none"``, ``"global"``,
    ``"bones"``); returns new frames.

    ``reference``: a :class:`PersonPose`, or a :class:`FramePose` whose first person is used and whose
    canvas the output takes. ``canvas`` (width, height) overrides the output canvas; by default a
    :class:`PersonPose` reference keeps each driving frame's canvas, as does mode ``"none"`` (the points
    stay in driving pixels). ``other_people``: ``"drop"`` (default), ``"keep"`` (copied unchanged) or
    ``"transform"`` (moved by the global alignment; unchanged under ``"none"``). Frames without a person
    stay empty.
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"alignment mode must be one of {ALIGN_MODES}, got {mode!r}")
    if other_people not in _OTHER_PEOPLE:
        raise ValueError(f"other_people must be one of {_OTHER_PEOPLE}, got {other_people!r}")
    driving = list(driving)
    if isinstance(reference, FramePose):
        if not reference.people:
            raise PoseInputError("the reference pose has no person: alignment needs its keypoints")
        canvas = canvas or (reference.width, reference.height)
        reference = reference.people[0]
    if mode == "none":
        canvas = None
    firsts = [f.people[0] if f.people else None for f in driving]
    glob = move = None
    if mode != "none" and any(p is not None for p in firsts):
        first = _first_usable(reference, firsts)
        if mode == "bones":
            fit = fit_bone_alignment(reference, first, joints=joints, max_ratio=max_ratio)
            glob, move = fit.global_alignment, fit.apply
        else:
            glob = fit_global_alignment(reference, first, joints)
            move = glob.apply
    out = []
    for frame in driving:
        people = []
        for j, person in enumerate(frame.people):
            if j == 0:
                people.append(move(person) if move else PersonPose.from_array(person.to_array()))
            elif other_people == "transform" and glob is not None:
                people.append(glob.apply(person))
            elif other_people != "drop":
                people.append(PersonPose.from_array(person.to_array()))
        width, height = canvas or (frame.width, frame.height)
        out.append(FramePose(width, height, people))
    return out


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    if image.shape[0] == height:
        return image
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    interp = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def _on_canvas(frame: FramePose, width: int, height: int) -> FramePose:
    """``frame`` with its points rescaled from its canvas to ``width`` x ``height``."""
    if (frame.width, frame.height) == (width, height):
        return frame
    people = []
    for person in frame.people:
        arr = person.to_array()
        arr[:, 0] *= width / frame.width
        arr[:, 1] *= height / frame.height
        people.append(PersonPose.from_array(arr))
    return FramePose(width, height, people)


def alignment_preview(
    reference_image: np.ndarray,
    reference_pose: FramePose,
    driving_before: FramePose,
    driving_after: FramePose,
    gap: int = 4,
) -> np.ndarray:
    """One uint8 RGB image: the reference with its skeleton drawn over it | the first driving pose before
    alignment (on its own canvas) | after it, drawn over the reference dimmed to 35 % so the fit to the
    reference body shows. Poses on another canvas than the image are rescaled to it; panels have the
    image's height and are ``gap`` black pixels apart."""
    image = np.asarray(reference_image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"reference_image must be an (H, W, 3) RGB array, got shape {image.shape}")
    image = image[..., :3].astype(np.uint8)
    height, width = image.shape[:2]

    def over(background: np.ndarray, frame: FramePose) -> np.ndarray:
        drawn = draw_pose(_on_canvas(frame, width, height))
        return np.where(drawn.any(axis=2, keepdims=True), drawn, background)

    dimmed = (image.astype(np.float32) * 0.35).round().astype(np.uint8)
    panels = [
        over(image, reference_pose),
        _fit_height(draw_pose(driving_before), height),
        over(dimmed, driving_after),
    ]
    spacer = np.zeros((height, gap, 3), np.uint8)
    return np.concatenate([panels[0], spacer, panels[1], spacer, panels[2]], axis=1)
