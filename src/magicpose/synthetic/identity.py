"""Synthetic dancers, part 1: who is dancing.

An :class:`Identity` is everything about a drawn person that does not change over a video: body
proportions, skin, hair, clothes and the room behind them. It is fully determined by an integer id
(``Identity.from_id(i)``), so a dataset only has to record the id.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BACKGROUND_PATTERNS",
    "BOTTOM_STYLES",
    "FLOOR_PATTERNS",
    "HAIR_STYLES",
    "SLEEVES",
    "TOP_PATTERNS",
    "Identity",
    "RGB",
]

RGB = tuple[int, int, int]

HAIR_STYLES = ("short", "long", "bob", "bun", "curly")
TOP_PATTERNS = ("plain", "hstripes", "vstripes", "checks", "dots")
SLEEVES = ("none", "short", "long")
BOTTOM_STYLES = ("trousers", "shorts", "skirt")
BACKGROUND_PATTERNS = ("plain", "stripes", "circles", "frames")
FLOOR_PATTERNS = ("plain", "boards", "tiles")

# Stream tag mixed into every identity's seed, so identity ids and motion ids never share random streams.
_IDENTITY_STREAM = 0x1D3A7


def check_id(what: str, value: object) -> int:
    """An identity's or a dance's id as an int; a ValueError unless it is a non-negative integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{what} id must be a non-negative integer, got {value!r}")
    return int(value)


_SKIN_TONES: tuple[RGB, ...] = (
    (255, 224, 196), (243, 199, 170), (226, 176, 140), (208, 150, 108),
    (176, 116, 78), (141, 90, 60), (105, 66, 44), (236, 190, 140),
)  # fmt: skip
_NATURAL_HAIR: tuple[RGB, ...] = (
    (28, 22, 22), (62, 40, 28), (110, 70, 40), (214, 176, 96), (150, 58, 30), (196, 196, 200),
)  # fmt: skip
_FANCY_HAIR: tuple[RGB, ...] = ((40, 80, 190), (226, 80, 150), (40, 150, 90), (130, 60, 190))
_SHOE_COLOURS: tuple[RGB, ...] = (
    (245, 245, 245), (25, 25, 30), (200, 30, 40), (40, 70, 160), (120, 75, 40), (240, 200, 40),
)  # fmt: skip


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return (round(r * 255), round(g * 255), round(b * 255))


