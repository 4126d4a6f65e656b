"""Synthetic dancers, part 2: how they move, and where their keypoints are.

A :class:`Motion` (``Motion.from_id(j)``) is a procedural dance: every joint angle is a smooth sum of
a few sinusoids on a shared tempo, plus a torso turn (yaw), side steps, a slowly moving camera and a
face (mouth opening, blinks). ``motion.state(t)`` gives the :class:`DanceState` at time ``t``
(seconds); :func:`keypoints_from_state` poses a given :class:`Identity` that way and returns its exact
OpenPose keypoints (body 18, both hands 21, face 70) on a ``size`` x ``size`` canvas.

Geometry: the body is a 3-D stick figure (x to the image right when facing the camera, y down, z
towards the camera, lengths in standing heights), turned by the yaw about the vertical axis through
the hips and projected orthographically. The lowest ankle always stands on the floor, so bending the
knees lowers the body. Every keypoint keeps its true projected coordinates; the score is 1 where
the point is visible and 0 where it lies outside the canvas or on the far side of the head (ears
and face points turned away from the camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from magicpose.pose.schema import PersonPose
from magicpose.synthetic.identity import Identity, check_id

__all__ = [
    "FACE_LOCAL",
    "FPS",
    "NOSE_TIP",
    "DanceState",
    "Motion",
    "keypoints_from_state",
]

FPS = 8.0  # frame rate of synthetic videos (frame k is at t = k / FPS seconds)

_MOTION_STREAM = 0x30710


# --------------------------------------------------------------------------------------------------
# the face: 70 points on the unit head sphere (iBUG-68 order + 2 pupils)


def _face_layout(mouth_open: float, eye_open: float) -> np.ndarray:
    """(70, 2) head-local (u, v) of the face points: u to the image right, v down, head radius 1."""
    pts = []
    # 0-16 jaw, from beside the image-left ear round the chin to the other side
    for k in range(17):
        a = math.pi * k / 16
        pts.append((-0.92 * math.cos(a), -0.02 + 0.93 * math.sin(a)))
    # 17-21, 22-26 brows (image-left brow first)
    for c in (-0.36, 0.36):
        for i in range(5):
            du = (i - 2) * 0.1
            pts.append((c + du, -0.42 + 0.018 * (du / 0.1) ** 2))
    # 27-30 nose bridge down to the tip, 31-35 nostrils
    pts += [(0.0, -0.24 + 0.15 * i) for i in range(4)]
    pts += [(-0.14 + 0.07 * i, 0.3 - 0.03 * (1 - abs(i - 2) / 2)) for i in range(5)]
    # 36-41 image-left eye from the outer corner; 42-47 image-right eye from the inner corner
    hw, hh = 0.2, 0.15 * eye_open
    for c in (-0.36, 0.36):
        pts += [
            (c - hw, -0.14),
            (c - 0.08, -0.14 - hh),
            (c + 0.08, -0.14 - hh),
            (c + hw, -0.14),
            (c + 0.08, -0.14 + hh),
            (c - 0.08, -0.14 + hh),
        ]
    # 48-59 outer lips, 60-67 inner lips; an open mouth drops the lower lip and narrows a little
    gap = 0.22 * mouth_open
    w = 0.3 * (1 - 0.15 * mouth_open)
    my = 0.5
    upper = [
        (-w, my),
        (-0.66 * w, my - 0.06),
        (-0.27 * w, my - 0.085),
        (0.0, my - 0.07),
        (0.27 * w, my - 0.085),
        (0.66 * w, my - 0.06),
        (w, my),
    ]
    lower = [
        (0.66 * w, my + 0.07 + 0.7 * gap),
        (0.27 * w, my + 0.095 + gap),
        (0.0, my + 0.1 + gap),
        (-0.27 * w, my + 0.095 + gap),
        (-0.66 * w, my + 0.07 + 0.7 * gap),
    ]
    pts += upper + lower
    iw = 0.8 * w
    pts += [
        (-iw, my),
        (-0.35 * iw, my),
        (0.0, my),
        (0.35 * iw, my),
        (iw, my),
        (0.35 * iw, my + 0.8 * gap),
        (0.0, my + gap),
        (-0.35 * iw, my + 0.8 * gap),
    ]
    # 68, 69 pupils (image-left eye first)
    pts += [(-0.36, -0.14), (0.36, -0.14)]
    return np.array(pts, dtype=np.float64)


FACE_LOCAL = _face_layout(0.0, 1.0)  # the neutral face (mouth closed, eyes open)
NOSE_TIP = 30
_NOSE_PROTRUSION = 0.14  # the nose tip stands this far out of the head sphere
_EAR_VISIBLE = -0.3  # an ear is visible while its outward normal's z is above this
_FACE_VISIBLE = 0.02


def _sphere_depth(uv: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(1.0 - (uv**2).sum(axis=1), 0.0, None))


# --------------------------------------------------------------------------------------------------
# dance state and motion


@dataclass(frozen=True)
class DanceState:
    """The pose of a dancer at one instant; angles in degrees.

    Arms: ``*_arm_raise`` is the upper arm's angle from hanging down, outwards in the body plane;
    ``*_arm_forward`` tips it towards the camera; ``*_elbow`` bends the forearm further (negative:
    inwards). Legs: ``*_leg_out`` spreads the thigh sideways, ``*_leg_lift`` swings it forward and
    ``*_knee`` bends the knee. ``yaw`` turns the whole body (positive: towards the image right),
    ``head_turn`` and ``head_roll`` move the head on top of that, ``lean`` tilts the upper body.
    ``step`` shifts the dancer sideways (standing heights); ``camera_*`` zoom and shift the view
    (scale factor, fractions of the canvas). ``mouth_open`` and ``eye_open`` are in [0, 1].
    """

    r_arm_raise: float = 15.0
    l_arm_raise: float = 15.0
    r_arm_forward: float = 0.0
    l_arm_forward: float = 0.0
    r_elbow: float = 10.0
    l_elbow: float = 10.0
    r_hand_curl: float = 0.2
    l_hand_curl: float = 0.2
    r_leg_out: float = 4.0
    l_leg_out: float = 4.0
    r_leg_lift: float = 0.0
    l_leg_lift: float = 0.0
    r_knee: float = 0.0
    l_knee: float = 0.0
    lean: float = 0.0
    yaw: float = 0.0
    head_turn: float = 0.0
    head_roll: float = 0.0
    step: float = 0.0
    camera_scale: float = 1.0
    camera_x: float = 0.0
    camera_y: float = 0.0
    mouth_open: float = 0.0
    eye_open: float = 1.0


# name: (offset range, amplitude range, (low, high) soft limits)
_CHANNELS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "r_arm_raise": ((10, 80), (35, 110), (-15, 175)),
    "l_arm_raise": ((10, 80), (35, 110), (-15, 175)),
    "r_arm_forward": ((0, 25), (5, 30), (-25, 70)),
    "l_arm_forward": ((0, 25), (5, 30), (-25, 70)),
    "r_elbow": ((0, 70), (30, 90), (-45, 150)),
    "l_elbow": ((0, 70), (30, 90), (-45, 150)),
    "r_hand_curl": ((0.1, 0.5), (0.1, 0.4), (0, 1)),
    "l_hand_curl": ((0.1, 0.5), (0.1, 0.4), (0, 1)),
    "r_leg_out": ((2, 10), (3, 12), (-8, 40)),
    "l_leg_out": ((2, 10), (3, 12), (-8, 40)),
    "r_lift": ((-0.8, 0.0), (0.5, 1.5), (-2, 2)),
    "l_lift": ((-0.8, 0.0), (0.5, 1.5), (-2, 2)),
    "squat": ((0.0, 0.35), (0.1, 0.5), (0, 1)),
    "lean": ((-4, 4), (2, 12), (-20, 20)),
    "yaw": ((-15, 15), (0, 50), (-55, 55)),
    "head_turn": ((-4, 4), (0, 10), (-12, 12)),
    "head_roll": ((-3, 3), (2, 10), (-14, 14)),
    "step": ((-0.02, 0.02), (0.0, 0.07), (-0.12, 0.12)),
    "mouth": ((-0.8, 0.1), (0.4, 1.0), (-9, 9)),  # hard-clipped to [0, 1] below
}
# Camera channels vary slowly, independent of the tempo.
_CAMERA: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "camera_scale": ((0.94, 1.04), (0.0, 0.07), (0.86, 1.12)),
    "camera_x": ((-0.03, 0.03), (0.0, 0.04), (-0.08, 0.08)),
    "camera_y": ((-0.015, 0.015), (0.0, 0.02), (-0.04, 0.04)),
}
_HARMONICS = 3


def _soft_clip(x: float, low: float, high: float) -> float:
    """Smoothly squash ``x`` into (low, high): the identity near the middle, tanh at the edges."""
    mid, half = (low + high) / 2, (high - low) / 2
    return mid + half * math.tanh((x - mid) / half)


@dataclass(frozen=True, eq=False)
class Motion:
    """A procedural dance determined by ``motion_id`` (see :meth:`from_id`); evaluate with :meth:`state`.

    ``params`` maps each channel to ``(offset, amplitudes, frequencies in Hz, phases)``;
    ``blink_rate`` (blinks per second) and ``blink_phase`` place the blinks.
    """

    motion_id: int
    tempo: float  # beats per second
    params: dict[str, tuple[float, tuple[float, ...], tuple[float, ...], tuple[float, ...]]]
    blink_rate: float
    blink_phase: float

    @classmethod
    def from_id(cls, motion_id: int) -> Motion:
        """The dance with this non-negative integer id (same id, same dance, on any machine)."""
        motion_id = check_id("motion", motion_id)
        rng = np.random.default_rng([_MOTION_STREAM, motion_id])
        tempo = float(rng.uniform(0.35, 0.8))
        energy = float(rng.uniform(0.6, 1.15))
        params: dict[str, tuple[float, tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {}

        def sample(ranges, base_freq: float, multiples, scale: float):
            (o0, o1), (a0, a1), _ = ranges
            offset = float(rng.uniform(o0, o1))
            total = float(rng.uniform(a0, a1)) * scale
            split = rng.dirichlet([4.0, 1.5, 1.0])
            amps = tuple(float(total * s) for s in split)
            freqs = tuple(float(base_freq * m) for m in rng.choice(multiples, size=_HARMONICS))
            phases = tuple(float(p) for p in rng.uniform(0, 2 * math.pi, size=_HARMONICS))
            return offset, amps, freqs, phases

        beat_multiples = np.array([0.5, 1.0, 1.0, 1.5, 2.0])
        for name, ranges in _CHANNELS.items():
            params[name] = sample(ranges, tempo, beat_multiples, energy)
        # Arms: mirrored (both together), alternating (half a cycle apart) or independent.
        mode = rng.choice(3, p=[0.35, 0.3, 0.35])
        if mode < 2:
            for part in ("arm_raise", "arm_forward", "elbow"):
                offset, amps, freqs, phases = params[f"r_{part}"]
                shift = 0.0 if mode == 0 else math.pi
                params[f"l_{part}"] = (offset, amps, freqs, tuple(p + shift for p in phases))
        for name, ranges in _CAMERA.items():
            params[name] = sample(ranges, float(rng.uniform(0.08, 0.25)), np.array([0.5, 1.0, 1.5]), 1.0)
        return cls(
            motion_id=motion_id,
            tempo=tempo,
            params=params,
            blink_rate=float(rng.uniform(0.25, 0.5)),
            blink_phase=float(rng.uniform(0, 1)),
        )

    def _channel(self, name: str, t: float) -> float:
        offset, amps, freqs, phases = self.params[name]
        value = offset + sum(a * math.sin(2 * math.pi * f * t + p) for a, f, p in zip(amps, freqs, phases))
        ranges = _CHANNELS.get(name) or _CAMERA[name]
        return _soft_clip(value, *ranges[2])

    def state(self, t: float) -> DanceState:
        """The dancer's :class:`DanceState` at time ``t`` (seconds)."""
        c = {name: self._channel(name, t) for name in self.params}
        squat = c["squat"]
        legs = {}
        for side in ("r", "l"):
            lift = 40.0 * math.log1p(math.exp(3.0 * c[f"{side}_lift"])) / 3.0  # smooth, mostly >= 0
            legs[f"{side}_leg_lift"] = 35.0 * squat + lift
            legs[f"{side}_knee"] = 70.0 * squat + 1.6 * lift
            legs[f"{side}_leg_out"] = c[f"{side}_leg_out"] + 10.0 * squat
        # Blinks: eyes shut within 40 ms of each blink time and open again over the next 80 ms.
        phase = t * self.blink_rate + self.blink_phase
        seconds_to_blink = abs(phase - round(phase)) / self.blink_rate
        eye_open = min(max((seconds_to_blink - 0.04) / 0.08, 0.0), 1.0)
        return DanceState(
            **{
                k: c[k]
                for k in (
                    "r_arm_raise",
                    "l_arm_raise",
                    "r_arm_forward",
                    "l_arm_forward",
                    "r_elbow",
                    "l_elbow",
                    "r_hand_curl",
                    "l_hand_curl",
                    "lean",
                    "yaw",
                    "head_turn",
                    "head_roll",
                    "step",
                    "camera_scale",
                    "camera_x",
                    "camera_y",
                )
            },
            **legs,
            mouth_open=min(max(c["mouth"], 0.0), 1.0),
            eye_open=eye_open,
        )

    def keypoints(self, identity: Identity, t: float, size: int) -> PersonPose:
        """Exact OpenPose keypoints of ``identity`` dancing this dance at time ``t`` on a size x size canvas."""
        return keypoints_from_state(identity, self.state(t), size)


