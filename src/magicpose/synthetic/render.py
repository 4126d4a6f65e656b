"""Synthetic dancers, part 3: drawing an :class:`Identity` in a pose, from its keypoints alone.

:func:`render_person` draws the figure over the identity's room (:func:`render_background`) using
only the identity and the keypoints made by :mod:`~magicpose.synthetic.motion` (all points carry
their true projected coordinates; scores say which are visible). Everything else is recovered from the
keypoints: the scale from the neck-to-mid-hip length, the head centre from the ears, the head's
turn from the nose, the body's turn from the shoulder width. Limbs are outlined capsules, the top's
pattern is painted in torso-local coordinates (a homography from the shoulders and hips), the hair is
a region of the 3-D head sphere so it turns with the head, and eyes and mouth follow the face points
(eyes closed when the lids meet, mouth open when the lips part).

The figure is drawn at 2-4x the output size and averaged down, then blended over the background, so
pixels the figure does not touch equal :func:`render_background` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from magicpose.pose.schema import PersonPose
from magicpose.synthetic.identity import RGB, Identity, mix
from magicpose.synthetic.motion import FACE_LOCAL, NOSE_TIP

__all__ = ["render_background", "render_ground_truth", "render_person"]

_SHIFT = 3  # fractional bits for cv2 drawing
_ONE = 1 << _SHIFT
_TEX_PER_UNIT = 60  # texels per torso-local unit
_TEX_U = (-0.6, 1.6)
_TEX_V = (-0.3, 1.3)
_EYE_WHITE = (250, 250, 250)
_PUPIL = (28, 22, 26)
_MOUTH_INSIDE = (105, 25, 35)
_NOSE_DEPTH = float(math.sqrt(1 - FACE_LOCAL[NOSE_TIP, 1] ** 2)) + 0.14


def _supersample(size: int) -> int:
    return 4 if size <= 96 else 2 if size <= 320 else 1


def _dark(colour: RGB, amount: float = 0.45) -> RGB:
    return mix(colour, (0, 0, 0), amount)


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8:
        raise ValueError(f"canvas size must be an integer >= 8, got {size!r}")
    return int(size)


# --------------------------------------------------------------------------------------------------
# background


@lru_cache(maxsize=8)
def _background(identity: Identity, size: int) -> np.ndarray:
    ss = _supersample(size)
    S = size * ss
    rng = np.random.default_rng([0xB6, identity.background_seed])
    img = np.empty((S, S, 3), dtype=np.float32)
    hy = int(round(identity.horizon * S))
    t = np.linspace(0.0, 1.0, hy, dtype=np.float32)[:, None, None]
    img[:hy] = (1 - t) * np.float32(identity.wall_top) + t * np.float32(identity.wall_bottom)
    accent = np.float32(identity.wall_accent)
    wall = img[:hy]
    if identity.wall_pattern == "stripes":
        period = S * rng.uniform(0.08, 0.16)
        on = (np.arange(S) // (period / 2)) % 2 == 1
        wall[:, on] = 0.7 * wall[:, on] + 0.3 * accent
    elif identity.wall_pattern == "circles":
        overlay = np.zeros((hy, S), dtype=np.uint8)
        for _ in range(int(rng.integers(3, 7))):
            c = (int(rng.uniform(0, 1) * S * _ONE), int(rng.uniform(0, identity.horizon) * S * _ONE))
            cv2.circle(overlay, c, int(rng.uniform(0.05, 0.14) * S * _ONE), 255, -1, cv2.LINE_8, _SHIFT)
        on = overlay > 0
        wall[on] = 0.55 * wall[on] + 0.45 * accent
    elif identity.wall_pattern == "frames":
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = rng.uniform(0.02, 0.75) * S, rng.uniform(0.06, 0.3) * S
            x1, y1 = x0 + rng.uniform(0.12, 0.25) * S, y0 + rng.uniform(0.14, 0.28) * S
            y1 = min(y1, hy - 0.05 * S)
            border = 0.02 * S
            cv2.rectangle(
                wall, (int(x0), int(y0)), (int(x1), int(y1)), tuple(float(c) * 0.6 for c in accent), -1
            )
            cv2.rectangle(
                wall,
                (int(x0 + border), int(y0 + border)),
                (int(x1 - border), int(y1 - border)),
                tuple(float(c) for c in accent),
                -1,
            )
    band = max(1, int(0.015 * S))
    img[max(hy - band, 0) : hy] = np.float32(_dark(identity.wall_bottom, 0.3))
    n_floor = S - hy
    if n_floor > 0:
        t = np.linspace(0.0, 1.0, n_floor, dtype=np.float32)[:, None, None]
        light, deep = (
            np.float32(mix(identity.floor, (255, 255, 255), 0.12)),
            np.float32(_dark(identity.floor, 0.2)),
        )
        img[hy:] = (1 - t) * light + t * deep
        line = tuple(float(c) for c in identity.floor_accent)
        if identity.floor_pattern in ("boards", "tiles"):
            k = 1
            while True:
                y = hy + n_floor * (k / 7) ** 1.5
                if y >= S:
                    break
                cv2.line(
                    img, (0, int(y * _ONE)), ((S - 1) * _ONE, int(y * _ONE)), line, ss, cv2.LINE_8, _SHIFT
                )
                k += 1
        if identity.floor_pattern == "tiles":
            vx, vy = S / 2, hy - 0.6 * S
            for j in range(-6, 7):
                xb = S / 2 + j * 0.22 * S
                # from the horizon to the bottom, along the ray through the vanishing point
                xh = vx + (xb - vx) * (hy - vy) / (S - vy)
                cv2.line(
                    img,
                    (int(xh * _ONE), hy * _ONE),
                    (int(xb * _ONE), (S - 1) * _ONE),
                    line,
                    ss,
                    cv2.LINE_8,
                    _SHIFT,
                )
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if ss > 1 else img
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def render_background(identity: Identity, size: int) -> np.ndarray:
    """The identity's empty room, uint8 (size, size, 3) RGB."""
    return _background(identity, _check_size(size)).copy()


