"""GPU check: the Keras overhead bench on an accelerator, with Keras' JAX backend.

    .venv/bin/python bench/gpu_check.py [--timeout 540] [--rounds 3] [--epochs 30] [--cpu]

One command, bounded time. When JAX sees a GPU (``jax.devices("gpu")``) or a TPU, it runs
``bench/autolog_overhead.py`` — bare fit vs ``accu.autolog()`` vs ``mlflow.keras.autolog()``
on the TensorFlow tutorial's workload, medians of per-round ratios — in a child process with
``KERAS_BACKEND=jax``, so the model trains on the accelerator, and prints the same ratios.
Where there is none it prints why and exits 0 (skipped). The child is stopped after
``--timeout`` seconds, with what it printed until then. ``--cpu`` runs the same path on JAX's
CPU backend (a check of this script where no accelerator is lent; not a GPU figure).
Exit status: 0 done or skipped, 1 the bench failed or ran out of time, 2 a package is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).with_name("autolog_overhead.py")


def accelerator() -> tuple[str | None, str]:
    """The accelerator JAX sees (``"gpu"``, ``"tpu"``) and its description, else None and why.

    Probed with JAX's memory preallocation off, so the bench's own process gets the device's
    memory whole.
    """
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # this probing process only
    import jax

    reasons = []
    for platform in ("gpu", "tpu"):
        try:
            devices = jax.devices(platform)
        except RuntimeError as exc:  # "Unknown backend gpu", "no platforms that are ... gpu"
            reasons.append(f"{platform}: {str(exc).splitlines()[0]}")
            continue
        if devices:
            kinds = sorted({d.device_kind for d in devices})
            return platform, f"{len(devices)} x {', '.join(kinds)} (jax {jax.__version__})"
    found = ", ".join(str(d) for d in jax.devices())
    return None, f"JAX {jax.__version__} sees only {found} ({'; '.join(reasons)})"


def missing_packages() -> list[str]:
    return [name for name in ("jax", "keras", "mlflow") if importlib.util.find_spec(name) is None]


def run_bench(args: argparse.Namespace, platform: str, env: dict[str, str]) -> int:
    child_env = dict(env, KERAS_BACKEND="jax")  # JAX picks the accelerator first by itself
    if args.cpu:
        child_env["JAX_PLATFORMS"] = "cpu"
    command = [
        sys.executable,
        str(BENCH),
        "--rounds",
        str(args.rounds),
        "--epochs",
        str(args.epochs),
        "--big-rows",
        str(args.big_rows),
    ]
    print(f"running: KERAS_BACKEND=jax {' '.join(command[1:])}  (on {platform})", flush=True)
    started = time.monotonic()
    child = subprocess.Popen(command, env=child_env, start_new_session=True)
    try:
        child.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the bench and anything it started
        child.wait()
        print(
            f"gpu_check: stopped after {args.timeout} s (--timeout); the figures above are "
            "incomplete: fewer --rounds or --epochs fit in less time",
            file=sys.stderr,
        )
        return 1
    took = time.monotonic() - started
    if child.returncode != 0:
        print(f"gpu_check: the bench failed (exit {child.returncode})", file=sys.stderr)
        return 1
    print(f"gpu_check: done in {took:.0f} s on {platform} with KERAS_BACKEND=jax")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=540, help="seconds before stopping")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--cpu", action="store_true", help="run on JAX's CPU backend")
    args = parser.parse_args(argv)

    env = dict(os.environ)  # as given, before probing changes anything
    missing = missing_packages()
    if missing:
        print(
            f"gpu_check: {', '.join(missing)} not installed; pip install -e '.[jax]' "
            "(and a CUDA build of JAX for a GPU: pip install 'jax[cuda12]')",
            file=sys.stderr,
        )
        return 2
    if args.cpu:
        return run_bench(args, "cpu (a check of the script, not a GPU figure)", env)
    platform, about = accelerator()
    if platform is None:
        print(f"gpu_check: skipped, no accelerator: {about}")
        return 0
    print(f"gpu_check: {platform}: {about}")
    return run_bench(args, platform, env)


if __name__ == "__main__":
    sys.exit(main())