def _dist(a: RGB, b: RGB) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def _jitter(rng: np.random.Generator, colour: RGB, amount: int) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` blended towards ``b`` by ``t`` (0 gives a, 1 gives b)."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


@dataclass(frozen=True)
class Identity:
    """One synthetic person and their room, determined by ``identity_id`` (see :meth:`from_id`).

    Lengths (``head_radius`` ... ``leg_thickness``) are fractions of the standing height, which is
    exactly 1 = ankle_height + shin + thigh + torso_length + neck_length + 2 * head_radius;
    ``height`` is that standing height as a fraction of the canvas side. Colours are RGB tuples.
    """

    identity_id: int
    height: float
    floor_y: float  # where the feet stand, as a fraction of the canvas side (from the top)
    head_radius: float
    neck_length: float
    torso_length: float  # neck to mid-hip
    shoulder_width: float
    hip_width: float
    upper_arm: float
    forearm: float
    hand_length: float
    thigh: float
    shin: float
    ankle_height: float
    arm_thickness: float
    leg_thickness: float
    skin: RGB
    hair: RGB
    hair_style: str
    top: RGB
    top_accent: RGB
    top_pattern: str
    pattern_period: float  # torso-local period of the pattern (1 = shoulder-to-hip length)
    sleeves: str
    bottom: RGB
    bottom_style: str
    legwear: RGB  # legs under a skirt or shorts (skin or tights)
    shoes: RGB
    wall_top: RGB
    wall_bottom: RGB
    wall_accent: RGB
    wall_pattern: str
    floor: RGB
    floor_accent: RGB
    floor_pattern: str
    horizon: float  # wall/floor boundary, fraction of the canvas side
    background_seed: int

    @classmethod
    def from_id(cls, identity_id: int) -> Identity:
        """The identity with this non-negative integer id (same id, same person, on any machine)."""
        identity_id = check_id("identity", identity_id)
        rng = np.random.default_rng([_IDENTITY_STREAM, identity_id])
        u = rng.uniform

        # -- body: raw lengths, normalised so the standing height is exactly 1
        build = u(0.0, 1.0)
        raw = {
            "head_radius": u(0.088, 0.105),
            "neck_length": u(0.022, 0.036),
            "torso_length": u(0.25, 0.30),
            "thigh": u(0.20, 0.245),
            "shin": u(0.19, 0.235),
            "ankle_height": u(0.026, 0.034),
        }
        total = (
            raw["ankle_height"]
            + raw["shin"]
            + raw["thigh"]
            + raw["torso_length"]
            + raw["neck_length"]
            + 2 * raw["head_radius"]
        )
        shoulder = u(0.19, 0.22) + 0.06 * build
        lengths = {k: v / total for k, v in raw.items()}
        lengths.update(
            shoulder_width=shoulder / total,
            hip_width=shoulder * u(0.55, 0.82) / total,
            upper_arm=u(0.15, 0.175) / total,
            forearm=u(0.13, 0.155) / total,
            hand_length=u(0.07, 0.085) / total,
            arm_thickness=(0.046 + 0.022 * build) / total,
            leg_thickness=(0.062 + 0.028 * build) / total,
        )

        # -- skin first, then a room it stands out from, then hair and clothes that stand out from both
        skin = _jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], 8)
        room = wall_top = wall_bottom = wall_accent = floor = None
        for _ in range(100):
            wall_hue = u(0, 1)
            wall_top = _hsv(wall_hue, u(0.12, 0.45), u(0.72, 0.96))
            wall_bottom = _hsv(wall_hue + u(-0.08, 0.08), u(0.15, 0.5), u(0.6, 0.88))
            wall_accent = _hsv(wall_hue + u(0.3, 0.7), u(0.25, 0.55), u(0.55, 0.9))
            floor = _hsv(u(0, 1), u(0.15, 0.55), u(0.3, 0.62))
            room = (wall_top, wall_bottom, wall_accent, floor)
            if all(_dist(skin, c) >= 70 for c in room):
                break
        floor_accent = mix(floor, (0, 0, 0) if u() < 0.5 else (255, 255, 255), u(0.15, 0.3))

        def stands_out(colour: RGB, min_dist: float) -> bool:
            return all(_dist(colour, c) >= min_dist for c in room)

        hair = None
        for _ in range(50):
            pool = _FANCY_HAIR if u() < 0.15 else _NATURAL_HAIR
            hair = _jitter(rng, pool[rng.integers(len(pool))], 10)
            if _dist(hair, skin) > 70 and stands_out(hair, 50):
                break

        top = accent = bottom = None
        for _ in range(50):
            top_hue = u(0, 1)
            top = _hsv(top_hue, u(0.55, 0.95), u(0.55, 0.95))
            if stands_out(top, 100) and _dist(top, skin) > 80:
                break
        pattern = TOP_PATTERNS[rng.integers(len(TOP_PATTERNS))]
        for _ in range(50):
            accent = (
                (245, 245, 240)
                if u() < 0.3
                else (25, 25, 35)
                if u() < 0.3
                else _hsv(top_hue + u(0.3, 0.7), u(0.5, 0.95), u(0.6, 1.0))
            )
            if _dist(accent, top) > 120:
                break
        for _ in range(50):
            if u() < 0.35:  # denim, black, khaki, grey
                base = ((45, 70, 130), (30, 30, 36), (170, 150, 105), (110, 112, 118))[rng.integers(4)]
                bottom = _jitter(rng, base, 12)
            else:
                bottom = _hsv(u(0, 1), u(0.45, 0.9), u(0.3, 0.85))
            if _dist(bottom, top) > 90 and stands_out(bottom, 70) and _dist(bottom, skin) > 70:
                break
        bottom_style = BOTTOM_STYLES[rng.choice(3, p=[0.5, 0.25, 0.25])]
        tights = _jitter(rng, ((30, 30, 35), (240, 240, 240), (90, 40, 90))[rng.integers(3)], 8)
        legwear = tights if u() < 0.4 and stands_out(tights, 70) else skin
        if bottom_style == "trousers":
            legwear = bottom
        shoes = _SHOE_COLOURS[rng.integers(len(_SHOE_COLOURS))]

        return cls(
            identity_id=identity_id,
            height=u(0.76, 0.86),
            floor_y=u(0.93, 0.96),
            **{k: float(v) for k, v in lengths.items()},
            skin=skin,
            hair=hair,
            hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
            top=top,
            top_accent=accent,
            top_pattern=pattern,
            pattern_period=u(0.2, 0.32),
            sleeves=SLEEVES[rng.choice(3, p=[0.2, 0.5, 0.3])],
            bottom=bottom,
            bottom_style=bottom_style,
            legwear=legwear,
            shoes=shoes,
            wall_top=wall_top,
            wall_bottom=wall_bottom,
            wall_accent=wall_accent,
            wall_pattern=BACKGROUND_PATTERNS[rng.integers(len(BACKGROUND_PATTERNS))],
            floor=floor,
            floor_accent=floor_accent,
            floor_pattern=FLOOR_PATTERNS[rng.integers(len(FLOOR_PATTERNS))],
            horizon=u(0.6, 0.74),
            background_seed=int(rng.integers(2**31)),
        )
