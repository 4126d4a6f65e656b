"""The empty-prompt CLIP embedding that MagicPose conditions on, without needing a tokenizer.

The original always uses the prompt "". Its CLIP token ids are known (start-of-text, then
end-of-text repeated as padding), so a converted checkpoint can store the embedding once and
inference needs neither the tokenizer nor, for the empty prompt, the text encoder.

It is stored as a pipeline component of its own, ``empty_prompt/`` (an :class:`EmptyPromptEmbedding`,
``config.json`` and ``diffusion_pytorch_model.safetensors``), so diffusers' generic loader brings it along
like the VAE or the UNet. Folders written before keep a single ``empty_prompt_embeds.safetensors``; it is
still read.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from safetensors.torch import load_file

EMPTY_PROMPT_FOLDER = "empty_prompt"  # the component's name in model_index.json and its folder
LEGACY_EMPTY_PROMPT_FILE = "empty_prompt_embeds.safetensors"  # the single file of earlier folders
_LEGACY_KEY = "prompt_embeds"
CLIP_VOCAB_SIZE = 49408  # the CLIP ViT-L/14 BPE vocabulary of SD 1.5
CLIP_BOS, CLIP_EOS = 49406, 49407  # <|startoftext|>, <|endoftext|> (also SD 1.5's padding token)


def empty_prompt_ids(text_encoder=None, tokenizer=None, length: int = 77) -> torch.Tensor:
    """Token ids (1, length) of "" as SD 1.5 pads it: from ``tokenizer`` if given, else CLIP's known ids."""
    if tokenizer is not None:
        return tokenizer(
            "", padding="max_length", max_length=length, truncation=True, return_tensors="pt"
        ).input_ids
    vocab = getattr(getattr(text_encoder, "config", None), "vocab_size", CLIP_VOCAB_SIZE)
    if vocab != CLIP_VOCAB_SIZE:
        raise ValueError(
            f"the text encoder's vocabulary has {vocab} tokens, not CLIP's {CLIP_VOCAB_SIZE}: "
            "the empty prompt's ids are unknown, pass its tokenizer"
        )
    return torch.tensor([[CLIP_BOS] + [CLIP_EOS] * (length - 1)])


@torch.no_grad()
def compute_empty_prompt_embeds(text_encoder, tokenizer=None) -> torch.Tensor:
    """CLIP ``last_hidden_state`` of "" (1, 77, dim)."""
    length = text_encoder.config.max_position_embeddings
    ids = empty_prompt_ids(text_encoder, tokenizer, length).to(text_encoder.device)
    return text_encoder(ids)[0]


class EmptyPromptEmbedding(ModelMixin, ConfigMixin):
    """A fixed text-encoder output (1, sequence_length, hidden_size) as a diffusers model component: the
    pipeline conditions on it instead of running the text encoder on ""."""

    @register_to_config
    def __init__(self, sequence_length: int = 77, hidden_size: int = 768) -> None:
        super().__init__()
        self.register_buffer("embeds", torch.zeros(1, sequence_length, hidden_size))

    @classmethod
    def from_tensor(cls, embeds: torch.Tensor) -> EmptyPromptEmbedding:
        if embeds.ndim != 3 or embeds.shape[0] != 1:
            raise ValueError(f"a prompt embedding has shape (1, tokens, dim), got {tuple(embeds.shape)}")
        module = cls(sequence_length=embeds.shape[1], hidden_size=embeds.shape[2])
        module.register_buffer("embeds", embeds.detach().clone())  # in its own dtype and device
        return module

    def forward(self) -> torch.Tensor:
        return self.embeds


def save_empty_prompt_embeds(embeds: torch.Tensor, folder: str | Path) -> Path:
    """Write ``embeds`` as the ``empty_prompt/`` component of ``folder``; returns that folder."""
    path = Path(folder) / EMPTY_PROMPT_FOLDER
    EmptyPromptEmbedding.from_tensor(embeds.detach().cpu()).save_pretrained(path)
    return path


def load_empty_prompt_embeds(folder: str | Path) -> torch.Tensor | None:
    """The stored embedding of ``folder`` (its component, or an earlier folder's single file), or None."""
    folder = Path(folder)
    if (folder / EMPTY_PROMPT_FOLDER / "config.json").is_file():
        embeds = EmptyPromptEmbedding.from_pretrained(folder / EMPTY_PROMPT_FOLDER).embeds
    elif (folder / LEGACY_EMPTY_PROMPT_FILE).is_file():
        embeds = load_file(str(folder / LEGACY_EMPTY_PROMPT_FILE))[_LEGACY_KEY]
    else:
        return None
    # A copy: the loaded tensor can sit unaligned inside the file's buffer, and CPU matmuls on unaligned
    # memory round differently in the last bit, which would break bitwise-identical frames.
    return embeds.detach().clone()
