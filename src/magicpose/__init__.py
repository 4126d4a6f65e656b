"""magicpose: pose retargeting with MagicPose on Stable Diffusion 1.5, diffusers-native."""

from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline, MagicPosePipelineOutput

__version__ = "0.1.0"
__all__ = ["MagicPosePipeline", "MagicPosePipelineOutput", "__version__"]
