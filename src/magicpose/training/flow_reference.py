"""The reference flow between real frames that vid2vid's training compares its flow head against (FlowNet2 in
the original; here RAFT, torchvision's ``raft_small`` or ``raft_large``, from a local state dict).

``flow, conf = reference(current, previous)``: the flow (B, 2, H, W, pixels) such that ``warp(previous, flow)``
matches ``current``, and where it does: ``conf`` is 1 where the warped previous frame is within
``threshold`` of the current one (the squared difference summed over the channels of [-1, 1] frames, the
original's 0.02), else 0. Nothing is trained; no gradient flows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from magicpose.errors import InputError, first_line
from magicpose.models.vid2vid import warp

FlowNet = Callable[[Tensor, Tensor], Tensor]  # (current, previous) -> flow (B, 2, H, W)


class FlowReference:
    def __init__(self, net: FlowNet, threshold: float = 0.02) -> None:
        self.net, self.threshold = net, threshold

    @torch.no_grad()
    def __call__(self, current: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        flow = self.net(current, previous)
        error = ((current - warp(previous, flow)) ** 2).sum(dim=1, keepdim=True)
        return flow, (error < self.threshold).to(current.dtype)


def load_flow_reference(
    path: str | Path, kind: str = "raft_small", threshold: float = 0.02, device: str | torch.device = "cpu"
) -> FlowReference:
    """RAFT from a local torchvision state dict; every problem is one line naming the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"loss.flow_net_path '{path}' does not exist: pass a torchvision {kind} state dict, or "
            "leave it out to train the flow head from the warp of the real frames alone"
        )
    try:
        from torchvision.models import optical_flow
    except Exception as err:  # torchvision missing, or a build that does not match torch
        raise InputError(
            f"loss.flow_net_path needs torchvision's RAFT ({first_line(err)}): install a torchvision "
            "matching your torch, or leave loss.flow_net_path out"
        ) from None
    net = getattr(optical_flow, kind)(weights=None)
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:
        raise InputError(
            f"cannot load '{path}' as torchvision's {kind} ({first_line(err)}): pass the state dict of "
            f"{kind} (raft_small_C_T_V2 or raft_large_C_T_SKHT_V2 weights)"
        ) from None
    net = net.to(device).eval().requires_grad_(False)
    return FlowReference(lambda current, previous: net(current, previous)[-1], threshold)


def masked_l1(x: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """The original's ``MaskedL1Loss``: the mean of ``|x * mask - target * mask|`` over every element (the mask
    broadcast over the channels); without a mask, plain L1."""
    if mask is None:
        return (x - target).abs().mean()
    mask = mask.expand_as(x)
    return (x * mask - target * mask).abs().mean()
