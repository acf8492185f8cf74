"""Task models, one file per problem shape (see DESIGN.md, "The problem shapes")."""

from rnnkit.models.base import MODELS, Model, ModelOutput
from rnnkit.models.ensemble import Ensemble, EnsembleConfig
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.many_to_many import Seq2Seq, Seq2SeqConfig
from rnnkit.models.many_to_one import SequenceClassifier, SequenceClassifierConfig
from rnnkit.models.one_to_many import (
    ConditionedGenerator,
    ConditionedGeneratorConfig,
    LanguageModel,
    LanguageModelConfig,
)
from rnnkit.models.one_to_one import FeedForward, FeedForwardConfig
from rnnkit.models.synced import SequenceTagger, SequenceTaggerConfig

__all__ = [
    "MODELS",
    "ConditionedGenerator",
    "ConditionedGeneratorConfig",
    "Ensemble",
    "EnsembleConfig",
    "FeedForward",
    "FeedForwardConfig",
    "Forecaster",
    "ForecasterConfig",
    "LanguageModel",
    "LanguageModelConfig",
    "Model",
    "ModelOutput",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequenceClassifier",
    "SequenceClassifierConfig",
    "SequenceTagger",
    "SequenceTaggerConfig",
]
