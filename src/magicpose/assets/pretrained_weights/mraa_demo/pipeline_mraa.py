"""Lets diffusers' generic loader find MRAAPipeline: DiffusionPipeline.from_pretrained(<this folder>, trust_remote_code=True).

It imports the installed package's class (pip install magicpose); nothing else runs."""

from magicpose.pipelines.pipeline_mraa import MRAAPipeline  # noqa: F401
