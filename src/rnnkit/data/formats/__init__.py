"""Loaders for users' own files, reached as ``rnnkit.datasets.load("PREFIX:path", **options)``.

=========== ============================================== ===================================
prefix      file                                           shape
=========== ============================================== ===================================
csv:        CSV table (series, long-format seqs, text)     forecasting / many-to-one / synced
parquet:    Parquet table (the same layouts)               forecasting / many-to-one / synced
jsonl:      JSON lines, one object per row (same layouts)  forecasting / many-to-one / synced
ts:         UCR/UEA ``.ts`` time-series file               many-to-one
pairs:      tab-separated ``source<TAB>target`` lines      many-to-many (seq2seq)
folder:     text files by class (aclImdb layout)           many-to-one (text)
conll:      CoNLL / CoNLL-U tagging file                   synced (tagging)
npz:        NumPy ``.npz`` arrays x, y (lengths)           many-to-one / synced
text:       plain text, by line or in pieces               one-to-many (language model)
=========== ============================================== ===================================

Each module's docstring lists its options; docs/DATA.md shows examples. Bad content raises
:class:`DataFileError` naming the file, the line and the field.
"""

from rnnkit.data.formats.errors import DataFileError

__all__ = ["DataFileError"]