# --------------------------------------------------------------------------------------------------
# the drawing layer (colour + coverage at the supersampled size)


class _Layer:
    def __init__(self, side: int) -> None:
        self.side = side
        self.colour = np.zeros((side, side, 3), dtype=np.uint8)
        self.cover = np.zeros((side, side), dtype=np.uint8)

    @staticmethod
    def _fix(points) -> np.ndarray:
        return np.round(np.asarray(points, dtype=np.float64) * _ONE).astype(np.int32)

    def poly(self, points, colour: RGB) -> None:
        pts = [self._fix(points)]
        cv2.fillPoly(self.colour, pts, colour, cv2.LINE_8, _SHIFT)
        cv2.fillPoly(self.cover, pts, 255, cv2.LINE_8, _SHIFT)

    def circle(self, centre, radius: float, colour: RGB) -> None:
        c, r = tuple(self._fix(centre)), max(int(round(radius * _ONE)), 1)
        cv2.circle(self.colour, c, r, colour, -1, cv2.LINE_8, _SHIFT)
        cv2.circle(self.cover, c, r, 255, -1, cv2.LINE_8, _SHIFT)

    def ellipse(self, centre, axes, angle_deg: float, colour: RGB) -> None:
        c = tuple(self._fix(centre))
        ax = (max(int(round(axes[0] * _ONE)), 1), max(int(round(axes[1] * _ONE)), 1))
        cv2.ellipse(self.colour, c, ax, angle_deg, 0, 360, colour, -1, cv2.LINE_8, _SHIFT)
        cv2.ellipse(self.cover, c, ax, angle_deg, 0, 360, 255, -1, cv2.LINE_8, _SHIFT)

    def polyline(self, points, colour: RGB, thickness: float, closed: bool = False) -> None:
        # cv2 thickness is whole pixels; round caps come from circles at the ends for thick lines
        t = max(int(round(thickness)), 1)
        pts = [self._fix(points)]
        cv2.polylines(self.colour, pts, closed, colour, t, cv2.LINE_8, _SHIFT)
        cv2.polylines(self.cover, pts, closed, 255, t, cv2.LINE_8, _SHIFT)

    def capsule(self, p0, p1, r0: float, r1: float, colour: RGB) -> None:
        """A limb: circles of radius r0 at p0 and r1 at p1 joined by their tangent quad."""
        p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
        d = p1 - p0
        n = float(np.hypot(*d))
        self.circle(p0, r0, colour)
        self.circle(p1, r1, colour)
        if n > 1e-6:
            perp = np.array([-d[1], d[0]]) / n
            self.poly([p0 + perp * r0, p1 + perp * r1, p1 - perp * r1, p0 - perp * r0], colour)

    def paint(self, y0: int, x0: int, mask: np.ndarray, colour: RGB | np.ndarray) -> None:
        h, w = mask.shape
        self.colour[y0 : y0 + h, x0 : x0 + w][mask] = colour if isinstance(colour, tuple) else colour[mask]
        self.cover[y0 : y0 + h, x0 : x0 + w][mask] = 255

    def composite(self, background: np.ndarray, ss: int) -> np.ndarray:
        size = background.shape[0]
        alpha = self.cover.astype(np.float32) * np.float32(1 / 255)
        premult = self.colour.astype(np.float32) * alpha[..., None]
        if ss > 1:
            alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_AREA)
            premult = cv2.resize(premult, (size, size), interpolation=cv2.INTER_AREA)
        out = background.astype(np.float32) * (1 - alpha[..., None]) + premult
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _roi(side: int, centre: np.ndarray, radius: float) -> tuple[int, int, int, int] | None:
    x0, y0 = max(int(centre[0] - radius), 0), max(int(centre[1] - radius), 0)
    x1, y1 = min(int(centre[0] + radius) + 2, side), min(int(centre[1] + radius) + 2, side)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


