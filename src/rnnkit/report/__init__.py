"""rnnkit.report: plots (PNG) and a self-contained HTML report of a run.

- :mod:`rnnkit.report.plots`: learning curves, confusion matrix, forecast vs actual.
- :mod:`rnnkit.report.plots_sequence`: attention heat-maps, per-frame label timelines, captions.
- :mod:`rnnkit.report.html`: ``write_report`` (one run) and ``write_tour_report`` (the tour index).
- :mod:`rnnkit.report.run_plots`: ``make_run_report(model, dataset, run_dir)``, the plots that suit
  the task, drawn from the model's test predictions, and the report.

Submodules are imported on use, so ``import rnnkit`` stays light (matplotlib loads only here).
"""
