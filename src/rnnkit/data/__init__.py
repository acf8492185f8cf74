"""Data: Batch and collate, vocabularies and tokenizers, scalers and windows, file formats, data sets."""

from rnnkit.data.batch import Batch, Example, collate, lengths_to_mask, pad_sequences
from rnnkit.data.dataset import DatasetInfo, ExampleList, PublishedResult, SequenceDataset
from rnnkit.data.vocab import Vocab

__all__ = ["Batch", "DatasetInfo", "Example", "ExampleList", "PublishedResult", "SequenceDataset",
           "Vocab", "collate", "lengths_to_mask", "pad_sequences"]
