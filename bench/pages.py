"""Benchmark of the workbench pages: first-render and warm-rerun seconds of every page on two dataset groups.

Usage::

    .venv/bin/python bench/pages.py                        # builds /tmp/recsys-bench-pages (demo + 1M group)
    .venv/bin/python bench/pages.py --home DIR             # reuses DIR (groups that exist are not rebuilt)
    .venv/bin/python bench/pages.py --big-interactions 200000 --pages home,data

The workspace holds the demo group (`python -m recsys --home DIR demo --train`: 100,000 events, three trained
solutions and a campaign) and a group `big` of about 1,000,000 interactions (the demo generator at 20,000 users
and 5,000 items, imported with `recsys.ingest`), with aws-popularity-count and aws-user-personalization trained
and a campaign deployed, so that Compare, Preview and Campaigns have content.

Every page runs with `streamlit.testing.v1.AppTest` against the workspace (`RECSYS_HOME`, the sidebar group in
session state). Per page and group:

- "first": the first run with the Streamlit caches cleared (st.cache_data and st.cache_resource). Models already
  loaded by the inference runtime stay loaded, except on the first page that queries them (Preview, see below).
- "rerun": a second run of the same session, caches warm (what every widget click costs).
- "after an event": a third run after one new event was recorded through the group's tracker (the data version
  changed, as after a click in the event simulator).

Row `data-unprofiled` is the Data page with the group's stored profile deleted too (the first view after an
import computes it); row `data` finds the profile stored by that view (a restarted workbench). Row
`preview-built` is Preview with a filter from the builder (exclude what the user interacted with, unsaved).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is bench/pages.py: drop bench/ from the path so `pages` is the app's package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

PAGES = ["home", "data-unprofiled", "data", "train", "compare", "tune", "preview", "preview-built", "filters",
         "segments_batch", "campaigns_events"]
# Rows that run a page in a given state: (page file, session state on top of the group).
VARIANTS = {
    "data-unprofiled": ("data", {}),
    # Preview with an unsaved filter from the builder (exclude what the user interacted with): the filter is
    # compiled and evaluated on every rerun, against the user's whole history.
    "preview-built": ("preview", {"preview_filter": "(build a filter)", "preview_builder_seen": ["(any event)"]}),
}
DEMO_TARGET = 1.0
BIG_TARGET = 2.0


def build_demo(home: Path) -> None:
    """The demo group, trained, exactly as `make run` does: `python -m recsys --home DIR demo --train`."""
    subprocess.run([sys.executable, "-m", "recsys", "--home", str(home), "demo", "--train",
                    "--output", str(home / "demo-files")], check=True, cwd=ROOT)


def build_big(home: Path, group: str, n_interactions: int, seed: int = 8) -> None:
    """A group of ~`n_interactions` demo-shaped events, imported with recsys.ingest, two recipes trained, a campaign."""
    from recsys import campaigns, runs, solutions
    from recsys.demo import generate_demo, load_demo, write_demo
    from recsys.store import Store

    store = Store(home)
    directory = home / f"{group}-files"
    t0 = time.perf_counter()
    data = generate_demo(seed=seed, n_users=max(2000, n_interactions // 50), n_items=max(1000, n_interactions // 200),
                         n_interactions=n_interactions)
    write_demo(directory, data)
    load_demo(store, group, directory, write_if_missing=False)
    print(f"  {group}: generated and imported {len(data.interactions):,} interactions in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    for solution, recipe in (("popularity", "aws-popularity-count"), ("personalization", "aws-user-personalization")):
        t0 = time.perf_counter()
        solutions.create_solution(store, group, solution, recipe)
        version = runs.create_solution_version(store, group, solution, wait=True)
        print(f"  {group}: trained {recipe} ({version.status}) in {time.perf_counter() - t0:.1f} s", flush=True)
    version = solutions.latest_active_version(store, group, "personalization")
    campaigns.create_campaign(store, group, "personalization", version.arn)


def ensure_workspace(home: Path, big_group: str, n_interactions: int) -> None:
    from recsys.exceptions import NotFoundError
    from recsys.store import Store

    store = Store(home)
    for group, build in (("demo", lambda: build_demo(home)),
                         (big_group, lambda: build_big(home, big_group, n_interactions))):
        try:
            store.get_dataset_group(group)
            print(f"reusing group {group!r} in {home}", flush=True)
        except NotFoundError:
            print(f"building group {group!r} in {home} ...", flush=True)
            build()


def clear_streamlit_caches() -> None:
    import streamlit as st
    import streamlit.logger

    streamlit.logger.set_log_level("ERROR")  # AppTest's "no runtime" warnings

    st.cache_data.clear()
    st.cache_resource.clear()


def time_page(page: str, group: str, timeout: float) -> dict:
    """First run (Streamlit caches cleared) and a warm rerun of one page of one group.

    `data-unprofiled` is the Data page with the group's stored profile removed too (the first view after an
    import computes the profile); `data` finds the profile stored by an earlier view (e.g. after a restart).
    """
    from streamlit.testing.v1 import AppTest

    clear_streamlit_caches()
    if page == "data-unprofiled":
        (Path(os.environ["RECSYS_HOME"]) / "artifacts" / "profiles" / f"{group}.json").unlink(missing_ok=True)
    page, state = VARIANTS.get(page, (page, {}))
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=timeout)
    at.session_state["group"] = group
    for key, value in state.items():
        at.session_state[key] = value
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - t0
    record_event(group)
    t0 = time.perf_counter()
    at.run()
    event = time.perf_counter() - t0
    problems = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
    return {"first": first, "rerun": rerun, "event": event, "problems": problems}


def record_event(group: str) -> None:
    """One new event (as the Preview or Campaigns event simulator records it): the data version changes."""
    from recsys import queries, workspace
    from recsys.store import Store

    store = Store(os.environ["RECSYS_HOME"])
    context = {field: values[0] for field, values in queries.context_options(store, group).items() if values}
    user = queries.active_users(store, group, 1)[0]
    workspace.record_event(store, group, user, queries.popular_items(store, group, 1)[0], "view", context)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/recsys-bench-pages"),
                        help="workspace directory (built when missing, groups reused when present)")
    parser.add_argument("--big-group", default="big")
    parser.add_argument("--big-interactions", type=int, default=1_000_000)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names")
    parser.add_argument("--groups", default=None, help="comma-separated groups (default: demo and the big group)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per page; the best of each column is kept")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    ensure_workspace(home, args.big_group, args.big_interactions)
    os.environ["RECSYS_HOME"] = str(home)
    from recsys import datasets
    from recsys.store import Store

    store = Store(home)
    groups = args.groups.split(",") if args.groups else ["demo", args.big_group]
    sizes = {g: datasets.dataset_counts(store, g) for g in groups}
    pages = [p for p in args.pages.split(",") if p]

    # Warm the interpreter (imports of streamlit, altair, the recipes) so the first page does not pay for them.
    time_page("home", groups[0], args.timeout)

    results = {}
    for group in groups:
        for page in pages:
            runs = [time_page(page, group, args.timeout) for _ in range(max(1, args.repeat))]
            best = {"first": min(r["first"] for r in runs), "rerun": min(r["rerun"] for r in runs),
                    "event": min(r["event"] for r in runs), "problems": runs[-1]["problems"]}
            results[(page, group)] = best
            flag = f"  PROBLEMS: {best['problems']}" if best["problems"] else ""
            print(f"  {group:>10} {page:<18} first {best['first']:6.2f} s   rerun {best['rerun']:6.2f} s   "
                  f"after an event {best['event']:6.2f} s{flag}", flush=True)

    load = os.getloadavg()
    print()
    print("| page | " + " | ".join(f"{g} first (s) | {g} rerun (s) | {g} after an event (s)" for g in groups) + " |")
    print("|---|" + "---:|---:|---:|" * len(groups))
    for page in pages:
        cells = []
        for group in groups:
            r = results[(page, group)]
            cells += [f"{r['first']:.2f}", f"{r['rerun']:.2f}", f"{r['event']:.2f}"]
        print(f"| {page} | " + " | ".join(cells) + " |")
    print()
    print("Groups: " + "; ".join(f"{g}: " + ", ".join(f"{k} {v:,}" for k, v in sizes[g].items()) for g in groups))
    print(f"Load average after the run (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on "
          f"{os.cpu_count()} cores")
    failed = []
    for (page, group), r in results.items():
        target = DEMO_TARGET if group == "demo" else BIG_TARGET
        for column in ("rerun", "event"):
            if r[column] >= target:
                failed.append(f"{page}@{group} {column} {r[column]:.2f} s >= {target} s")
        if r["problems"]:
            failed.append(f"{page}@{group}: {r['problems']}")
    print("Targets (warm rerun and rerun after an event): demo < 1 s, big < 2 s: " + ("all met" if not failed else "; ".join(failed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