# --------------------------------------------------------------------------------------------------
# textures


@lru_cache(maxsize=256)
def _top_texture(identity: Identity) -> np.ndarray:
    """The top's colours over torso-local (u, v): u 0..1 right to left shoulder, v 0..1 shoulders to hips."""
    w = int((_TEX_U[1] - _TEX_U[0]) * _TEX_PER_UNIT)
    h = int((_TEX_V[1] - _TEX_V[0]) * _TEX_PER_UNIT)
    U = _TEX_U[0] + (np.arange(w) + 0.5) / _TEX_PER_UNIT
    V = _TEX_V[0] + (np.arange(h) + 0.5) / _TEX_PER_UNIT
    U, V = np.meshgrid(U, V)
    p = identity.pattern_period
    pattern = identity.top_pattern
    if pattern == "hstripes":
        on = np.floor(V / p * 2) % 2 == 1
    elif pattern == "vstripes":
        on = np.floor((U - 0.5) / (0.8 * p) * 2 + 0.5) % 2 == 1
    elif pattern == "checks":
        on = (np.floor((U - 0.5) / p) + np.floor(V / p)) % 2 == 1
    elif pattern == "dots":
        row = np.floor(V / p)
        cu = (np.floor((U - 0.5) / p - 0.5 * (row % 2)) + 0.5 + 0.5 * (row % 2)) * p + 0.5
        cv = (row + 0.5) * p
        on = (U - cu) ** 2 + (V - cv) ** 2 < (0.3 * p) ** 2
    else:
        on = np.zeros_like(U, dtype=bool)
    tex = np.empty((h, w, 3), dtype=np.uint8)
    tex[:] = identity.top
    tex[on] = identity.top_accent
    neckline = ((U - 0.5) / 0.2) ** 2 + ((V + 0.1) / 0.17) ** 2 < 1
    tex[neckline] = identity.skin
    tex[V > 0.84] = identity.bottom
    tex[(V > 0.84) & (V < 0.88)] = _dark(identity.bottom, 0.35)
    return tex


# --------------------------------------------------------------------------------------------------
# geometry recovered from keypoints


class _Figure:
    """Pixel geometry (at the supersampled size) of one identity's keypoints."""

    def __init__(self, identity: Identity, pose: PersonPose, ss: int) -> None:
        def px(points: np.ndarray) -> np.ndarray:
            return points[:, :2].astype(np.float64) * ss - 0.5

        self.body, self.face = px(pose.body), px(pose.face)
        self.hands = {"r": px(pose.right_hand), "l": px(pose.left_hand)}
        self.body_seen = pose.body[:, 2] > 0
        self.face_seen = pose.face[:, 2] > 0
        b = self.body
        self.neck = b[1]
        self.midhip = (b[8] + b[11]) / 2
        torso = float(np.hypot(*(self.neck - self.midhip)))
        self.unit = torso / identity.torso_length if torso > 1e-6 else identity.height * ss * 100
        self.head = (b[16] + b[17]) / 2
        self.r = identity.head_radius * self.unit
        ear = b[17] - b[16]
        self.roll = math.atan2(ear[1], ear[0]) if np.hypot(*ear) > 1e-6 else 0.0
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        nose = self.face[NOSE_TIP] - self.head
        nose_u = (cr * nose[0] + sr * nose[1]) / max(self.r, 1e-6)
        self.head_sin = float(np.clip(nose_u / _NOSE_DEPTH, -1, 1))
        self.head_cos = math.sqrt(1 - self.head_sin**2)
        shoulders = float(np.hypot(*(b[5] - b[2]))) / max(self.unit, 1e-6)
        body_cos = min(shoulders / identity.shoulder_width, 1.0)
        self.body_sin = math.copysign(math.sqrt(1 - body_cos**2), self.head_sin)
        self.outline = max(0.9 * ss, 0.008 * self.unit)

    def local(self, points) -> np.ndarray:
        """Head-local (u, v) in head radii -> image pixels."""
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rot = np.array([[cr, -sr], [sr, cr]])
        return self.head + (np.asarray(points, dtype=np.float64) * self.r) @ rot.T


