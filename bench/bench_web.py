"""Console page response times on the demo city, through a real server, signed in as each role.

    .venv/bin/python bench/bench_web.py [--requests 40] [--extra-cases 3000] [--postgres URL]

Prepares a temporary database as `cityloop demo` does (the whole demo city), starts the app under uvicorn,
adds --extra-cases reports through the API around the demo's case points (a third left to 受理, a third filed
and waiting for 派遣, a third dispatched: the queues and the map then hold thousands of cases, not the demo's
dozen), signs in through the /login form as the demo users, then requests each page --requests times, one at a
time, after two warm-up requests, and prints the median and p95 of the whole response (status 200 checked).
The goal (issue #6) is a median under 100 ms per page on the demo data.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

import benchlib
from bench_reports import login, prepare, server
from cityloop import demo

GOAL_MS = 100.0


def web_client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/login")  # the CSRF cookie
    r = client.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD,
                                    "csrf_token": client.cookies["cityloop_csrf"]})
    if r.status_code != 303:
        raise SystemExit(f"login as {username}: {r.status_code} {r.text[:300]}")
    return client


def add_cases(base: str, n: int) -> None:
    """n more cases of the demo's classes near its points, spread over the first steps of the loop."""
    if n <= 0:
        return
    headers = {who: {"Authorization": f"Bearer {login(base, who)}"}
               for who in ("collector", "operator", "shift_leader", "dispatcher")}
    with httpx.Client(base_url=base, timeout=30) as client:
        classes = sorted({(c["kind"], c["category_code"]) for c in client.get(
            "/api/v1/cases?limit=100", headers=headers["operator"]).json()["items"]})
        standard = {c: rows[0]["id"] if (rows := client.get(
            "/api/v1/filing-standards", params={"kind": c[0], "code": c[1]}).json()) else None for c in classes}
        rnd = random.Random(11)
        started = time.perf_counter()
        refused: Counter[str] = Counter()
        for i in range(n):
            lon, lat = rnd.choice(demo.CASE_POINTS)
            kind, code = rnd.choice(classes)
            r = client.post("/api/v1/cases", headers=headers["collector"], json={
                "kind": kind, "category_code": code, "description": f"压测案件 #{i}",
                "lat": lat + (rnd.random() - 0.5) * 0.01, "lon": lon + (rnd.random() - 0.5) * 0.01})
            r.raise_for_status()
            case_id = r.json()["id"]
            steps = ("accept", "file", "dispatch")[: i % 3 + (1 if i % 3 else 0)]
            for action in steps:
                who = {"accept": "operator", "file": "shift_leader", "dispatch": "dispatcher"}[action]
                body = {"filing_standard_id": standard[(kind, code)]} if action == "file" else {}
                answer = client.post(f"/api/v1/cases/{case_id}/actions/{action}", headers=headers[who], json=body)
                if answer.status_code != 200:
                    refused[f"{action}: {answer.json().get('code')}"] += 1
                    break
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{n} cases added ({time.perf_counter() - started:.0f} s)", flush=True)
        if refused:
            print(f"  steps refused (the case stays where it was): {dict(refused)}")


def measure(client: httpx.Client, url: str, n: int) -> tuple[float, float, int]:
    for _ in range(2):
        client.get(url)
    times = []
    size = 0
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
        size = len(r.content)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--extra-cases", type=int, default=3000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to create the bench database next to")
    args = parser.parse_args()
    print("machine:", benchlib.machine())
    with benchlib.database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        version = prepare(url)
        print(f"database: {version}; demo city loaded in {time.perf_counter() - started:.0f} s")
        with server(url, Path(tmp) / "server.log") as base:
            add_cases(base, args.extra_cases)
            token = login(base, "operator")
            cases = httpx.get(f"{base}/api/v1/cases?limit=1&status=dispatched",
                              headers={"Authorization": f"Bearer {token}"}).json()["items"]
            case_id = cases[0]["id"]
            # A filed case: its page carries the dispatch form with the units serving its district.
            filed_id = httpx.get(f"{base}/api/v1/cases?limit=1&status=filed",
                                 headers={"Authorization": f"Bearer {token}"}).json()["items"][0]["id"]
            pages = [
                ("operator", "/work/intake"), ("operator", "/work/review"), ("shift_leader", "/work/filing"),
                ("dispatcher", "/work/dispatch"), ("unit_staff", "/work/unit"), ("leader", "/work/leader"),
                ("collector", "/m"), ("collector", "/m/report"), ("dispatcher", f"/cases/{case_id}"),
                ("dispatcher", f"/cases/{filed_id}"),
                ("operator", "/cases"), ("dispatcher", "/map"), ("dispatcher", "/map/cases.geojson"),
                ("dispatcher", "/map/territories.geojson?level=street"), ("admin", "/admin"),
                ("admin", "/admin/users"), ("citizen", "/public/mine"), (None, "/public/report"), (None, "/login"),
            ]
            clients: dict[str | None, httpx.Client] = {}
            print(f"\n{'page':<44} {'as':<13} {'median':>8} {'p95':>8} {'bytes':>8}")
            over = []
            for who, url in pages:
                if who not in clients:
                    clients[who] = web_client(base, who) if who else httpx.Client(base_url=base, timeout=30)
                median, p95, size = measure(clients[who], url, args.requests)
                flag = "" if median < GOAL_MS else "  over the goal"
                if flag:
                    over.append(url)
                print(f"{url:<44} {who or '-':<13} {median:7.1f}ms {p95:7.1f}ms {size:8d}{flag}")
            print(f"\ngoal: median < {GOAL_MS:.0f} ms per page — "
                  + ("met by every page" if not over else f"NOT met by {', '.join(over)}"))


if __name__ == "__main__":
    main()
