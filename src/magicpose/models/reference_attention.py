"""Appearance injection through self-attention ("multi-source self-attention").

The appearance UNet runs on the clean reference latent and *writes* the input of every
self-attention layer (``attn1``, already layer-normed by ``BasicTransformerBlock``) into a
:class:`ReferenceBank`. The frozen main UNet then *reads* it: each ``attn1`` takes its keys and
values from ``[own tokens ; bank tokens]`` projected by its own ``to_k``/``to_v``. Both UNets have
the same layer names, so a bank entry is keyed by the processor name.

Everything goes through attention processors installed with ``set_attn_processor``; no
``forward`` is replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

BankMode = Literal["off", "write", "read"]
AttentionBackend = Literal["sdpa", "xformers"]


class BankFilled(Exception):
    """Raised by the last writer to stop the appearance UNet once the bank is complete.

    Nothing computed after the last ``attn1`` input reaches the bank, so stopping there
    gives the same bank and saves the last attention, the feed-forward and the output head.
    """


class ReferenceBank:
    """Self-attention inputs of the appearance UNet, keyed by ``attn1`` layer name.

    ``mode`` tells the installed processors what to do: in ``"write"`` the writers (on the
    appearance UNet) store their input, in ``"read"`` the readers (on the main UNet) attend to the
    stored features; otherwise every processor is plain self-attention. A writer never reads and a
    reader never writes. Use :meth:`writing` / :meth:`reading` (or :meth:`reset`); gradient
    checkpointing recomputes blocks under :meth:`replaying`.
    """

    def __init__(self) -> None:
        self.mode: BankMode = "off"
        self.features: dict[str, torch.Tensor] = {}
        # Projected keys/values of the bank per layer: they depend only on the bank, so they are
        # computed on the first read and reused by every frame batch until the next write.
        self._kv_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.last_writer: str | None = None
        self.stop_after_last_write = False

    def clear(self) -> None:
        self.features.clear()
        self._kv_cache.clear()

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
            raise RuntimeError("the reference bank is empty: run the appearance UNet inside bank.writing() first")
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

    def reference_kv(self, name: str, attn: Attention) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the bank entry ``name``, projected by the reader's ``attn``."""
        if torch.is_grad_enabled():
            # Training: no cache, so that checkpointed blocks recompute exactly what they saved.
            ref = self.features[name]
            return attn.to_k(ref), attn.to_v(ref)
        if name not in self._kv_cache:
            ref = self.features[name]
            self._kv_cache[name] = (attn.to_k(ref), attn.to_v(ref))
        return self._kv_cache[name]


def _expand_batch(ref: torch.Tensor, batch_size: int, name: str) -> torch.Tensor:
    if ref.shape[0] == batch_size:
        return ref
    if ref.shape[0] == 1:
        return ref.expand(batch_size, -1, -1)
    raise ValueError(
        f"bank entry {name} has batch {ref.shape[0]} but the main UNet runs batch {batch_size}: "
        "use one reference for all frames or one per sample"
    )


def _xformers_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    import xformers.ops  # optional dependency, checked by the pipeline before this backend is chosen

    out = xformers.ops.memory_efficient_attention(
        query.transpose(1, 2).contiguous(), key.transpose(1, 2).contiguous(), value.transpose(1, 2).contiguous()
    )
    return out.transpose(1, 2)


class ReferenceAttnProcessor:
    """Self-attention processor for one ``attn1`` layer that writes to or reads from a bank.

    ``role="write"`` (appearance UNet) stores its input when the bank is in "write" mode;
    ``role="read"`` (main UNet) takes its key/value tokens from ``[own ; bank]`` when the bank is
    in "read" mode (the bank is broadcast over the batch when it holds one reference). Otherwise
    it is plain self-attention, with the math of diffusers' ``AttnProcessor2_0``.
    """

    def __init__(
        self, bank: ReferenceBank, name: str, role: Literal["write", "read"], backend: AttentionBackend = "sdpa"
    ) -> None:
        self.bank = bank
        self.name = name
        self.role = role
        self.backend = backend

    def _attend(self, attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        batch_size = query.shape[0]
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if self.backend == "xformers":
            out = _xformers_attention(query, key, value)
        else:
            out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        return out.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(f"{self.name}: the reference processor only serves unmasked self-attention (attn1)")
        if hidden_states.ndim != 3 or attn.group_norm is not None or attn.spatial_norm is not None:
            raise ValueError(f"{self.name}: expected a BasicTransformerBlock attn1 on (batch, tokens, channels)")
        mode = self.bank.mode if self.bank.mode == self.role else "off"
        residual = hidden_states

        if mode == "write":
            self.bank.features[self.name] = hidden_states
            if self.bank.stop_after_last_write and self.name == self.bank.last_writer:
                raise BankFilled

        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        if mode == "read":
            ref_key, ref_value = self.bank.reference_kv(self.name, attn)
            batch_size = hidden_states.shape[0]
            key = torch.cat([key, _expand_batch(ref_key, batch_size, self.name)], dim=1)
            value = torch.cat([value, _expand_batch(ref_value, batch_size, self.name)], dim=1)

        hidden_states = self._attend(attn, query, key, value)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def self_attention_names(unet: torch.nn.Module) -> list[str]:
    """``attn1`` layer names of a UNet in execution order (down blocks, mid block, up blocks)."""
    names = [k[: -len(".processor")] for k in unet.attn_processors if k.endswith("attn1.processor")]
    stage = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}
    # attn_processors lists children in registration order, where up_blocks precede mid_block.
    return sorted(names, key=lambda n: stage.get(n.split(".")[0], 3))


def install_reference_attention(
    unet: torch.nn.Module, bank: ReferenceBank, backend: AttentionBackend = "sdpa", writer: bool = False
) -> list[str]:
    """Put a :class:`ReferenceAttnProcessor` on every ``attn1`` of ``unet``; other layers keep theirs.

    Returns the ``attn1`` names in execution order. Installing on the appearance UNet
    (``writer=True``) and on the main UNet with the same bank connects them.
    """
    processors = dict(unet.attn_processors)
    names = self_attention_names(unet)
    if not names:
        raise ValueError("this UNet has no self-attention (attn1) layers to inject the reference into")
    for name in names:
        processors[name + ".processor"] = ReferenceAttnProcessor(bank, name, "write" if writer else "read", backend)
    unet.set_attn_processor(processors)
    if writer:
        bank.last_writer = names[-1]
    return names


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
        appearance_unet(reference_latents, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)
    return bank
