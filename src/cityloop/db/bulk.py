"""Bulk INSERT and UPDATE for the hot intake path, at the driver's executemany speed.

SQLAlchemy's executemany processes every parameter of every row through its own machinery, which for a thousand
reports costs several times what the database spends storing them. Here the statement is compiled once per
table and column set, each column's bind processor (UTCDateTime's UTC normalisation, enums to their values) is
looked up once, and the driver receives plain tuples or dicts. The values stored are exactly those the ORM
would store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

Processor = Callable[[Any], Any] | None


def _processors(connection: Connection, columns: Sequence[sa.ColumnElement[Any]]) -> list[Processor]:
    dialect = connection.dialect
    return [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


def _same(value: Any) -> Any:
    return value


def _run(connection: Connection, stmt: sa.Executable, names: list[str], procs: list[Processor],
         rows: Sequence[Sequence[Any]]) -> None:
    compiled = stmt.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
    position = {name: i for i, name in enumerate(names)}
    identity: Callable[[Any], Any] = _same
    fns = [p or identity for p in procs]
    if compiled.positional:
        order = [(position[k], fns[position[k]]) for k in compiled.positiontup or ()]
        params: list[Any] = [tuple(fn(row[i]) for i, fn in order) for row in rows]
    else:
        named = [(k, i, fns[i]) for k, i in position.items()]
        params = [{k: fn(row[i]) for k, i, fn in named} for row in rows]
    connection.exec_driver_sql(compiled.string, params)


def insert(connection: Connection, table: sa.Table, names: list[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows (tuples in the order of `names`) into `table`."""
    if not rows:
        return
    columns = [table.c[n] for n in names]
    stmt = sa.insert(table).values({n: sa.bindparam(n) for n in names})
    _run(connection, stmt, names, _processors(connection, columns), rows)


def update(connection: Connection, stmt: sa.Update, names: list[str], types: Sequence[sa.ColumnElement[Any]],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Run an UPDATE whose bind parameters are `names` (typed like `types`) once per row."""
    if rows:
        _run(connection, stmt, names, _processors(connection, types), rows)