# --------------------------------------------------------------------------------------------------
# kinematics


def _rot2(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _direction(side: int, out_deg: float, forward_deg: float) -> np.ndarray:
    """Unit 3-D direction ``out_deg`` from straight down, outwards on ``side`` (-1 image left), tipped forward."""
    th, ph = math.radians(out_deg), math.radians(forward_deg)
    return np.array([side * math.sin(th) * math.cos(ph), math.cos(th) * math.cos(ph), math.sin(ph)])


# Hand points in units of the hand length: (along the forearm, towards the thumb side), OpenPose order.
_HAND_LOCAL = np.array([
    (0.0, 0.0),
    (0.12, 0.2), (0.25, 0.36), (0.37, 0.46), (0.48, 0.53),
    (0.45, 0.19), (0.65, 0.21), (0.8, 0.22), (0.93, 0.23),
    (0.47, 0.05), (0.7, 0.05), (0.86, 0.05), (1.0, 0.05),
    (0.46, -0.09), (0.67, -0.11), (0.81, -0.12), (0.93, -0.13),
    (0.42, -0.22), (0.58, -0.26), (0.69, -0.28), (0.78, -0.3),
])  # fmt: skip


def _hand_points(wrist: np.ndarray, elbow: np.ndarray, side: int, length: float, curl: float) -> np.ndarray:
    """21 2-D hand points beyond ``wrist`` along the forearm; ``curl`` in [0, 1] folds the fingers in."""
    d = wrist - elbow
    n = float(np.hypot(*d))
    d = d / n if n > 1e-9 else np.array([0.0, 1.0])
    thumb = side * np.array([-d[1], d[0]])  # thumbs towards the body when the arms hang
    local = _HAND_LOCAL.copy()
    for finger in range(5):
        base = local[1 + 4 * finger] if finger else local[1]
        for j in range(1, 4):
            k = 1 + 4 * finger + j
            local[k] = base + (local[k] - base) * (1.0 - 0.55 * curl * j / 3)
    return wrist + length * (local[:, :1] * d + local[:, 1:] * thumb)


def keypoints_from_state(identity: Identity, state: DanceState, size: int) -> PersonPose:
    """Exact OpenPose keypoints of ``identity`` in ``state`` on a ``size`` x ``size`` canvas (pixels)."""
    ident = identity
    yaw = math.radians(state.yaw)
    cy, sy = math.cos(yaw), math.sin(yaw)

    def turn(p: np.ndarray) -> np.ndarray:  # yaw about the vertical axis through the hips
        return np.array([p[0] * cy + p[2] * sy, p[1], -p[0] * sy + p[2] * cy])

    torso = ident.torso_length
    # -- 3-D joints in standing heights, origin at the mid-hip; then turned and projected (x, y)
    neck = np.array([0.0, -torso, 0.0])
    joints: dict[str, np.ndarray] = {"neck": neck}
    for side, s in ((-1, "r"), (1, "l")):
        shoulder = np.array([side * ident.shoulder_width / 2, -torso + 0.015, 0.0])
        raise_, fwd = getattr(state, f"{s}_arm_raise"), getattr(state, f"{s}_arm_forward")
        elbow = shoulder + ident.upper_arm * _direction(side, raise_, fwd)
        forearm_dir = _direction(side, raise_ + getattr(state, f"{s}_elbow"), 0.6 * fwd)
        wrist = elbow + ident.forearm * forearm_dir
        joints[f"{s}_shoulder"], joints[f"{s}_elbow"], joints[f"{s}_wrist"] = shoulder, elbow, wrist
        joints[f"{s}_forearm_dir"] = forearm_dir

        hip = np.array([side * ident.hip_width / 2, 0.0, 0.0])
        out, lift, knee_bend = (
            getattr(state, f"{s}_leg_out"),
            getattr(state, f"{s}_leg_lift"),
            getattr(state, f"{s}_knee"),
        )
        knee = hip + ident.thigh * _direction(side, out + 0.3 * knee_bend, lift)
        ankle = knee + ident.shin * _direction(side, out - 0.25 * knee_bend, lift - knee_bend)
        joints[f"{s}_hip"], joints[f"{s}_knee"], joints[f"{s}_ankle"] = hip, knee, ankle
    turned = {k: turn(v) for k, v in joints.items()}
    p2 = {k: v[:2].copy() for k, v in turned.items()}

    # -- lean: the upper body rotates about the mid-hip, the hip line a little; legs hang from the hips
    upper = _rot2(state.lean)
    for k in ("neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist"):
        p2[k] = upper @ p2[k]
    hips = _rot2(0.3 * state.lean)
    for s in ("r", "l"):
        moved = hips @ p2[f"{s}_hip"] - p2[f"{s}_hip"]
        for k in ("hip", "knee", "ankle"):
            p2[f"{s}_{k}"] = p2[f"{s}_{k}"] + moved

    # -- head: a sphere of head_radius on the neck, turned by yaw + head_turn, rolled about the neck
    r = ident.head_radius
    head_roll = _rot2(state.lean + state.head_roll)
    centre = p2["neck"] + head_roll @ np.array([0.0, -(ident.neck_length + r)])
    hyaw = math.radians(state.yaw + state.head_turn)
    hc, hs = math.cos(hyaw), math.sin(hyaw)
    face_uv = _face_layout(state.mouth_open, state.eye_open)
    depth = _sphere_depth(face_uv)
    normal_z = -face_uv[:, 0] * hs + depth * hc  # z of each point's outward normal after the turn
    depth[NOSE_TIP] += _NOSE_PROTRUSION
    x_turned = face_uv[:, 0] * hc + depth * hs
    face = centre + (np.stack([x_turned, face_uv[:, 1]], axis=1) * r) @ head_roll.T
    face_visible = normal_z > _FACE_VISIBLE
    ears = centre + (np.array([[-hc, 0.0], [hc, 0.0]]) * r) @ head_roll.T
    ears_visible = np.array([hs, -hs]) > _EAR_VISIBLE  # normal z of the ears (-1, 0, 0) and (1, 0, 0)

    # -- hands, in 2-D beyond the wrists, shortened as the forearm points at the camera
    hands = {}
    for side, s in ((-1, "r"), (1, "l")):
        foreshortening = float(np.hypot(*turned[f"{s}_forearm_dir"][:2]))
        length = ident.hand_length * max(0.5, foreshortening)
        hands[s] = _hand_points(
            p2[f"{s}_wrist"], p2[f"{s}_elbow"], side, length, getattr(state, f"{s}_hand_curl")
        )

    body = np.zeros((18, 2))
    body[0] = face[NOSE_TIP]
    for i, k in enumerate(
        (
            "neck",
            "r_shoulder",
            "r_elbow",
            "r_wrist",
            "l_shoulder",
            "l_elbow",
            "l_wrist",
            "r_hip",
            "r_knee",
            "r_ankle",
            "l_hip",
            "l_knee",
            "l_ankle",
        ),
        start=1,
    ):
        body[i] = p2[k]
    body[14], body[15] = face[68], face[69]
    body[16], body[17] = ears
    body_visible = np.ones(18, dtype=bool)
    body_visible[0] = face_visible[NOSE_TIP]
    body_visible[14], body_visible[15] = face_visible[68], face_visible[69]
    body_visible[16], body_visible[17] = ears_visible

    # -- place on the canvas: lowest ankle on the floor, then the camera
    floor = max(p2["r_ankle"][1], p2["l_ankle"][1]) + ident.ankle_height
    scale = ident.height * size
    pivot = np.array([0.5 * size, 0.6 * size])
    offset = np.array([0.5 * size, ident.floor_y * size])
    camera_shift = np.array([state.camera_x, state.camera_y]) * size

    def to_pixels(points: np.ndarray) -> np.ndarray:
        world = offset + (points + np.array([state.step, -floor])) * scale
        return pivot + state.camera_scale * (world - pivot) + camera_shift

    def with_scores(points: np.ndarray, visible: np.ndarray) -> np.ndarray:
        px = to_pixels(points)
        inside = (px[:, 0] >= 0) & (px[:, 0] < size) & (px[:, 1] >= 0) & (px[:, 1] < size)
        return np.concatenate([px, (visible & inside)[:, None].astype(np.float64)], axis=1)

    all_visible = np.ones(21, dtype=bool)
    return PersonPose(
        body=with_scores(body, body_visible),
        left_hand=with_scores(hands["l"], all_visible),
        right_hand=with_scores(hands["r"], all_visible),
        face=with_scores(face, face_visible),
    )
