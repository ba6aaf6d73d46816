"""`cityloop bench …`: measurements against the configured database (the demo city, typically)."""

from __future__ import annotations

import resource
import statistics
import time
from typing import Annotated

import numpy as np
import sqlalchemy as sa
import typer

from cityloop.areas import index as area_index
from cityloop.areas.models import Grid
from cityloop.catalog.enums import Kind
from cityloop.cli.common import engine_for, usage_error
from cityloop.db.session import read_sessionmaker, session_scope
from cityloop.routing import service as routing
from cityloop.settings import Settings

bench_app = typer.Typer(help="Benchmarks against the configured database.", no_args_is_help=True)


def _percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]


@bench_app.command("geocode")
def geocode(
    points: Annotated[int, typer.Option("--points", min=1000, help="points in the bulk run")] = 1_000_000,
    single: Annotated[int, typer.Option("--single", min=10, help="single locates and routing decisions")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Bulk locate (points/s against every unit grid), single-locate latency and routing-decision latency.

    Points are drawn inside randomly chosen unit grids (their bounding boxes), so nearly all of them exercise
    the grid layer; the few that land outside fall through to communities and districts, as real ones would.
    """
    engine = engine_for(Settings())
    rng = np.random.default_rng(seed)
    with session_scope(read_sessionmaker(engine)) as session:
        grids = session.execute(sa.select(Grid.center_lon, Grid.center_lat)).all()
        if not grids:
            raise usage_error("no unit grids in this database: load the demo city (make demo) or run "
                              "cityloop geo grids first")
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        index = area_index.get_index(session)
        build_s = time.perf_counter() - t0
        index_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        centers = np.array(grids, dtype=np.float64)
        pick = rng.integers(0, len(centers), points)
        # ±50 m around a grid's interior point: inside that grid or a neighbour.
        lons = centers[pick, 0] + rng.uniform(-0.0005, 0.0005, points)
        lats = centers[pick, 1] + rng.uniform(-0.00045, 0.00045, points)
        t0 = time.perf_counter()
        found = index.locate_many(lons, lats)
        bulk_s = time.perf_counter() - t0
        in_grid = int((found.grid >= 0).sum())
        # Single locates and routing run on points inside the city (jitter can carry an edge point outside).
        inside = np.flatnonzero(found.inside)[:single]

        latencies = []
        for i in inside:
            t0 = time.perf_counter()
            index.locate(float(lons[i]), float(lats[i]))
            latencies.append(time.perf_counter() - t0)

        inputs = routing.load_inputs(session)
        decisions, with_reads = [], []
        for i in inside:
            where = index.locate(float(lons[i]), float(lats[i]))
            facts = routing.facts_at(Kind.EVENT if i % 2 else Kind.PART, "0110" if i % 2 else "0137", where)
            t0 = time.perf_counter()
            routing.suggest(session, facts, inputs)
            decisions.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            routing.suggest(session, facts)  # as a case detail does: reads its rules and candidate units
            with_reads.append(time.perf_counter() - t0)
    engine.dispose()
    typer.echo(f"grids: {len(grids)}; index built in {build_s:.2f} s, peak memory +{index_mib:.0f} MiB")
    typer.echo(f"bulk: {points} points in {bulk_s:.2f} s, {in_grid} in a grid")
    typer.echo(f"single locate: p50 {_percentile(latencies, 50) * 1e3:.3f} ms, "
               f"p99 {_percentile(latencies, 99) * 1e3:.3f} ms")
    typer.echo(f"routing decision: p50 {_percentile(decisions, 50) * 1e3:.3f} ms, "
               f"p99 {_percentile(decisions, 99) * 1e3:.3f} ms ({len(inputs.rules)} rules, {len(inputs.units)} units "
               "in memory)")
    typer.echo(f"routing decision with its database reads: p50 {_percentile(with_reads, 50) * 1e3:.3f} ms, "
               f"p99 {_percentile(with_reads, 99) * 1e3:.3f} ms")
    typer.echo(f"geocode: {points / bulk_s:.0f} points/s")
