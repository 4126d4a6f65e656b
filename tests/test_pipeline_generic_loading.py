"""Saved and converted folders load through diffusers' generic entry point, as diffusers documents custom
pipelines: ``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` gives the installed class
itself with every component, the empty-prompt embedding included; the class's own loader needs no trust."""

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from safetensors.torch import save_file
from test_pipeline_equivalence import SIZE, _images, _run

from magicpose import MagicPosePipeline, Pose2VidPipeline
from magicpose.empty_prompt import LEGACY_EMPTY_PROMPT_FILE
from magicpose.models.pose2vid import Pose2VidGenerator
from magicpose.tiny_models import make_components
from magicpose.weights import check_pipeline_folder, load_pipeline

REFERENCE, POSES = _images(1, 51)[0], _images(2, 52)


def _frames(pipe):
    pipe.set_progress_bar_config(disable=True)
    return _run(pipe, REFERENCE, POSES, seed=1, num_inference_steps=2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tokenizer- and text-encoder-free pipeline (as `magicpose convert` writes one), saved; its frames."""
    full = MagicPosePipeline(**make_components("tiny", seed=3))
    embeds = full.encode_prompt("", torch.device("cpu"))[0]
    bare = MagicPosePipeline(**{**make_components("tiny", seed=3), "tokenizer": None, "text_encoder": None})
    bare.empty_prompt_embeds = embeds
    folder = tmp_path_factory.mktemp("generic") / "pipe"
    bare.save_pretrained(folder)
    return folder, embeds, _frames(bare)


def test_the_folder_names_its_class_the_way_diffusers_finds_custom_pipelines(saved):
    folder, _, _ = saved
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_magicpose", "MagicPosePipeline"]
    assert index["empty_prompt"] == ["magicpose.empty_prompt", "EmptyPromptEmbedding"]
    shim = (folder / "pipeline_magicpose.py").read_text()
    code = [line for line in shim.splitlines() if line and not line.startswith(('"', "It imports"))]
    assert code == ["from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline  # noqa: F401"]
    assert check_pipeline_folder(folder) == folder


def test_diffusion_pipeline_from_pretrained_gives_the_installed_class_and_the_same_frames(saved):
    folder, embeds, expected = saved
    pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)
    assert type(pipe) is MagicPosePipeline  # the class itself, not a copy made from the folder's file
    assert pipe.text_encoder is None and torch.equal(pipe.empty_prompt_embeds, embeds)
    assert np.array_equal(_frames(pipe), expected)
    with pytest.raises(ValueError, match="trust_remote_code=True"):  # diffusers' own rule for custom code
        DiffusionPipeline.from_pretrained(folder)


def test_the_class_loader_never_runs_the_folders_module(saved, tmp_path):
    folder, embeds, expected = saved
    copy = tmp_path / "pipe"
    shutil.copytree(folder, copy)
    (copy / "pipeline_magicpose.py").write_text("raise RuntimeError('this file ran')\n")
    for pipe in (MagicPosePipeline.from_pretrained(copy), load_pipeline(copy)):
        assert torch.equal(pipe.empty_prompt_embeds, embeds)
        assert np.array_equal(_frames(pipe), expected)


def test_a_folder_written_before_the_component_still_gives_its_embedding(saved, tmp_path):
    folder, embeds, expected = saved
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    shutil.rmtree(old / "empty_prompt")
    (old / "pipeline_magicpose.py").unlink()
    index = json.loads((old / "model_index.json").read_text())
    index["_class_name"] = "MagicPosePipeline"
    del index["empty_prompt"]
    (old / "model_index.json").write_text(json.dumps(index))
    save_file({"prompt_embeds": embeds.contiguous()}, str(old / LEGACY_EMPTY_PROMPT_FILE))
    for pipe in (MagicPosePipeline.from_pretrained(old), load_pipeline(old)):
        assert torch.equal(pipe.empty_prompt_embeds, embeds)
        assert np.array_equal(_frames(pipe), expected)
    # re-saving writes the current layout
    pipe.save_pretrained(tmp_path / "resaved")
    assert (tmp_path / "resaved" / "empty_prompt").is_dir()
    assert not (tmp_path / "resaved" / LEGACY_EMPTY_PROMPT_FILE).exists()


def test_the_shipped_demo_weights_load_through_the_generic_loader():
    from magicpose.infer import DEFAULT_WEIGHTS as DEMO_WEIGHTS

    pipe = DiffusionPipeline.from_pretrained(DEMO_WEIGHTS, trust_remote_code=True)
    assert type(pipe) is MagicPosePipeline and pipe.empty_prompt_embeds is not None
    assert torch.equal(
        pipe.empty_prompt_embeds, MagicPosePipeline.from_pretrained(DEMO_WEIGHTS).empty_prompt_embeds
    )


def test_pose2vid_folders_load_through_the_generic_loader(tmp_path):
    torch.manual_seed(0)
    generator = Pose2VidGenerator(ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1).eval()
    pipe = Pose2VidPipeline(generator=generator, face_enhancer=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path / "p2v")
    index = json.loads((tmp_path / "p2v" / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_pose2vid", "Pose2VidPipeline"]
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "p2v", trust_remote_code=True)
    assert type(loaded) is Pose2VidPipeline
    own = Pose2VidPipeline.from_pretrained(tmp_path / "p2v")
    poses = [np.asarray(p) for p in POSES]
    a = pipe(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames
    assert np.array_equal(a, loaded(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames)
    assert np.array_equal(a, own(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames)
