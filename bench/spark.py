"""Local engine vs Spark local[2]: training time and driver peak memory at 1M, 5M and 20M interactions.

Usage::

    .venv/bin/python bench/spark.py                                   # 1M, 5M, 20M
    .venv/bin/python bench/spark.py --sizes 1000000 --json out.json   # a quicker look

For each size, the synthetic data set of bench/scale.py (Zipf users and items in 50 taste clusters) with
`rows / 50` users and 50,000 items is imported into a fresh workspace (`recsys.ingest.import_file`), then one
aws-user-personalization version is trained by `python -m recsys train` in a child process per engine: the
local engine (implicit's ALS, since 50k items is above the EASE limit) and Spark local[2] (pyspark's ALS),
both with the same parameters, each with Personalize's offline evaluation and the refit on all data, each
reading the workspace (Spark through the chunked Parquet export). Peak memory is the resident set of the
whole process tree (Python and, for Spark, the JVM that runs the driver and the local executors), sampled
every 500 ms, and CPU seconds are the tree's user + system time (steadier than wall time on a shared
machine); a run that fails is reported with its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from speed import synthetic_interactions  # noqa: E402

from recsys import ingest  # noqa: E402
from recsys.store import Store  # noqa: E402

# the untuned ALS both engines fit (the local recipe auto-tunes by default since main's auto-tuning; Spark does not)
PARAMS = {"factors": 32, "iterations": 10, "random_state": 0, "model": "als", "auto_tune": "false"}
N_ITEMS = 50_000


class TreePeak:
    """Peak summed RSS of a process and all its descendants (psutil, every `interval` seconds)."""

    def __init__(self, pid: int, interval: float = 0.5):
        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self.peak_jvm = 0
        self.cpu: dict[int, float] = {}   # pid -> latest user + system CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._thread.start()

    def _loop(self, interval: float) -> None:
        import psutil

        while not self._stop.wait(interval):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = jvm = 0
                for p in procs:
                    try:
                        rss = p.memory_info().rss
                        times = p.cpu_times()
                    except psutil.Error:
                        continue
                    self.cpu[p.pid] = times.user + times.system
                    total += rss
                    if "java" in p.name():
                        jvm += rss
                self.peak, self.peak_jvm = max(self.peak, total), max(self.peak_jvm, jvm)
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())


def train(home: Path, engine: str, solution: str, spark_conf: list[str]) -> dict:
    cmd = [sys.executable, "-m", "recsys", "--home", str(home), "train", "--group", "bench", "--solution", solution,
           "--recipe", "aws-user-personalization", "--engine", engine, "--json"]
    cmd += [x for k, v in PARAMS.items() for x in ("--param", f"{k}={v}")]
    if engine == "spark":
        cmd += ["--spark-master", "local[2]"] + [x for c in spark_conf for x in ("--spark-conf", c)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak = TreePeak(proc.pid)
    stdout, stderr = proc.communicate()
    peak.stop()
    wall = time.perf_counter() - started
    out = {"engine": engine, "wall_s": round(wall, 1), "cpu_s": round(peak.cpu_seconds, 1),
           "peak_rss_mb": round(peak.peak / 2**20),
           "peak_jvm_mb": round(peak.peak_jvm / 2**20), "load_average_at_start": round(load, 1)}
    try:
        version = json.loads(stdout)
    except ValueError:
        out["failed"] = (stderr.strip().splitlines() or ["no output"])[-1]
        return out
    out["status"] = version["status"]
    if version["status"] != "ACTIVE":
        out["failed"] = version.get("failure_reason")
        return out
    metrics = version.get("metrics") or {}
    out.update(train_s=version["training_seconds"], python_peak_mb=version["peak_memory_mb"],
               ndcg_at_10=round(metrics.get("normalized_discounted_cumulative_gain_at_10", float("nan")), 4),
               coverage=round(metrics.get("coverage", float("nan")), 4),
               protocol=version.get("metrics_protocol"))
    if engine == "spark":
        out["stages_s"] = (version.get("engine") or {}).get("timings")
    return out


def run_size(rows: int, spark_conf: list[str], engines: list[str], workdir: Path) -> dict:
    users = max(rows // 50, 1000)
    result = {"rows": rows, "users": users, "items": N_ITEMS}
    home = workdir / f"ws-{rows}"
    imported = home / "imported.json"
    if imported.exists():  # the same data set from an earlier run in this --workdir (e.g. the other engine)
        result.update(json.loads(imported.read_text()))
    else:
        store = Store(home)
        store.create_dataset_group("bench")
        started = time.perf_counter()
        frame = synthetic_interactions(rows, n_users=users, n_items=N_ITEMS)
        csv = workdir / f"interactions-{rows}.csv"
        frame.to_csv(csv, index=False)
        del frame
        job = ingest.import_file(store, "bench", "interactions", csv)
        csv.unlink()
        result["import_s"] = round(time.perf_counter() - started, 1)
        result["rows_accepted"] = job.rows_accepted
        imported.write_text(json.dumps({k: result[k] for k in ("import_s", "rows_accepted")}))
    print(f"{rows:,}: generated and imported in {result['import_s']} s", flush=True)
    for engine in engines:
        result[engine] = train(home, engine, engine, spark_conf)
        print(f"{rows:,} {engine}: {json.dumps(result[engine])}", flush=True)
    return result


def table(results: list[dict]) -> str:
    lines = ["| interactions | engine | train s | s per 10M | CPU s per 10M | peak RSS MB (JVM) | MB per 10M | "
             "NDCG@10 |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for engine in ("local", "spark"):
            e = r.get(engine)
            if not e:
                continue
            if e.get("failed"):
                lines.append(f"| {r['rows']:,} | {engine} | failed: {e['failed']} | | | {e['peak_rss_mb']:,} | | |")
                continue
            per = 1e7 / r["rows"]
            lines.append(f"| {r['rows']:,} | {engine} | {e['train_s']:.0f} | {e['train_s'] * per:.0f} | "
                         f"{e.get('cpu_s', float('nan')) * per:.0f} | {e['peak_rss_mb']:,} ({e['peak_jvm_mb']:,}) | "
                         f"{e['peak_rss_mb'] * per:,.0f} | {e['ndcg_at_10']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--spark-conf", action="append", default=None,
                        help="Spark setting for the Spark runs (default spark.driver.memory=12g)")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--workdir", type=Path, help="keep the workspaces here (default: a temporary directory)")
    args = parser.parse_args()
    conf = args.spark_conf or ["spark.driver.memory=12g"]
    results = []
    with tempfile.TemporaryDirectory(prefix="recsys-spark-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for rows in (int(s) for s in args.sizes.split(",")):
            results.append(run_size(rows, conf, args.engines.split(","), workdir))
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
