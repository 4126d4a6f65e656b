"""Which person to keep when several are in view: the largest and most confident one in the first frame where
anyone is seen, then whoever overlaps the previous frame's box most (a dancer does not jump across the frame
between two frames, while a bystander's confidence can briefly beat theirs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from magicpose.pose.schema import PersonPose

MIN_TRACK_IOU = 0.1  # below this the tracked dancer is lost, and the choice starts afresh


def person_box(person: PersonPose) -> np.ndarray | None:
    """(x0, y0, x1, y1) around the visible points (body, hands and face), or None when none is visible."""
    points = person.to_array()
    visible = points[points[:, 2] > 0, :2]
    if len(visible) == 0:
        return None
    return np.concatenate([visible.min(axis=0), visible.max(axis=0)])


def person_score(person: PersonPose) -> float:
    """Box area x mean confidence of the visible body points: large and sure wins (0 when nothing is seen)."""
    box = person_box(person)
    body = person.body[person.body[:, 2] > 0, 2]
    if box is None or len(body) == 0:
        return 0.0
    return float((box[2] - box[0]) * (box[3] - box[1]) * body.mean())


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def track_main_person(frames: Iterable[list[PersonPose]]) -> Iterator[PersonPose | None]:
    """One person per frame (None where nobody is seen): see the module docstring."""
    previous: np.ndarray | None = None
    for people in frames:
        boxes = [person_box(p) for p in people]
        candidates = [(p, b) for p, b in zip(people, boxes, strict=True) if b is not None]
        if not candidates:
            yield None
            continue
        chosen = None
        if previous is not None:
            overlap = [box_iou(previous, b) for _, b in candidates]
            best = int(np.argmax(overlap))
            if overlap[best] >= MIN_TRACK_IOU:
                chosen = candidates[best]
        if chosen is None:
            chosen = max(candidates, key=lambda c: person_score(c[0]))
        previous = chosen[1]
        yield chosen[0]
