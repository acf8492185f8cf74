"""``rnnkit bench speed --gpu``'s rows, saved to a JSON file after each batch size.

    python benchmarks/gpu_speed_rows.py OUT.json [REPEATS]

Run by benchmarks/gpu_speed.sh; ``python -m rnnkit.bench.gpu --from-json OUT.json`` writes them into
the ``bench:gpu`` section of docs/BENCHMARKS.md. Needs a CUDA device.
"""

import json
import sys

from rnnkit.bench.gpu import run_gpu, to_markdown

path = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def save(report: dict) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    last = report["rows"][-1]
    print(f"saved {len(report['rows'])} rows (last: {last['dtype']} B={last['batch']} {last['contender']} "
          f"{last['ms']:.2f} ms)", flush=True)


print(to_markdown(run_gpu(repeats, on_rows=save)))
