"""How long `import modeler` takes, and that it loads no heavy framework.

    .venv/bin/python bench/import_time.py

Each measurement is a fresh interpreter (`python -X importtime -c "import modeler"`), side by
side with `import mlflow` and `import tensorflow` for scale; medians of 5. Target: < 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys


def cumulative_seconds(module: str) -> tuple[float, set[str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    total = 0.0
    loaded = set()
    for line in out.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if cumulative.isdigit():
            loaded.add(name.split(".")[0])
            if name == module:
                total = int(cumulative) / 1e6
    return total, loaded


def main() -> None:
    rows = []
    for module in ("modeler", "mlflow", "tensorflow"):
        runs = [cumulative_seconds(module) for _ in range(5 if module == "modeler" else 3)]
        rows.append((module, statistics.median(t for t, _ in runs), runs[0][1]))
    base = rows[0][1]
    print(f"{'import':<12}{'median s':>10}{'/ modeler':>11}")
    for module, seconds, _ in rows:
        print(f"{module:<12}{seconds:>10.3f}{seconds / base:>11.1f}")
    heavy = sorted({"tensorflow", "keras", "mlflow", "boto3", "sklearn"} & rows[0][2])
    print(
        f"\nimport modeler: {base:.3f} s (target < 0.5 s); heavy modules loaded: {heavy or 'none'}"
    )


if __name__ == "__main__":
    main()
