"""Task models, one file per problem shape."""

from rnnkit.models.base import MODELS, Model, ModelOutput

__all__ = ["MODELS", "Model", "ModelOutput"]
