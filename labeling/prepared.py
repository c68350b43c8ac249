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

from django.db import connection


def cursor():
    """Django's cursor; on PostgreSQL with ``prepare_threshold`` set, one that binds parameters
    on the server (Django's own server-side-binding cursor class, for these statements only)."""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("prepare_threshold"):
        return connection.cursor()
    connection.ensure_connection()
    return connection._prepare_cursor(connection.Database.Cursor(connection.connection))


def rows(sql: str, params: list) -> list[tuple]:
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchall()


def columns(model, alias: str) -> str:
    """The model's concrete columns, in field order, for a SELECT that ``instance`` reads."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


def instance(model, sql: str, params: list, extra: int = 0):
    """One ``model`` instance from a statement that selects ``columns(model, …)`` (then
    ``extra`` more columns), with each value converted as the ORM converts it (JSON, SQLite's
    dates and booleans): (instance, [extra values]), or None when no row matched.
    ``model.objects.raw`` would bind on the client, so PostgreSQL would plan it on every request."""
    fields = model._meta.concrete_fields
    found = rows(sql, params)
    if not found:
        return None
    values = list(found[0])
    for i, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
            values[i] = converter(values[i], column, connection)
    obj = model.from_db(connection.alias, [f.attname for f in fields], values[: len(fields)])
    return obj, values[len(fields):len(fields) + extra]
