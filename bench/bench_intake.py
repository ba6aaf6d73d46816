"""Machine events per second through the batch endpoint (dedup on), and single reports against a trivial
endpoint of the same server.

    .venv/bin/python bench/bench_intake.py [--threads 2] [--duration 15] [--batch 1000] [--postgres URL]

What it does, all on this machine:

1. prepares a temporary database as `cityloop demo` does (the demo city, its devices and published keys);
2. starts the app under uvicorn in a subprocess (one process, demo mode, the public rate limit lifted);
3. phase "events (first pass)": batches of --batch events from the demo's AI camera, each event with a new
   device_event_id, drawn around --hotspots places in 西湖区 × 3 classes, confidences mixed so that ~75 % are
   at or above the auto threshold, ~15 % between the thresholds and ~10 % below. The first sightings of a
   hotspot open and file cases (accept + file + routing), later ones join them or the pending review item;
4. phase "events (steady)": the same mix once every hotspot has its case — what a fleet sends all day;
5. phases "single": POST /api/v1/cases (a collector's report), POST /api/v1/public/reports (随手拍, anonymous,
   dedup on) and GET /health (SELECT 1), one request at a time per client thread;
6. prints events/s (or requests/s), p50/p95/p99 latency per call, the outcome mix, and the machine.

Client and server share the machine's cores, so the figures are for the pair, not the server alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

import benchlib
from bench_reports import Phase, count_cases, health, login, machine, prepare, report, run_phase, server
from cityloop.demo import intake as demo_intake

CLASSES = ("0110", "0401", "0111")  # 暴露生活垃圾, 无照经营游商, 积存垃圾渣土 (the demo's adopted 运城 codes)
CAMERA_KEY = demo_intake.DEVICES[0][0]
outcomes: Counter[str] = Counter()


def hotspots(n: int) -> list[tuple[float, float]]:
    rnd = random.Random(7)
    return [(round(120.125 + rnd.random() * 0.035, 6), round(30.255 + rnd.random() * 0.03, 6)) for _ in range(n)]


def batch_request(places: list[tuple[float, float]], size: int, offset: int):  # type: ignore[no-untyped-def]
    def send(client: httpx.Client, n: int) -> httpx.Response:
        rnd = random.Random(n + offset)
        now = datetime.now(UTC)
        events = []
        for i in range(size):
            lon, lat = rnd.choice(places)
            r = rnd.random()
            confidence = 0.95 if r < 0.75 else 0.7 if r < 0.9 else 0.3
            events.append({
                "device_event_id": f"b{offset}-{n}-{i}",
                "occurred_at": (now - timedelta(seconds=rnd.random() * 60)).isoformat(),
                "kind": "event", "category_code": rnd.choice(CLASSES), "confidence": confidence,
                # within a few metres of the hotspot: a camera's box wobbles
                "lat": lat + (rnd.random() - 0.5) * 4e-5, "lon": lon + (rnd.random() - 0.5) * 4e-5})
        resp = client.post("/api/v1/intake/events", content=json.dumps({"events": events}),
                           headers={"Content-Type": "application/json"})
        if resp.status_code == 200 and n >= 0:
            outcomes.update(r["outcome"] for r in resp.json()["results"])
        return resp

    return send


def public_report(client: httpx.Client, n: int) -> httpx.Response:
    rnd = random.Random(n)
    body = {"kind": "event", "category_code": "0110", "description": f"公交站旁有垃圾（压测 #{n}）",
            "lat": round(30.25 + rnd.random() * 0.04, 6), "lon": round(120.12 + rnd.random() * 0.05, 6)}
    return client.post("/api/v1/public/reports", json=body)


def show(phase: Phase, unit: str, per_call: int = 1) -> None:
    errors = f"  errors {dict(phase.errors)}" if phase.errors else ""
    print(f"  {phase.name:<26} {phase.rps * per_call:>10,.0f} {unit}/s  ({phase.ok} calls in {phase.elapsed:.1f} s)"
          f"  p50 {phase.pct(50):.1f} ms  p95 {phase.pct(95):.1f} ms  p99 {phase.pct(99):.1f} ms{errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="client threads for the batch phases (default 2)")
    parser.add_argument("--single-threads", type=int, default=1, help="client threads for single reports")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase (default 15)")
    parser.add_argument("--batch", type=int, default=1000, help="events per call (default 1000)")
    parser.add_argument("--hotspots", type=int, default=400, help="places the events come from (default 400)")
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a new database next to URL's)")
    args = parser.parse_args()
    if not (1 <= args.threads <= 32 and 0 < args.duration <= 300 and 1 <= args.batch <= 1000):
        parser.error("keep it bounded: 1-32 threads, at most 300 s per phase, 1-1000 events per call")

    print("cityloop benchmark: POST /api/v1/intake/events (batches, dedup on) and single reports, one uvicorn")
    for key, value in machine().items():
        print(f"  {key:<9} {value}")
    os.environ["CITYLOOP_PUBLIC_REPORTS_PER_MINUTE"] = "1000000"
    places = hotspots(args.hotspots)
    with benchlib.database(args.postgres) as url, tempfile.TemporaryDirectory(prefix="cityloop-bench-log-") as logs:
        t0 = time.perf_counter()
        version = prepare(url)
        print(f"  database  {'PostgreSQL' if args.postgres else 'SQLite'} ({version.split(',')[0]}); "
              f"prepared in {time.perf_counter() - t0:.1f} s; {args.hotspots} hotspots × {len(CLASSES)} classes")
        before = count_cases(url)
        with server(url, Path(logs) / "server.log") as base:
            camera = {"X-API-Key": CAMERA_KEY}
            common = {"threads": args.threads, "duration": args.duration, "max_requests": 1_000_000, "warmup": 0}
            first = run_phase("events (first pass)", 200, base, camera, batch_request(places, args.batch, 1),
                              **common)
            show(first, "events", args.batch)
            mix_first = dict(outcomes)
            outcomes.clear()
            steady = run_phase("events (steady)", 200, base, camera, batch_request(places, args.batch, 2),
                               **common)
            show(steady, "events", args.batch)
            print(f"  outcomes, first pass {mix_first}")
            print(f"  outcomes, steady     {dict(outcomes)}")
            single = {"threads": args.single_threads, "duration": args.duration, "max_requests": 1_000_000,
                      "warmup": 5}
            staff = {"Authorization": f"Bearer {login(base, 'collector')}"}
            for name, expect, headers, request in (
                    ("single: POST /cases", 201, staff, report),
                    ("single: POST /public/reports", 201, {}, public_report),
                    ("single: GET /health", 200, {}, health)):
                show(run_phase(name, expect, base, headers, request, **single), "requests")
        print(f"  cases opened during the run: {count_cases(url) - before}")


if __name__ == "__main__":
    main()
