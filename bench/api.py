"""API benchmark: GetRecommendations latency (p50/p99) and throughput at 1, 8 and 64 concurrent clients, with
and without a filter, and the time from PutEvents to a changed recommendation, on loopback.

Usage::

    .venv/bin/python bench/api.py                          # demo data (2,000 users), aws-user-personalization
    .venv/bin/python bench/api.py --requests 500 --levels 1,8 --users 300 --items 150 --interactions 6000
    .venv/bin/python bench/api.py --json api.json          # also write the numbers as JSON

The server is the real one (`python -m recsys serve`, `--workers` processes (default 1), access log off),
in its own process(es), on a fresh workspace holding the seeded demo data set, a trained solution version, a
campaign, an `INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)` filter, an event tracker and an API key. The load
generator is a lean asyncio HTTP/1.1 client over keep-alive connections, one per simulated client, sending
requests SigV4-signed exactly as botocore signs them (signed once per distinct body, before the clock starts,
so the client spends its CPU on sending, not signing). Targets (SPEC §13): p99 < 20 ms at 8 clients,
>= 500 requests/s on 2 cores. Note the client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys.demo import CLUSTERS as CATEGORIES  # noqa: E402  (the demo's CATEGORY_L1 values)

GROUP = "demo"
CAMPAIGN_NAME = "bench"
FILTER_NAME = "by-category"
FILTER_EXPRESSION = "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CAT)"


# -- workspace ---------------------------------------------------------------------------------------------


def build_workspace(home: Path, recipe: str, sizes: dict) -> dict:
    """Demo data, a trained version, campaign, filter, event tracker and key; returns what the client needs."""
    from recsys import campaigns, runs, solutions
    from recsys.api import create_key
    from recsys.demo import generate_demo, load_demo, write_demo
    from recsys.filters import create_filter
    from recsys.store import Store

    store = Store(home)
    t0 = time.perf_counter()
    write_demo(home / "demo-files", generate_demo(seed=7, **sizes))
    load_demo(store, GROUP, home / "demo-files", write_if_missing=False)
    t1 = time.perf_counter()
    solutions.create_solution(store, GROUP, "bench", recipe)
    version = runs.create_solution_version(store, GROUP, "bench", wait=True)
    if version.status != "ACTIVE":
        raise SystemExit(f"training failed: {version.get('failure_reason')}")
    t2 = time.perf_counter()
    # no exploration, so that a changed list after PutEvents is caused by the events, not by chance
    campaign = campaigns.create_campaign(store, GROUP, CAMPAIGN_NAME, version.arn, campaign_config={
        "itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}})
    flt = create_filter(store, GROUP, FILTER_NAME, FILTER_EXPRESSION)
    tracking_id = None
    try:
        from recsys import events

        tracker = events.create_event_tracker(store, GROUP, "bench")
        tracking_id = tracker.get("trackingId")
    except (ImportError, AttributeError) as exc:
        print(f"(no event tracker: {exc}; PutEvents is not measured)")
    key = create_key(store, [GROUP], description="bench/api.py")
    from recsys.datasets import read_interactions

    users = sorted(read_interactions(store, GROUP, columns=["USER_ID"])["USER_ID"].unique().tolist())
    print(f"workspace: demo {sizes} loaded in {t1 - t0:.1f}s, {recipe} trained in {t2 - t1:.1f}s")
    return {"campaign_arn": campaign.arn, "filter_arn": flt.arn, "tracking_id": tracking_id,
            "key": key, "users": users, "recipe": recipe}


# -- server ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, workers: int = 1, threads: int = 40) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys", "--home", str(home), "serve", "--port", str(port), "--no-access-log",
         "--log-level", "warning", "--workers", str(workers), "--threads", str(threads)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()}")
    raise SystemExit("server did not start in 30 s")


# -- a lean HTTP/1.1 client --------------------------------------------------------------------------------


def signed_request(port: int, path: str, payload: dict, key: tuple[str, str]) -> bytes:
    """The raw bytes of one SigV4-signed POST, as botocore would sign it."""
    from recsys.api.sigv4 import sign_request

    body = json.dumps(payload).encode()
    url = f"http://127.0.0.1:{port}{path}"
    headers = sign_request("POST", url, body, key[0], key[1])
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _load(port: int, requests: list[bytes], total: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(worker: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                raw = requests[(i * 7919 + worker) % len(requests)]
                start = time.perf_counter()
                writer.write(raw)
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1000
    return {"clients": concurrency, "requests": len(latencies), "errors": errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "mean_ms": round(float(lat.mean()), 2), "req_per_s": round(len(latencies) / elapsed, 1)}


def measure(port: int, requests: list[bytes], total: int, concurrency: int) -> dict:
    asyncio.run(_load(port, requests, min(200, total), concurrency))  # warm-up: models, caches, connections
    return asyncio.run(_load(port, requests, total, concurrency))


# -- PutEvents -> changed recommendation -------------------------------------------------------------------


def put_events_to_change(port: int, setup: dict, n_users: int = 20) -> dict:
    """For users with history: recommendations before; PutEvents of 5 views of items of a random category;
    then the first GetRecommendations after PutEvents returned. Reports PutEvents latency, the time from
    sending PutEvents to receiving the changed list, how many users' lists changed, and for how many the
    new list holds more items of the viewed category."""
    import httpx

    from recsys.api.sigv4 import sign_request

    url = f"http://127.0.0.1:{port}"
    key = setup["key"]
    rng = random.Random(11)
    client = httpx.Client(base_url=url)

    def post(path: str, payload: dict) -> httpx.Response:
        body = json.dumps(payload).encode()
        return client.post(path, content=body, headers=sign_request("POST", url + path, body, *key))

    def recs(user: str) -> list[str]:
        response = post("/recommendations", {"campaignArn": setup["campaign_arn"], "userId": user, "numResults": 25})
        response.raise_for_status()
        return [i["itemId"] for i in response.json()["itemList"]]

    def category_items(category: str) -> list[str]:
        response = post("/recommendations", {"campaignArn": setup["campaign_arn"], "userId": "bench-anon",
                                             "numResults": 100, "filterArn": setup["filter_arn"],
                                             "filterValues": {"CAT": json.dumps(category)}})
        return [i["itemId"] for i in response.json()["itemList"]]

    put_ms, change_ms, changed, toward = [], [], 0, 0
    for user in rng.sample(setup["users"], min(n_users, len(setup["users"]))):
        before = recs(user)
        category = rng.choice(CATEGORIES)
        pool = category_items(category)
        if not pool:
            continue
        now = time.time()
        events = [{"eventType": "view", "itemId": rng.choice(pool), "sentAt": now + k, "eventId": f"{user}-{k}-{now}",
                   "properties": json.dumps({"device": "mobile"})}
                  for k in range(5)]
        start = time.perf_counter()
        response = post("/events", {"trackingId": setup["tracking_id"], "sessionId": f"s-{user}", "userId": user,
                                    "eventList": events})
        put_done = time.perf_counter()
        if response.status_code != 200:
            raise SystemExit(f"PutEvents failed: {response.status_code} {response.text}")
        after = recs(user)
        end = time.perf_counter()
        put_ms.append((put_done - start) * 1000)
        if after != before:
            changed += 1
            change_ms.append((end - start) * 1000)
            in_pool = set(pool)
            toward += sum(i in in_pool for i in after) > sum(i in in_pool for i in before)
    client.close()
    return {"users": len(put_ms), "changed": changed, "more_of_the_viewed_category": toward,
            "put_events_p50_ms": round(float(np.median(put_ms)), 2) if put_ms else None,
            "to_changed_p50_ms": round(float(np.median(change_ms)), 2) if change_ms else None,
            "to_changed_max_ms": round(float(np.max(change_ms)), 2) if change_ms else None}


def library_latency(home: Path, setup: dict, users: list[str], n: int = 300) -> dict:
    """get_recommendations called directly (no HTTP), sequentially: the floor under the API's latency."""
    from recsys.serving import get_recommendations
    from recsys.store import Store

    store = Store(home)
    out = {}
    for name, extra in (("none", {}), ("category", {"filter_arn": setup["filter_arn"]})):
        times = []
        for i in range(n):
            kw = dict(extra)
            if kw:
                kw["filter_values"] = {"CAT": json.dumps(CATEGORIES[i % len(CATEGORIES)])}
            start = time.perf_counter()
            get_recommendations(store, setup["campaign_arn"], user_id=users[i % len(users)], num_results=25, **kw)
            times.append((time.perf_counter() - start) * 1000)
        times = np.asarray(times[20:])  # first calls load caches
        out[name] = {"p50_ms": round(float(np.percentile(times, 50)), 2),
                     "p99_ms": round(float(np.percentile(times, 99)), 2)}
    return out


