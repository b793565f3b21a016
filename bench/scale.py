"""Scale run (SPEC §13): a synthetic 10-million-interaction data set imported, trained and served end to end.

Usage::

    .venv/bin/python bench/scale.py                      # 10M interactions, 200k users, 50k items
    .venv/bin/python bench/scale.py --rows 1000000       # a quicker look

Every step goes through the product's own functions, as the CLI and the API do: a CSV written to a
temporary directory, `recsys.ingest.import_file` (FULL) into a fresh workspace, `recsys.runs`
(aws-user-personalization, default parameters, Personalize's offline evaluation included), a campaign,
`recsys.serving.get_recommendations` for random users (first request, then p50/p99 warm), and
PutEvents -> changed recommendation. Peak RSS is sampled for the whole process every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from speed import PeakRSS, synthetic_interactions  # noqa: E402

from recsys import campaigns, events, ingest, runs, serving, solutions, workspace  # noqa: E402
from recsys.store import Store  # noqa: E402


def mb(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


def run(rows: int, users: int, items: int, requests: int, keep: Path | None = None) -> dict:
    out: dict = {"rows": rows, "users": users, "items": items}
    with tempfile.TemporaryDirectory(prefix="recsys-scale-") as tmp, PeakRSS() as whole:
        tmp = keep or Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        frame = synthetic_interactions(rows, n_users=users, n_items=items)
        csv = tmp / "interactions.csv"
        frame.to_csv(csv, index=False)
        del frame
        out["generate_s"] = round(time.perf_counter() - started, 1)
        print(f"generated {rows:,} rows in {out['generate_s']} s ({mb(csv.stat().st_size)} MB CSV)", flush=True)

        store = Store(tmp / "workspace")
        store.create_dataset_group("scale")
        with PeakRSS() as peak:
            started = time.perf_counter()
            job = ingest.import_file(store, "scale", "interactions", csv)
            seconds = time.perf_counter() - started
        out["import"] = {"seconds": round(seconds, 1), "rows_per_s": round(job.rows_accepted / seconds),
                         "rows_accepted": job.rows_accepted, "peak_rss_mb": mb(peak.peak)}
        print(f"import: {out['import']}", flush=True)
        csv.unlink()

        solutions.create_solution(store, "scale", "up", "aws-user-personalization")
        with PeakRSS() as peak:
            started = time.perf_counter()
            version = runs.create_solution_version(store, "scale", "up", wait=True)
            seconds = time.perf_counter() - started
        if version.status != "ACTIVE":
            raise SystemExit(f"training failed: {version.get('failure_reason')}")
        metrics = version.metrics or {}
        out["train"] = {"seconds": round(seconds, 1), "peak_rss_mb": mb(peak.peak),
                        "ndcg_at_10": metrics.get("normalized_discounted_cumulative_gain_at_10"),
                        "coverage": metrics.get("coverage")}
        print(f"train: {out['train']}", flush=True)

        campaign = campaigns.create_campaign(store, "scale", "main", version.arn)
        rng = np.random.default_rng(0)
        user_ids = [str(u) for u in rng.choice(users, requests)]
        started = time.perf_counter()
        serving.get_recommendations(store, campaign.arn, user_id=user_ids[0], num_results=25)
        first_ms = (time.perf_counter() - started) * 1000
        latencies = []
        for user in user_ids:
            started = time.perf_counter()
            serving.get_recommendations(store, campaign.arn, user_id=user, num_results=25)
            latencies.append((time.perf_counter() - started) * 1000)
        out["serve"] = {"first_request_ms": round(first_ms, 1), "requests": requests,
                        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                        "p99_ms": round(float(np.percentile(latencies, 99)), 2)}

        tracker = workspace.ensure_event_tracker(store, "scale")
        user = user_ids[1]
        before = [i["itemId"] for i in serving.get_recommendations(store, campaign.arn, user_id=user,
                                                                     num_results=25)["itemList"]]
        started = time.perf_counter()
        events.put_events(store, tracker["trackingId"], f"s-{user}", user,
                          [{"eventType": "click", "itemId": before[0], "sentAt": time.time(), "eventId": "e1"}])
        after = [i["itemId"] for i in serving.get_recommendations(store, campaign.arn, user_id=user,
                                                                    num_results=25)["itemList"]]
        out["serve"]["put_events_to_changed_answer_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out["serve"]["answer_changed"] = after != before
        print(f"serve: {out['serve']}", flush=True)
    out["peak_rss_mb"] = mb(whole.peak)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--keep", type=Path, help="build the workspace in this (new) directory and keep it")
    args = parser.parse_args()
    result = run(args.rows, args.users, args.items, args.requests, args.keep)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
