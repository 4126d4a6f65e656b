"""The empty-prompt CLIP embedding that MagicPose conditions on, without needing a tokenizer.

The original always uses the prompt "". Its CLIP token ids are known (start-of-text, then
end-of-text repeated as padding), so a converted checkpoint can store the embedding once and
inference needs neither the tokenizer nor, for the empty prompt, the text encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

EMPTY_PROMPT_FILE = "empty_prompt_embeds.safetensors"
_KEY = "prompt_embeds"
CLIP_VOCAB_SIZE = 49408  # the CLIP ViT-L/14 BPE vocabulary of SD 1.5
CLIP_BOS, CLIP_EOS = 49406, 49407  # <|startoftext|>, <|endoftext|> (also SD 1.5's padding token)


def empty_prompt_ids(text_encoder=None, tokenizer=None, length: int = 77) -> torch.Tensor:
    """Token ids (1, length) of "" as SD 1.5 pads it: from ``tokenizer`` if given, else CLIP's known ids."""
    if tokenizer is not None:
        return tokenizer("", padding="max_length", max_length=length, truncation=True,
                         return_tensors="pt").input_ids
    vocab = getattr(getattr(text_encoder, "config", None), "vocab_size", CLIP_VOCAB_SIZE)
    if vocab != CLIP_VOCAB_SIZE:
        raise ValueError(f"the text encoder's vocabulary has {vocab} tokens, not CLIP's {CLIP_VOCAB_SIZE}: "
                         "the empty prompt's ids are unknown, pass its tokenizer")
    return torch.tensor([[CLIP_BOS] + [CLIP_EOS] * (length - 1)])


@torch.no_grad()
def compute_empty_prompt_embeds(text_encoder, tokenizer=None) -> torch.Tensor:
    """CLIP ``last_hidden_state`` of "" (1, 77, dim)."""
    length = text_encoder.config.max_position_embeddings
    ids = empty_prompt_ids(text_encoder, tokenizer, length).to(text_encoder.device)
    return text_encoder(ids)[0]


def save_empty_prompt_embeds(embeds: torch.Tensor, folder: str | Path) -> Path:
    path = Path(folder) / EMPTY_PROMPT_FILE
    save_file({_KEY: embeds.detach().cpu().contiguous()}, str(path))
    return path


def load_empty_prompt_embeds(folder: str | Path) -> torch.Tensor | None:
    """The stored embedding of ``folder``, or None when the folder has none."""
    path = Path(folder) / EMPTY_PROMPT_FILE
    if not path.is_file():
        return None
    # A copy: the loaded tensor can sit unaligned inside the file's buffer, and CPU matmuls on unaligned
    # memory round differently in the last bit, which would break bitwise-identical frames.
    return load_file(str(path))[_KEY].clone()
