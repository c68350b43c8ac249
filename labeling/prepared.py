"""Statements the web process runs on every request, through a cursor that lets PostgreSQL
prepare them: the labeling queue's (labeling.queue_sql), the session's and the user's
(labeling.sessions).

Profiling ``bench.labeling`` showed PostgreSQL spending more time parsing and planning these
small statements than running them (0.2–0.7 ms each, on every request), and the ORM about 1 ms
building each one. Statements sent through ``rows`` are bound on the server, so psycopg prepares
each once per connection after ``prepare_threshold`` executions (settings); the ORM keeps
Django's client-side binding. Queries are logged, wrapped and counted as through
``connection.cursor()``. On SQLite this is Django's cursor.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections


def cursor():
    """Django's cursor; on PostgreSQL with ``prepare_threshold`` set, one that binds parameters
    on the server (Django's own server-side-binding cursor class, for these statements only)."""
    conn = connections[DEFAULT_DB_ALIAS]  # one lookup: each ``connection.x`` is a context-local one
    if conn.vendor != "postgresql" or not conn.settings_dict["OPTIONS"].get("prepare_threshold"):
        return conn.cursor()
    conn.ensure_connection()
    return conn._prepare_cursor(conn.Database.Cursor(conn.connection))


def rows(sql: str, params: list) -> list[tuple]:
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchall()


@functools.cache
def _fields(model, vendor: str) -> tuple:
    """The model's concrete fields: (attnames, quoted columns, each field's converters), worked
    out once per process (building them per request was a third of a lookup's CPU)."""
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        converters.append((column, tuple(found)))
    return ([f.attname for f in fields], [connection.ops.quote_name(f.column) for f in fields], converters)


def columns(model, alias: str) -> str:
    """The model's concrete columns, in field order, for a SELECT that ``instance`` reads."""
    return ", ".join(f"{alias}.{column}" for column in _fields(model, connection.vendor)[1])


def instance(model, sql: str, params: list, extra: int = 0):
    """One ``model`` instance from a statement that selects ``columns(model, …)`` (then
    ``extra`` more columns), with each value converted as the ORM converts it (JSON, SQLite's
    dates and booleans): (instance, [extra values]), or None when no row matched.
    ``model.objects.raw`` would bind on the client, so PostgreSQL would plan it on every request."""
    attnames, _, converters = _fields(model, connection.vendor)
    found = rows(sql, params)
    if not found:
        return None
    values = list(found[0])
    for i, (column, field_converters) in enumerate(converters):
        for converter in field_converters:
            values[i] = converter(values[i], column, connection)
    n = len(attnames)
    return model.from_db(connection.alias, attnames, values[:n]), values[n:n + extra]
