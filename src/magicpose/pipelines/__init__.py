from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline, MagicPosePipelineOutput

__all__ = ["MagicPosePipeline", "MagicPosePipelineOutput"]
