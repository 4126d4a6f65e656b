"""The three CMU OpenPose networks (body, hand, face) with the parameter names of the published files.

``body_pose_model.pth`` and ``hand_pose_model.pth`` (converted from Caffe by pytorch-openpose, shipped in
``lllyasviel/Annotators``) store flat layer names (``conv1_1.weight``); the annotator builds its modules as
named ``nn.Sequential`` stages (``model0``, ``model1_1``, ...) and maps each module key to the file key by
dropping the stage prefix. ``facenet.pth`` stores the face network's own flat names. The classes below use
the same stage and layer names, so a published file loads with ``strict=True`` after that mapping.

Every internal channel width is divided by ``width_div`` (1 = the real networks); input (3) and output
channels (PAF 38, heat-maps 19/22/71) stay fixed, so a tiny network has the real layer names, structure
and output layout and runs through the same decoding.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

__all__ = [
    "BODY_HEATMAPS",
    "BODY_PAFS",
    "FACE_HEATMAPS",
    "HAND_HEATMAPS",
    "BodyPoseNet",
    "FaceNet",
    "HandPoseNet",
    "build_net",
    "from_file_state_dict",
    "param_count",
    "to_file_state_dict",
]

BODY_PAFS = 38  # 19 limbs x (dx, dy)
BODY_HEATMAPS = 19  # 18 joints + background
HAND_HEATMAPS = 22  # 21 points + background
FACE_HEATMAPS = 71  # 68 landmarks + 2 pupils + background

# (name, in, out, kernel) for convs; (name,) for a 2x2 stride-2 max-pool. Widths are the real ones.
_VGG_HEAD = (
    ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("pool1_stage1",),
    ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3), ("pool2_stage1",),
    ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3), ("conv3_4", 256, 256, 3),
    ("pool3_stage1",),
    ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3),
)  # fmt: skip
# The hand and face networks' trunk: the VGG head, then on to 128 features.
_HAND_FACE_HEAD = _VGG_HEAD + (
    ("conv4_3", 512, 512, 3), ("conv4_4", 512, 512, 3), ("conv5_1", 512, 512, 3),
    ("conv5_2", 512, 512, 3), ("conv5_3_CPM", 512, 128, 3),
)  # fmt: skip


def _w(channels: int, div: int) -> int:
    return max(1, channels // div)


def _layers(spec, no_relu: set[str], div: int, fixed: dict[str, int] | None = None) -> nn.Sequential:
    """A named Sequential as the annotator builds it: each conv is followed by ``relu_<name>`` unless listed
    in ``no_relu``. ``fixed`` gives channel counts that do not scale (image input, outputs, concat inputs)."""
    fixed = fixed or {}
    mods: list[tuple[str, nn.Module]] = []
    for entry in spec:
        name = entry[0]
        if len(entry) == 1:
            mods.append((name, nn.MaxPool2d(kernel_size=2, stride=2, padding=0)))
            continue
        _, cin, cout, k = entry
        cin = fixed.get(f"{name}:in", 3 if cin == 3 else _w(cin, div))
        cout = fixed.get(f"{name}:out", _w(cout, div))
        mods.append((name, nn.Conv2d(cin, cout, kernel_size=k, stride=1, padding=k // 2)))
        if name not in no_relu:
            mods.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(mods))


def _refine_stage(names: list[str]) -> tuple:
    """Stages 2-6: five 7x7 convs, one 1x1, one 1x1 to the outputs."""
    k = (7, 7, 7, 7, 7, 1, 1)
    return tuple((n, 128, 128, kk) for n, kk in zip(names, k))


class BodyPoseNet(nn.Module):
    """The 6-stage two-branch body network (COCO-18): returns (PAFs (B,38,h,w), heat-maps (B,19,h,w)) at 1/8.

    ``heatmap_relu`` reproduces the annotator: its no-ReLU list names ``Mconv7_stage6_L1`` twice and never
    ``Mconv7_stage6_L2``, so a ReLU follows the final heat-map conv (negative values are clipped to 0).
    """

    flat_file_keys = True

    def __init__(self, width_div: int = 1, heatmap_relu: bool = True) -> None:
        super().__init__()
        d = width_div
        feat = _w(128, d)
        head = _VGG_HEAD + (("conv4_3_CPM", 512, 256, 3), ("conv4_4_CPM", 256, 128, 3))
        self.model0 = _layers(head, set(), d)
        no_relu = {"conv5_5_CPM_L1", "conv5_5_CPM_L2"}
        no_relu |= {f"Mconv7_stage{i}_L{b}" for i in range(2, 7) for b in (1, 2)}
        if heatmap_relu:
            no_relu.discard("Mconv7_stage6_L2")
        for b, nout in ((1, BODY_PAFS), (2, BODY_HEATMAPS)):
            spec = (
                (f"conv5_1_CPM_L{b}", 128, 128, 3), (f"conv5_2_CPM_L{b}", 128, 128, 3),
                (f"conv5_3_CPM_L{b}", 128, 128, 3), (f"conv5_4_CPM_L{b}", 128, 512, 1),
                (f"conv5_5_CPM_L{b}", 512, nout, 1),
            )  # fmt: skip
            self.add_module(f"model1_{b}", _layers(spec, no_relu, d, {f"conv5_5_CPM_L{b}:out": nout}))
            for i in range(2, 7):
                names = [f"Mconv{j}_stage{i}_L{b}" for j in range(1, 8)]
                fixed = {f"{names[0]}:in": BODY_PAFS + BODY_HEATMAPS + feat, f"{names[-1]}:out": nout}
                self.add_module(f"model{i}_{b}", _layers(_refine_stage(names), no_relu, d, fixed))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.model0(x)
        paf, heat = self.model1_1(feat), self.model1_2(feat)
        for i in range(2, 7):
            h = torch.cat([paf, heat, feat], 1)
            paf, heat = getattr(self, f"model{i}_1")(h), getattr(self, f"model{i}_2")(h)
        return paf, heat


class HandPoseNet(nn.Module):
    """The 6-stage hand network: returns heat-maps (B, 22, h, w) at 1/8 of the input."""

    flat_file_keys = True

    def __init__(self, width_div: int = 1) -> None:
        super().__init__()
        d = width_div
        feat = _w(128, d)
        no_relu = {"conv6_2_CPM"} | {f"Mconv7_stage{i}" for i in range(2, 7)}
        self.model1_0 = _layers(_HAND_FACE_HEAD, no_relu, d)
        self.model1_1 = _layers(
            (("conv6_1_CPM", 128, 512, 1), ("conv6_2_CPM", 512, HAND_HEATMAPS, 1)),
            no_relu,
            d,
            {"conv6_2_CPM:out": HAND_HEATMAPS},
        )
        for i in range(2, 7):
            names = [f"Mconv{j}_stage{i}" for j in range(1, 8)]
            fixed = {f"{names[0]}:in": HAND_HEATMAPS + feat, f"{names[-1]}:out": HAND_HEATMAPS}
            self.add_module(f"model{i}", _layers(_refine_stage(names), no_relu, d, fixed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.model1_0(x)
        out = self.model1_1(feat)
        for i in range(2, 7):
            out = getattr(self, f"model{i}")(torch.cat([out, feat], 1))
        return out


class FaceNet(nn.Module):
    """The 6-stage face network (flat layer names as in ``facenet.pth``): returns the last stage's heat-maps
    (B, 71, h, w) at 1/8: 68 landmarks, 2 pupils, background. Unlike the body and hand networks, every
    conv but a stage's last one is followed by a ReLU, including ``Mconv6``."""

    flat_file_keys = False

    def __init__(self, width_div: int = 1) -> None:
        super().__init__()
        d = width_div
        feat = _w(128, d)
        spec = [*_HAND_FACE_HEAD, ("conv6_1_CPM", 128, 512, 1), ("conv6_2_CPM", 512, FACE_HEATMAPS, 1)]
        for i in range(2, 7):
            spec += _refine_stage([f"Mconv{j}_stage{i}" for j in range(1, 8)])
        fixed = {"conv6_2_CPM:out": FACE_HEATMAPS}
        for i in range(2, 7):
            fixed[f"Mconv1_stage{i}:in"] = FACE_HEATMAPS + feat
            fixed[f"Mconv7_stage{i}:out"] = FACE_HEATMAPS
        # built as one Sequential only to reuse _layers; registered flat so the names match the file
        for name, mod in _layers(spec, set(), d, fixed).named_children():
            if isinstance(mod, nn.Conv2d):
                self.add_module(name, mod)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu, pool = torch.relu, nn.functional.max_pool2d
        h = x
        for entry in _HAND_FACE_HEAD:
            name = entry[0]
            h = pool(h, 2, 2) if name.startswith("pool") else relu(getattr(self, name)(h))
        feat = h
        out = self.conv6_2_CPM(relu(self.conv6_1_CPM(feat)))
        for i in range(2, 7):
            h = torch.cat([out, feat], 1)
            for j in range(1, 7):
                h = relu(getattr(self, f"Mconv{j}_stage{i}")(h))
            out = getattr(self, f"Mconv7_stage{i}")(h)
        return out


