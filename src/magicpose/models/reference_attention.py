"""Appearance injection through self-attention ("multi-source self-attention").

The appearance UNet runs on the clean reference latent and *writes* the input of every
self-attention layer (``attn1``, already layer-normed by ``BasicTransformerBlock``) into a
:class:`ReferenceBank`. The frozen main UNet then *reads* it: each ``attn1`` attends to
``[own tokens ; bank tokens]`` projected by its own ``to_k``/``to_v``, as the original code does
(it passes that concatenation to the layer as its context). Both UNets have the same layer names,
so a bank entry is keyed by the layer name.

The bank is attached as forward pre-hooks on the ``attn1`` modules, not as attention processors:
whatever processor a layer runs (diffusers' default ``AttnProcessor2_0``, attention slicing,
xformers, ``set_default_attn_processor()``, a processor of the user's), reading hands it the
concatenation as ``encoder_hidden_states``, which every self-attention processor projects with the
layer's own ``to_k``/``to_v``. Processors are never replaced, the hooks do nothing while the bank
is off, and :func:`attached_reference_bank` removes them again, so a UNet shared with other
pipelines is left as it was found.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from diffusers.models.attention_processor import Attention
from torch.utils.hooks import RemovableHandle

BankMode = Literal["off", "write", "read"]


class BankFilled(Exception):
    """Raised by the last writer to stop the appearance UNet once the bank is complete.

    Nothing computed after the last ``attn1`` input reaches the bank, so stopping there
    gives the same bank and saves the last attention, the feed-forward and the output head.
    """


class ReferenceBank:
    """Self-attention inputs of the appearance UNet, keyed by ``attn1`` layer name.

    ``mode`` tells the attached hooks what to do: in ``"write"`` the writers (on the appearance
    UNet) store their input, in ``"read"`` the readers (on the main UNet) attend to the stored
    features; otherwise every layer is plain self-attention. A writer never reads and a reader
    never writes. Use :meth:`writing` / :meth:`reading` (or :meth:`reset`); gradient checkpointing
    recomputes blocks under :meth:`replaying`.
    """

    def __init__(self) -> None:
        self.mode: BankMode = "off"
        self.features: dict[str, torch.Tensor] = {}
        self.last_writer: str | None = None
        self.stop_after_last_write = False

    def clear(self) -> None:
        self.features.clear()

    def reset(self) -> None:
        """Back to plain attention with an empty bank."""
        self.mode = "off"
        self.stop_after_last_write = False
        self.clear()

    @contextmanager
    def writing(self, stop_after_last_write: bool = False) -> Iterator[None]:
        """Fill the bank; with ``stop_after_last_write`` the writer raises :class:`BankFilled`."""
        self.clear()
        self.mode = "write"
        self.stop_after_last_write = stop_after_last_write
        try:
            yield
        except BankFilled:
            pass
        finally:
            self.mode = "off"
            self.stop_after_last_write = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        if not self.features:
            raise RuntimeError(
                "the reference bank is empty: run the appearance UNet inside bank.writing() first"
            )
        self.mode = "read"
        try:
            yield
        finally:
            self.mode = "off"

    @contextmanager
    def replaying(self, forward_mode: BankMode) -> Iterator[None]:
        """The mode for recomputing (gradient checkpointing) a block whose forward pass ran in
        ``forward_mode``: readers read again, writers compute the same plain attention without
        writing a second time."""
        previous = self.mode
        self.mode = "read" if forward_mode == "read" else "off"
        try:
            yield
        finally:
            self.mode = previous

    def reference_tokens(self, name: str, batch_size: int) -> torch.Tensor:
        """The bank entry ``name`` broadcast to ``batch_size`` (one reference for all frames, or one each)."""
        ref = self.features[name]
        if ref.shape[0] == batch_size:
            return ref
        if ref.shape[0] == 1:
            return ref.expand(batch_size, -1, -1)
        raise ValueError(
            f"bank entry {name} has batch {ref.shape[0]} but the main UNet runs batch {batch_size}: "
            "use one reference for all frames or one per sample"
        )


def _reference_hook(bank: ReferenceBank, name: str, role: Literal["write", "read"]):
    """The pre-hook of one ``attn1``: store its input (writer) or extend its context (reader)."""

    def hook(attn: Attention, args: tuple, kwargs: dict):
        if bank.mode != role:
            return None
        hidden_states = args[0] if args else kwargs["hidden_states"]
        if kwargs.get("encoder_hidden_states") is not None or kwargs.get("attention_mask") is not None:
            raise ValueError(f"{name}: the reference bank only serves unmasked self-attention (attn1)")
        if role == "write":
            bank.features[name] = hidden_states
            if bank.stop_after_last_write and name == bank.last_writer:
                raise BankFilled
            return None
        if (
            "Fused" in type(attn.processor).__name__
        ):  # a fused to_qkv has no key projection of its own to apply
            raise ValueError(
                f"{name}: the reference bank needs separate to_k/to_v projections; call "
                "unet.unfuse_qkv_projections() before sampling with appearance control"
            )
        context = torch.cat([hidden_states, bank.reference_tokens(name, hidden_states.shape[0])], dim=1)
        return args, {**kwargs, "encoder_hidden_states": context}

    return hook


def self_attention_names(unet: torch.nn.Module) -> list[str]:
    """``attn1`` layer names of a UNet in execution order (down blocks, mid block, up blocks)."""
    names = [k[: -len(".processor")] for k in unet.attn_processors if k.endswith("attn1.processor")]
    stage = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}
    # attn_processors lists children in registration order, where up_blocks precede mid_block.
    return sorted(names, key=lambda n: stage.get(n.split(".")[0], 3))


def install_reference_attention(
    unet: torch.nn.Module, bank: ReferenceBank, writer: bool = False
) -> list[RemovableHandle]:
    """Attach ``bank`` to every ``attn1`` of ``unet`` (a writer for the appearance UNet, else a reader).

    Returns the hook handles; ``handle.remove()`` detaches. Attaching the appearance UNet
    (``writer=True``) and the main UNet to the same bank connects them; other hooks, processors and
    layers are untouched.
    """
    names = self_attention_names(unet)
    if not names:
        raise ValueError("this UNet has no self-attention (attn1) layers to inject the reference into")
    handles = []
    for name in names:
        attn = unet.get_submodule(name)
        if attn.is_cross_attention or attn.norm_cross is not None or attn.group_norm is not None:
            raise ValueError(f"{name}: expected a BasicTransformerBlock self-attention (attn1)")
        hook = _reference_hook(bank, name, "write" if writer else "read")
        handles.append(attn.register_forward_pre_hook(hook, with_kwargs=True))
    if writer:
        bank.last_writer = names[-1]
    return handles


@contextmanager
def attached_reference_bank(
    appearance_unet: torch.nn.Module, unet: torch.nn.Module, bank: ReferenceBank
) -> Iterator[ReferenceBank]:
    """``bank`` connecting ``appearance_unet`` (writer) to ``unet`` (reader) for the ``with`` block only."""
    if self_attention_names(appearance_unet) != self_attention_names(unet):
        raise ValueError("the appearance UNet and the UNet must have the same self-attention layers")
    handles = install_reference_attention(appearance_unet, bank, writer=True)
    try:
        handles += install_reference_attention(unet, bank)
        yield bank
    finally:
        for handle in handles:
            handle.remove()
        bank.reset()


def run_appearance_unet(
    appearance_unet: torch.nn.Module,
    bank: ReferenceBank,
    reference_latents: torch.Tensor,
    timestep: torch.Tensor | int,
    encoder_hidden_states: torch.Tensor,
    stop_after_last_write: bool = True,
) -> ReferenceBank:
    """Fill ``bank`` from one appearance-UNet pass; its output is not needed and not returned."""
    with bank.writing(stop_after_last_write=stop_after_last_write):
        appearance_unet(
            reference_latents, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False
        )
    return bank
