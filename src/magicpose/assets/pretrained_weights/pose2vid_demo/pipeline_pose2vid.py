"""Lets diffusers' generic loader find Pose2VidPipeline: DiffusionPipeline.from_pretrained(<this folder>, trust_remote_code=True).

It imports the installed package's class (pip install magicpose); nothing else runs."""

from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline  # noqa: F401
