"""Inference and training without a tokenizer: the stored empty-prompt embedding replaces it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import clip_vocab_text_encoder
from tiny_cases import magicpose_frames

from magicpose.empty_prompt import (
    EMPTY_PROMPT_FOLDER,
    compute_empty_prompt_embeds,
    empty_prompt_ids,
    load_empty_prompt_embeds,
    save_empty_prompt_embeds,
)
from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline
from magicpose.tiny_models import make_components
from magicpose.training.magicpose_trainer import empty_prompt_embedding
from magicpose.weights import check_pipeline_folder, load_pipeline


def _frames(pipe: MagicPosePipeline) -> np.ndarray:
    g = torch.Generator().manual_seed(3)
    reference = torch.rand((3, 32, 32), generator=g) * 2 - 1
    poses = [torch.rand((3, 32, 32), generator=g) for _ in range(2)]
    return magicpose_frames(pipe, reference, poses)


def test_known_clip_ids_of_the_empty_prompt():
    text_encoder = clip_vocab_text_encoder()
    ids = empty_prompt_ids(text_encoder)
    assert ids.shape == (1, 77) and ids[0, 0].item() == 49406 and (ids[0, 1:] == 49407).all()
    with torch.no_grad():
        expected = text_encoder(torch.tensor([[49406] + [49407] * 76]))[0]
    assert torch.equal(compute_empty_prompt_embeds(text_encoder), expected)


def test_a_non_clip_vocabulary_without_tokenizer_is_refused():
    text_encoder = make_components("tiny")["text_encoder"]  # vocabulary of 1000
    with pytest.raises(ValueError, match="pass its tokenizer"):
        empty_prompt_ids(text_encoder)


def test_with_a_tokenizer_the_ids_are_the_tokenizers():
    parts = make_components("tiny")
    with torch.no_grad():
        expected = parts["text_encoder"](
            parts["tokenizer"]("", padding="max_length", max_length=77, return_tensors="pt").input_ids
        )[0]
    assert torch.equal(compute_empty_prompt_embeds(parts["text_encoder"], parts["tokenizer"]), expected)


def test_pipeline_without_text_models_equals_the_full_pipeline(tmp_path):
    full = MagicPosePipeline(**make_components("tiny"))
    embeds = full.encode_prompt("", torch.device("cpu"))[0].detach()
    expected = _frames(full)
    # Fresh copies of the same seeded models, so the two pipelines share no module.
    bare = MagicPosePipeline(**{**make_components("tiny"), "tokenizer": None, "text_encoder": None})
    bare.empty_prompt_embeds = embeds
    assert np.array_equal(_frames(bare), expected)
    with pytest.raises(ValueError, match="pass prompt_embeds"):
        bare.encode_prompt("a dancer", torch.device("cpu"))[0]

    bare.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / EMPTY_PROMPT_FOLDER / "diffusion_pytorch_model.safetensors").is_file()
    assert (
        check_pipeline_folder(tmp_path / "pipe") == tmp_path / "pipe"
    )  # tokenizer/text encoder saved as null
    loaded = load_pipeline(tmp_path / "pipe")
    assert loaded.tokenizer is None and loaded.text_encoder is None
    assert torch.equal(loaded.empty_prompt_embeds, embeds)
    assert np.array_equal(_frames(loaded), expected)


def test_tokenizer_free_pipeline_computes_the_empty_prompt_from_known_ids():
    parts = make_components("tiny")
    text_encoder = clip_vocab_text_encoder()
    pipe = MagicPosePipeline(**{**parts, "text_encoder": text_encoder, "tokenizer": None})
    assert torch.equal(
        pipe.encode_prompt("", torch.device("cpu"))[0], compute_empty_prompt_embeds(text_encoder)
    )
    with pytest.raises(ValueError, match="no tokenizer"):
        pipe.encode_prompt("a dancer", torch.device("cpu"))[0]


def test_trainer_prefers_the_stored_embedding(tmp_path):
    embeds = torch.randn(1, 77, 32)
    save_empty_prompt_embeds(embeds, tmp_path)  # no text_encoder/ folder: it must not be needed
    assert torch.equal(load_empty_prompt_embeds(tmp_path), embeds)
    assert torch.equal(empty_prompt_embedding(tmp_path), embeds)