# -- main --------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="workspace directory (default: a temporary one)")
    parser.add_argument("--recipe", default="aws-user-personalization")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--levels", default="1,8,64", help="concurrent clients, comma separated")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--threads", type=int, default=40, help="server threads per worker (serve --threads)")
    parser.add_argument("--json", dest="json_path", default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)

    temp = None
    if args.home is None:
        temp = tempfile.TemporaryDirectory(prefix="recsys-bench-api-")
        args.home = temp.name
    home = Path(args.home)
    setup = build_workspace(home, args.recipe, {"n_users": args.users, "n_items": args.items,
                                                "n_interactions": args.interactions})
    port = free_port()
    server = start_server(home, port, args.workers, args.threads)
    results: dict = {"recipe": args.recipe, "cores": os.cpu_count(), "workers": args.workers, "threads": args.threads,
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                     "requests_per_level": args.requests,
                     "get_recommendations": [], "put_events": None}
    try:
        users = setup["users"][:500]
        plain = [signed_request(port, "/recommendations", {"campaignArn": setup["campaign_arn"], "userId": u,
                                                           "numResults": 25}, setup["key"]) for u in users]
        filtered = [signed_request(port, "/recommendations", {
            "campaignArn": setup["campaign_arn"], "userId": u, "numResults": 25, "filterArn": setup["filter_arn"],
            "filterValues": {"CAT": json.dumps(CATEGORIES[i % len(CATEGORIES)])}}, setup["key"])
            for i, u in enumerate(users)]
        for concurrency in (int(x) for x in args.levels.split(",")):
            for name, requests in (("none", plain), ("category", filtered)):
                row = {"filter": name, **measure(port, requests, args.requests, concurrency)}
                results["get_recommendations"].append(row)
                print(f"GetRecommendations filter={name:<8} clients={concurrency:>3}: p50 {row['p50_ms']:>7.2f} ms  "
                      f"p99 {row['p99_ms']:>7.2f} ms  {row['req_per_s']:>7.1f} req/s  errors {row['errors']}")
        # Attribution: the HTTP + SigV4 + validation layer alone (a campaign of a group the key may not use
        # answers 403 before any store or model work), and the library call alone, in this process.
        denied = [signed_request(port, "/recommendations", {"campaignArn": "arn:recsys:campaign/not-mine/x",
                                                            "userId": u}, setup["key"]) for u in users[:50]]
        for concurrency in (1, 8):
            row = measure(port, denied, args.requests, concurrency)
            results.setdefault("protocol_only", []).append(row)
            print(f"protocol only (403, no inference)  clients={concurrency:>3}: p50 {row['p50_ms']:>7.2f} ms  "
                  f"p99 {row['p99_ms']:>7.2f} ms  {row['req_per_s']:>7.1f} req/s")
        results["library_call"] = library_latency(home, setup, users)
        print(f"library get_recommendations in-process: {results['library_call']}")
        if setup["tracking_id"]:
            results["put_events"] = put_events_to_change(port, setup)
            print(f"PutEvents -> changed recommendations: {results['put_events']}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average (1, 5, 15 min) at start {results['load_average_at_start']}, "
          f"at end {results['load_average_at_end']}; workers={args.workers}")
    print("| filter | clients | p50 ms | p99 ms | req/s | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in results["get_recommendations"]:
        print(f"| {row['filter']} | {row['clients']} | {row['p50_ms']} | {row['p99_ms']} | {row['req_per_s']} | "
              f"{row['errors']} |")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2))
    if temp is not None:
        temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
