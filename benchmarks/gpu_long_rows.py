"""The CUDA rows of ``rnnkit bench speed --long --stream``, saved to a JSON file after each group.

    python benchmarks/gpu_long_rows.py OUT.json [REPEATS]

Run by benchmarks/gpu_long_stream.sh; ``python -m rnnkit.bench.long_stream --from-json OUT.json``
writes them into the ``bench:long-gpu`` section of docs/BENCHMARKS.md. Needs a CUDA device.
"""

import json
import sys
import traceback

from rnnkit.bench import machine_info
from rnnkit.bench.long_stream import cuda_step_rows, generation_rows, long_rows, to_markdown

path = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
report = {"machine": machine_info(), "settings": {"repeats": repeats, "quick": False, "devices": ["cuda"],
                                                  "load": None}, "rows": []}
groups = {"long": lambda: long_rows("cuda", repeats, False), "step": lambda: cuda_step_rows(repeats, False),
          "greedy": lambda: generation_rows("cuda", repeats, False)}
failed = []
for name, rows in groups.items():
    try:
        report["rows"] += [dict(r, device="cuda") for r in rows()]
    except Exception:
        failed.append(name)
        print(f"rows {name} failed:")
        traceback.print_exc()
        continue
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(to_markdown(report, device="cuda"), flush=True)
sys.exit(1 if failed else 0)