# --------------------------------------------------------------------------------------------------
# parts


def _arm(layer: _Layer, fig: _Figure, ident: Identity, side: str) -> None:
    i = 2 if side == "r" else 5
    sh, el, wr = fig.body[i], fig.body[i + 1], fig.body[i + 2]
    ra = ident.arm_thickness / 2 * fig.unit
    o = fig.outline
    upper = ident.top if ident.sleeves in ("short", "long") else ident.skin
    lower = ident.top if ident.sleeves == "long" else ident.skin
    hand = fig.hands[side]
    hand_len = float(np.hypot(*(hand[12] - hand[0])))
    finger = max(0.8 * fig.outline, 0.14 * hand_len)
    palm = hand[[0, 1, 5, 9, 13, 17]]
    palm_centre = palm.mean(axis=0)
    fingers = [hand[[1 + 4 * f, 2 + 4 * f, 3 + 4 * f, 4 + 4 * f]] for f in range(5)]
    # outlines, then fills, so joints inside one limb show no seam
    layer.capsule(sh, el, 1.1 * ra + o, ra + o, _dark(upper))
    layer.capsule(el, wr, ra + o, 0.8 * ra + o, _dark(lower))
    dark_skin = _dark(ident.skin)
    for f in fingers:
        layer.polyline(f, dark_skin, finger + 2 * o)
    layer.poly(cv2.convexHull(palm.astype(np.float32))[:, 0], dark_skin)
    layer.circle(palm_centre, 0.3 * hand_len + o, dark_skin)
    layer.capsule(sh, el, 1.1 * ra, ra, ident.skin if ident.sleeves == "short" else upper)
    layer.capsule(el, wr, ra, 0.8 * ra, lower)
    if ident.sleeves == "short":
        end = sh + 0.55 * (el - sh)
        layer.capsule(sh, end, 1.2 * ra + o, 1.1 * ra + o, _dark(ident.top))
        layer.capsule(sh, end, 1.2 * ra, 1.1 * ra, ident.top)
    for f in fingers:
        layer.polyline(f, ident.skin, finger)
    layer.circle(palm_centre, 0.3 * hand_len, ident.skin)
    hull = cv2.convexHull(palm.astype(np.float32))[:, 0]
    # shrink the palm hull by the outline so its dark rim stays visible
    layer.poly(palm_centre + (hull - palm_centre) * 0.85, ident.skin)


def _leg(layer: _Layer, fig: _Figure, ident: Identity, side: str) -> None:
    i = 8 if side == "r" else 11
    hip, knee, ankle = fig.body[i], fig.body[i + 1], fig.body[i + 2]
    rl = ident.leg_thickness / 2 * fig.unit
    o = fig.outline
    legs = ident.bottom if ident.bottom_style == "trousers" else ident.legwear
    layer.capsule(hip, knee, 1.05 * rl + o, 0.8 * rl + o, _dark(legs))
    layer.capsule(knee, ankle, 0.8 * rl + o, 0.6 * rl + o, _dark(legs))
    layer.capsule(hip, knee, 1.05 * rl, 0.8 * rl, legs)
    layer.capsule(knee, ankle, 0.8 * rl, 0.6 * rl, legs)
    if ident.bottom_style == "shorts":
        end = hip + 0.55 * (knee - hip)
        layer.capsule(hip, end, 1.15 * rl + o, 1.0 * rl + o, _dark(ident.bottom))
        layer.capsule(hip, end, 1.15 * rl, 1.0 * rl, ident.bottom)
    # shoe: sole on the floor, toes towards where the body faces
    u = fig.unit
    half_h = 0.036 * u
    centre = ankle + np.array([0.04 * u * fig.body_sin, ident.ankle_height * u - half_h])
    axes = (0.95 * rl + 0.05 * u * abs(fig.body_sin), half_h)
    layer.ellipse(centre, (axes[0] + o, axes[1] + o), 0.0, _dark(ident.shoes, 0.5))
    layer.ellipse(centre, axes, 0.0, ident.shoes)


