"""The trainable part of MagicPose as one module, so DDP/DeepSpeed see a single model.

``MagicPoseTrainingModel`` holds the appearance UNet and (stage 2) the pose ControlNet as
submodules; the frozen main UNet is kept outside the module tree, so it is neither wrapped, nor
synchronised, nor saved in training checkpoints.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.utils.checkpoint
from diffusers import ControlNetModel, UNet2DConditionModel

from magicpose.models.reference_attention import (
    ReferenceBank,
    install_reference_attention,
    run_appearance_unet,
)


class MagicPoseTrainingModel(torch.nn.Module):
    def __init__(
        self,
        appearance_unet: UNet2DConditionModel,
        controlnet: ControlNetModel | None,
        unet: UNet2DConditionModel,
    ) -> None:
        super().__init__()
        self.appearance_unet = appearance_unet
        self.controlnet = controlnet
        self._frozen = {"unet": unet}  # a dict, so the frozen UNet is not registered as a submodule
        self.bank = ReferenceBank()
        # The model owns both UNets for the whole run, so the bank stays attached (its hooks are inert while
        # the bank is off, e.g. while a validation pipeline samples with its own bank).
        install_reference_attention(self.appearance_unet, self.bank, writer=True)
        install_reference_attention(self.unet, self.bank)

    @property
    def unet(self) -> UNet2DConditionModel:
        return self._frozen["unet"]

    def forward(
        self,
        reference_latents: torch.Tensor,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        pose: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predicted noise. Leaves the bank in "read" mode: call ``bank.reset()`` after ``backward``."""
        run_appearance_unet(self.appearance_unet, self.bank, reference_latents, timesteps, context)
        down, mid = None, None
        if self.controlnet is not None:
            down, mid = self.controlnet(
                noisy_latents,
                timesteps,
                encoder_hidden_states=context,
                controlnet_cond=pose,
                return_dict=False,
            )
        self.bank.mode = "read"
        return self.unet(
            noisy_latents,
            timesteps,
            encoder_hidden_states=context,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            return_dict=False,
        )[0]

    def enable_gradient_checkpointing(self) -> None:
        """Gradient checkpointing of all three networks, made safe for the reference bank.

        A checkpointed block is run again during the backward pass and must save exactly what its
        forward pass saved. Two things of ours could break that: (1) the appearance UNet stops by
        raising :class:`BankFilled` inside its last transformer block; an exception leaving a
        checkpointed region aborts it half-way (and PyTorch before 2.13 left the region's
        saved-tensor hooks installed after such an exception), so the block that raises runs
        uncheckpointed: it only computes its first norm before stopping. (2) The bank's hooks act on
        its global mode; each recomputation runs in the mode its forward pass saw (writers
        never write again), whatever the mode is when the backward pass comes.
        """
        last_writer = self.appearance_unet.get_submodule(self.bank.last_writer)
        stopping_blocks = {
            id(m) for m in self.appearance_unet.modules() if any(sub is last_writer for sub in m.modules())
        }
        bank = self.bank

        def checkpoint(module: torch.nn.Module, *args):
            if id(module) in stopping_blocks:
                return module(*args)
            forward_mode = bank.mode

            def contexts():
                return nullcontext(), bank.replaying(forward_mode)

            return torch.utils.checkpoint.checkpoint(
                module.__call__, *args, use_reentrant=False, context_fn=contexts
            )

        for network in (self.appearance_unet, self.controlnet, self.unet):
            if network is not None:
                network.enable_gradient_checkpointing(checkpoint)

    def freeze_unused_parameters(
        self,
        reference_latents: torch.Tensor,
        noisy_latents: torch.Tensor,
        context: torch.Tensor,
        pose: torch.Tensor | None,
    ) -> list[str]:
        """Freeze trainable parameters that cannot affect the loss; returns their names.

        The appearance UNet stops after its last bank write, so its tail (the rest of the last
        transformer block, the last resnet-free layers and the output head) never gets a gradient.
        Freezing them lets DDP run without ``find_unused_parameters``. Found with one probe pass, on
        the device and in the dtypes of training (every input and module must already be there).
        """
        timesteps = torch.full((noisy_latents.shape[0],), 500, dtype=torch.long, device=noisy_latents.device)
        try:
            self(reference_latents, noisy_latents, timesteps, context, pose).float().pow(2).mean().backward()
        finally:
            self.bank.reset()
        unused = [n for n, p in self.named_parameters() if p.requires_grad and p.grad is None]
        for name, param in self.named_parameters():
            param.grad = None
            if name in unused:
                param.requires_grad_(False)
        return unused
