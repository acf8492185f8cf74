"""What a run folder recorded about its data: now in :mod:`rnnkit.train.resume`, with the other checks
of a resume; this module keeps the names importable from here.

Example:
    >>> from rnnkit.train.run_data import data_changes   # the same as rnnkit.train.resume.data_changes
"""

from rnnkit.train.resume import COMPARED, data_changes, data_record, recorded_data

__all__ = ["COMPARED", "data_changes", "data_record", "recorded_data"]
