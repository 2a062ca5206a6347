"""Graph-to-graph optimization passes and the one explicit pipeline that runs them."""

from .pipeline import DEFAULT_PIPELINE, FUSED_PIPELINE, PASSES, PassRecord, optimize, run_pipeline

__all__ = ["DEFAULT_PIPELINE", "FUSED_PIPELINE", "PASSES", "PassRecord", "optimize",
           "run_pipeline"]
