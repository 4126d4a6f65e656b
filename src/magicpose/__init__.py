"""magicpose: pose retargeting with MagicPose on Stable Diffusion 1.5, diffusers-native."""

__version__ = "0.1.0"
__all__ = ["MagicPosePipeline", "MagicPosePipelineOutput", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import magicpose.pose` or `magicpose.video` does not load torch and diffusers.
    if name in ("MagicPosePipeline", "MagicPosePipelineOutput"):
        from magicpose.pipelines import pipeline_magicpose

        return getattr(pipeline_magicpose, name)
    raise AttributeError(f"module 'magicpose' has no attribute {name!r}")
