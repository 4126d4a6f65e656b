"""Lets diffusers' generic loader find Vid2VidPipeline: DiffusionPipeline.from_pretrained(<this folder>, trust_remote_code=True).

It imports the installed package's class (pip install magicpose); nothing else runs."""

from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline  # noqa: F401
