"""Benchmark ``get_file`` on a ~200 MB CSV from a local S3 endpoint (moto server on 127.0.0.1).

    .venv/bin/python bench/get_file.py [--mb 200] [--rounds 3]

In one process, alternating rounds of:
- plain:   boto3 ``download_file`` + ``pandas.read_csv`` (the baseline);
- cold:    ``get_file(uri, refresh=True)`` (HEAD, managed download hashed while written, size
           and checksum check, atomic rename, ``pandas.read_csv`` with the same C engine);
- hit:     ``get_file(uri)`` with the copy cached (HEAD + sidecar check + ``read_csv``);
and the same three with the read left out (``as_path=True`` / download only), since read_csv
dominates the totals and the cache is about the fetch.

Prints the medians and the medians of per-round ratios: ours/plain (target <= 1.10) and
fetch hit/cold (target < 0.05). The progress bars go to stderr (``2>/dev/null`` hides them);
they are left on because users pay for them too.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_csv(path: Path, mb: int) -> int:
    """Write a numeric CSV of about ``mb`` MB with pyarrow (fast); returns its size."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    rows = int(mb * 2**20 / 88)  # ~88 bytes a row with the columns below
    columns = {f"f{i}": rng.standard_normal(rows).round(6) for i in range(8)}
    columns["amount"] = rng.integers(0, 100_000, rows)
    columns["label"] = (rng.random(rows) < 0.002).astype(np.int64)
    pacsv.write_csv(pa.table(columns), path)
    return path.stat().st_size


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="CSV size in MB (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()

    import boto3
    import pandas as pd
    from moto.server import ThreadedMotoServer

    from modeler.data.files import get_file
    from modeler.state import Session

    # moto's server logs every request through werkzeug at INFO; keep the output to the figures
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-get-file-") as tmp:
            work = Path(tmp)
            csv = work / "tx.csv"
            size = _make_csv(csv, args.mb)
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket="bench")
            client.upload_file(str(csv), "bench", "exports/tx.csv")
            csv.unlink()
            uri, cache = "s3://bench/exports/tx.csv", work / "cache"
            session = Session()
            print(f"object: {uri}, {size / 2**20:.0f} MB, {args.rounds} alternating rounds")

            def plain_fetch() -> Path:
                out = work / "plain.csv"
                client.download_file("bench", "exports/tx.csv", str(out))
                return out

            def plain() -> pd.DataFrame:
                return pd.read_csv(plain_fetch())

            def ours(**kw):
                return get_file(uri, cache_dir=cache, session=session, **kw)

            # checked once, outside the timings: a frame kept alive would tax the next case
            plain_df, ours_df = plain(), ours(refresh=True)
            same = plain_df.equals(ours_df) and list(plain_df.dtypes) == list(ours_df.dtypes)
            print(f"frames identical to plain read_csv (values and dtypes): {same}")
            del plain_df, ours_df

            cases = {
                "plain": plain,
                "cold": lambda: ours(refresh=True),
                "hit": ours,
                "plain fetch": plain_fetch,
                "cold fetch": lambda: ours(refresh=True, as_path=True),
                "hit fetch": lambda: ours(as_path=True),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for r in range(args.rounds):
                # plain first in even rounds, ours first in odd ones (hits always follow a cold)
                order = (
                    list(cases)
                    if r % 2 == 0
                    else ["cold", "hit", "plain", "cold fetch", "hit fetch", "plain fetch"]
                )
                for name in order:
                    # flush the last download's dirty pages first, untimed: else whichever case
                    # follows a download pays for the kernel writing it back
                    os.sync()
                    seconds, _ = _timed(cases[name])
                    times[name].append(seconds)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))

            def ratio(a: str, b: str) -> float:
                return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

            print("\nmedians:")
            for name, values in times.items():
                print(f"  {name:12s} {statistics.median(values):7.3f} s")
            print("ratios (median of per-round ratios):")
            print(
                f"  ours cold / plain (download + read_csv): {ratio('cold', 'plain'):.3f}"
                "  (target <= 1.10)"
            )
            fetch_ratio = ratio("cold fetch", "plain fetch")
            print(f"  ours cold fetch / plain download_file:  {fetch_ratio:.3f}")
            print(
                f"  hit fetch / cold fetch:                 {ratio('hit fetch', 'cold fetch'):.4f}"
                "  (target < 0.05)"
            )
            print(f"  hit / cold (with read_csv):             {ratio('hit', 'cold'):.3f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
