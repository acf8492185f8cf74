"""forecasting: a series -> its future, with a recurrent Forecaster.

AirPassengers (Box & Jenkins): monthly airline passengers 1949-1960. Train on 1949-1957, forecast
the 36 months of 1958-1960 from one origin, score by MAPE as the literature does.
Run: python examples/forecasting_air_passengers.py
"""

import numpy as np

import rnnkit
import rnnkit.datasets
from rnnkit.models import Forecaster
from rnnkit.report import plots

dataset = rnnkit.datasets.load("air_passengers")
print(dataset, f"window {dataset.info.window}, horizon {dataset.info.horizon}")

model = Forecaster.from_dataset(dataset, cell="gru", hidden_size=32)
history = rnnkit.Trainer(epochs=100, batch_size=8, lr=3e-3, seed=0, progress=False).fit(model, dataset)
print("test:", {k: round(v, 3) for k, v in history.test.items()})

series = dataset.extras["series"]
origin = dataset.extras["split"].test.start
forecast = np.asarray(model.forecast(series.to_numpy()[:origin], dataset.info.horizon), dtype=float)
actual = series.to_numpy()[origin:]
print(f"MAPE over 1958-1960: {100 * np.mean(np.abs(forecast - actual) / actual):.1f}%")
print("plot:", plots.forecast(series.to_numpy()[:origin], actual, forecast,
                             "runs/examples/air_passengers_forecast.png", times=series.index,
                             ylabel="passengers (thousands)"))