_KINDS = {"body": BodyPoseNet, "hand": HandPoseNet, "face": FaceNet}


def build_net(kind: str, width_div: int = 1, device: str | torch.device | None = None) -> nn.Module:
    """``kind`` in {"body", "hand", "face"}; ``device="meta"`` builds it without allocating weights."""
    if kind not in _KINDS:
        raise ValueError(f"unknown OpenPose network {kind!r}; expected one of {sorted(_KINDS)}")
    with torch.device(device or "cpu"):
        return _KINDS[kind](width_div=width_div)


def param_count(kind: str, width_div: int = 1) -> int:
    """Number of parameters of a network (built on the meta device, so real sizes cost nothing)."""
    return sum(p.numel() for p in build_net(kind, width_div, device="meta").parameters())


def _file_key(net: nn.Module, key: str) -> str:
    return key.split(".", 1)[1] if net.flat_file_keys else key


def to_file_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as the published ``.pth`` file stores it (stage prefixes dropped for body/hand)."""
    return {_file_key(net, k): v for k, v in net.state_dict().items()}


def from_file_state_dict(net: nn.Module, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a published file's tensors to ``net``'s keys (a file already in module keys also works).

    Raises KeyError listing the network's keys the file lacks; extra keys in the file are ignored, as the
    annotator's ``transfer`` ignores them."""
    out, missing = {}, []
    for key in net.state_dict():
        fkey = _file_key(net, key)
        if fkey in weights:
            out[key] = weights[fkey]
        elif key in weights:
            out[key] = weights[key]
        else:
            missing.append(fkey)
    if missing:
        raise KeyError(missing)
    return out