def _torso(layer: _Layer, fig: _Figure, ident: Identity) -> np.ndarray:
    """Draw the patterned top; return the torso-local -> image homography."""
    b = fig.body
    quad = np.float32([b[2], b[5], b[11], b[8]])
    unit_square = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
    area = abs(cv2.contourArea(quad))
    if cv2.isContourConvex(quad.reshape(-1, 1, 2)) and area > 0.005 * fig.unit**2:
        H = cv2.getPerspectiveTransform(unit_square, quad)
    else:  # degenerate torso: an affine frame from the neck and hips, the identity's widths
        axis = fig.midhip - fig.neck
        across = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
        half = ident.shoulder_width / 2 * fig.unit
        src = np.float32([[0, 0], [1, 0], [0, 1]])
        dst = np.float32([fig.neck - across * half, fig.neck + across * half, fig.midhip - across * half])
        H = np.vstack([cv2.getAffineTransform(src, dst), [0, 0, 1]])
    shoulder_px = max(float(np.hypot(*(b[5] - b[2]))), 1.0)
    hip_px = max(float(np.hypot(*(b[11] - b[8]))), 1.0)
    se = min(0.9 * 1.1 * ident.arm_thickness / 2 * fig.unit / shoulder_px, 0.6)
    he = min(1.05 * ident.leg_thickness / 2 * fig.unit / hip_px, 1.0)
    outline_local = np.float64([
        (0.12, -0.1), (0.88, -0.1), (1 + 0.6 * se, -0.05), (1 + se, 0.1), (1 + 0.5 * se, 0.45),
        (1 + 0.6 * he, 0.75), (1 + he, 1.06), (-he, 1.06), (-0.6 * he, 0.75), (-0.5 * se, 0.45),
        (-se, 0.1), (-0.6 * se, -0.05),
    ])  # fmt: skip
    poly = cv2.perspectiveTransform(outline_local.reshape(-1, 1, 2), H)[:, 0]
    layer.polyline(poly, _dark(ident.top), 2 * fig.outline, closed=True)
    x0, y0 = np.floor(poly.min(axis=0)).astype(int)
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, layer.side), min(y1, layer.side)
    if x0 >= x1 or y0 >= y1:
        return H
    tex_to_local = np.array([[1 / _TEX_PER_UNIT, 0, _TEX_U[0]], [0, 1 / _TEX_PER_UNIT, _TEX_V[0]], [0, 0, 1]])
    to_roi = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    # texel centres sit at +0.5: shift so warpPerspective (which maps pixel centres) lines up
    half = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    M = to_roi @ H @ tex_to_local @ np.linalg.inv(half)
    warped = cv2.warpPerspective(
        _top_texture(ident), M, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(mask, [_Layer._fix(poly - [x0, y0])], 255, cv2.LINE_8, _SHIFT)
    layer.paint(y0, x0, mask > 0, warped)
    return H


def _skirt(layer: _Layer, fig: _Figure, ident: Identity, H: np.ndarray) -> None:
    b = fig.body
    hip_px = max(float(np.hypot(*(b[11] - b[8]))), 1.0)
    rl = ident.leg_thickness / 2 * fig.unit
    he = min(1.05 * rl / hip_px, 1.0)
    waist = cv2.perspectiveTransform(np.float64([[(-0.7 * he, 0.8), (1 + 0.7 * he, 0.8)]]), H)[0]
    axis = fig.midhip - fig.neck
    axis = axis / max(float(np.hypot(*axis)), 1e-6)
    across = b[11] - b[8]
    across = across / hip_px if hip_px > 1.0 else np.array([axis[1], -axis[0]])
    hem = fig.midhip + axis * 0.6 * ident.thigh * fig.unit
    half = hip_px / 2 + 2.3 * rl
    poly = np.array([waist[0], waist[1], hem + across * half, hem - across * half])
    layer.polyline(poly, _dark(ident.bottom), 2 * fig.outline, closed=True)
    layer.poly(poly, ident.bottom)
    # two pleats
    for t in (0.33, 0.67):
        top = waist[0] + t * (waist[1] - waist[0])
        layer.polyline(
            [top + 0.3 * (hem - fig.midhip), hem + across * half * (2 * t - 1) * 0.9],
            _dark(ident.bottom, 0.25),
            fig.outline,
        )


def _long_hair(layer: _Layer, fig: _Figure, ident: Identity) -> None:
    back = -0.25 * fig.head_sin
    arc = [
        (back + 1.12 * math.cos(a), -0.05 + 1.12 * math.sin(a)) for a in np.linspace(math.pi, 2 * math.pi, 13)
    ]
    down = [
        (back + 1.18, 1.9),
        (back + 1.05, 2.35),
        (back + 0.6, 2.5),
        (back - 0.6, 2.5),
        (back - 1.05, 2.35),
        (back - 1.18, 1.9),
    ]
    poly = fig.local(arc + down)
    layer.polyline(poly, _dark(ident.hair), 2 * fig.outline, closed=True)
    layer.poly(poly, ident.hair)


def _hair_on_head(style: str, x0: np.ndarray, v: np.ndarray, z0: np.ndarray) -> np.ndarray:
    """Which points of the head sphere (head-local x0 across, v down, z0 forward) are hair."""
    if style == "short":
        return (v < -0.55 + 0.45 * x0**2) | ((z0 < -0.05) & (v < 0.3))
    if style == "long":
        return (v < -0.5 + 0.3 * x0**2) | ((np.abs(x0) > 0.78) & (v < 0.9)) | (z0 < 0.1)
    if style == "bob":
        return (v < -0.34) | ((np.abs(x0) > 0.7) & (v < 0.5)) | ((z0 < 0.15) & (v < 0.5))
    if style == "bun":
        return (v < -0.6 + 0.5 * x0**2) | ((z0 < -0.05) & (v < 0.25))
    # curly
    return (v < -0.45 + 0.35 * x0**2 + 0.06 * np.sin(14 * x0)) | ((z0 < 0.0) & (v < 0.4))


def _hair_volume(style: str, u: np.ndarray, v: np.ndarray, back: float, grow: float) -> np.ndarray:
    """Hair standing out of the head sphere, in head-local 2-D (u, v); ``grow`` widens it (outlines)."""

    def disk(cu, cv, rad):
        return (u - cu) ** 2 + (v - cv) ** 2 <= (rad + grow) ** 2

    if style == "short":
        return disk(back * 0.2, -0.07, 1.07) & (v < 0.15)
    if style == "long":
        return disk(back * 0.3, -0.05, 1.12) & (v < 0.4)
    if style == "bob":
        return disk(back * 0.4, -0.05, 1.16) & (v < 0.62 + grow)
    if style == "bun":
        return (disk(back * 0.2, -0.06, 1.05) & (v < 0.1)) | disk(back * 0.5, -1.22, 0.44)
    out = disk(0.0, -0.04, 1.04) & (v < 0.2)
    for a in np.linspace(math.radians(160), math.radians(380), 9):
        out |= disk(back * 0.3 + 1.0 * math.cos(a), -0.05 + 1.0 * math.sin(a), 0.3)
    return out


def _head(layer: _Layer, fig: _Figure, ident: Identity) -> None:
    roi = _roi(layer.side, fig.head, 1.6 * fig.r + 2 * fig.outline)
    if roi is not None and fig.r > 0.5:
        x0, y0, x1, y1 = roi
        X, Y = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        dx, dy = X - fig.head[0], Y - fig.head[1]
        cr, sr = math.cos(fig.roll), math.sin(fig.roll)
        u, v = (cr * dx + sr * dy) / fig.r, (-sr * dx + cr * dy) / fig.r
        rr = u**2 + v**2
        disk = rr <= 1.0
        z = np.sqrt(np.clip(1.0 - rr, 0.0, None))
        hc, hs = fig.head_cos, fig.head_sin
        hx, hz = u * hc - z * hs, u * hs + z * hc  # back to the unturned head
        on_head = disk & _hair_on_head(ident.hair_style, hx, v, hz)
        back = -hs
        volume = _hair_volume(ident.hair_style, u, v, back, 0.0) & ~disk
        grow = fig.outline / fig.r
        rim_skin = (rr <= (1 + grow) ** 2) & ~disk & ~volume
        rim_hair = _hair_volume(ident.hair_style, u, v, back, grow) & ~disk & ~volume
        layer.paint(y0, x0, rim_skin, _dark(ident.skin))
        layer.paint(y0, x0, rim_hair & ~rim_skin, _dark(ident.hair))
        layer.paint(y0, x0, disk & ~on_head, ident.skin)
        layer.paint(y0, x0, on_head | volume, ident.hair)
    # ears, when the hair leaves them out
    if ident.hair_style not in ("long", "bob"):
        for i in (16, 17):
            if fig.body_seen[i]:
                angle = math.degrees(fig.roll)
                ax = (0.15 * fig.r, 0.22 * fig.r)
                layer.ellipse(
                    fig.body[i], (ax[0] + fig.outline, ax[1] + fig.outline), angle, _dark(ident.skin)
                )
                layer.ellipse(fig.body[i], ax, angle, ident.skin)
    _face(layer, fig, ident)


def _face(layer: _Layer, fig: _Figure, ident: Identity) -> None:
    f, seen, r = fig.face, fig.face_seen, fig.r
    line = max(0.7 * fig.outline, 0.09 * r)
    for brow in (slice(17, 22), slice(22, 27)):
        if seen[brow].all():
            layer.polyline(f[brow], _dark(ident.hair, 0.35), line)
    for eye, pupil in ((slice(36, 42), 68), (slice(42, 48), 69)):
        if not seen[eye].all():
            continue
        p = f[eye]
        width = float(np.hypot(*(p[3] - p[0])))
        height = (float(np.hypot(*(p[1] - p[5]))) + float(np.hypot(*(p[2] - p[4])))) / 2
        if width > 0 and height / width > 0.25:
            layer.poly(p, _EYE_WHITE)
            layer.circle(f[pupil], max(0.13 * r, 0.5 * fig.outline), _PUPIL)
        else:
            layer.polyline(p[:4], _PUPIL, line)
    if seen[NOSE_TIP]:
        layer.circle(f[NOSE_TIP], 0.07 * r, _dark(ident.skin, 0.25))
    if seen[48:68].all():
        layer.poly(f[48:60], mix(ident.skin, (190, 45, 60), 0.5))
        inner = f[60:68]
        gap = np.mean([np.hypot(*(inner[i] - inner[8 - i])) for i in (1, 2, 3)])
        if gap > 0.05 * r:
            layer.poly(inner, _MOUTH_INSIDE)
        else:
            layer.polyline(inner[:5], _MOUTH_INSIDE, max(0.6 * fig.outline, 0.05 * r))


# --------------------------------------------------------------------------------------------------
# public


def render_person(identity: Identity, pose: PersonPose, size: int) -> np.ndarray:
    """Draw ``identity`` in ``pose`` over its room: uint8 (size, size, 3) RGB.

    ``pose`` must hold the full keypoints of this module's kinematics (:meth:`Motion.keypoints`,
    :func:`pose_sequence`): every point's true coordinates, even those scored 0 (outside the canvas
    or turned away), on a ``size`` x ``size`` canvas.
    """
    size = _check_size(size)
    ss = _supersample(size)
    layer = _Layer(size * ss)
    fig = _Figure(identity, pose, ss)
    far = "l" if fig.body_sin > 0 else "r"
    near = "r" if far == "l" else "l"
    turned = abs(fig.body_sin) > math.sin(math.radians(25))
    if identity.hair_style == "long":
        _long_hair(layer, fig, identity)
    if turned:
        _arm(layer, fig, identity, far)
    _leg(layer, fig, identity, far)
    _leg(layer, fig, identity, near)
    o = fig.outline
    layer.capsule(fig.neck, fig.head, 0.38 * fig.r + o, 0.38 * fig.r + o, _dark(identity.skin))
    layer.capsule(fig.neck, fig.head, 0.38 * fig.r, 0.38 * fig.r, identity.skin)
    H = _torso(layer, fig, identity)
    if identity.bottom_style == "skirt":
        _skirt(layer, fig, identity, H)
    _head(layer, fig, identity)
    if not turned:
        _arm(layer, fig, identity, far)
    _arm(layer, fig, identity, near)
    return layer.composite(_background(identity, size), ss)


def render_ground_truth(identity: Identity, poses: Sequence[PersonPose], size: int) -> list[np.ndarray]:
    """``identity`` rendered in each of ``poses`` (use :func:`pose_sequence` for "identity A dancing M")."""
    return [render_person(identity, pose, size) for pose in poses]
