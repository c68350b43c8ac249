"""Reading uploaded rows within bounds: JSONL, CSV and Parquet as a stream of (line, dict).

Every value Quartet would store is checked here, where the line and field are still known:
no NUL characters (PostgreSQL text refuses them), no NaN or Infinity, integers within 64 bits,
nesting at most MAX_DEPTH deep, text and binary values only of the kinds a JSON column holds.
JSONL and CSV are read one record at a time from a binary stream, never as a whole string;
Parquet's schema and sizes are checked from its footer before any column is decompressed, and
its rows are read a small batch at a time.

Problems are appended to the caller's ``errors`` list as 'file, line N, field F: problem'.
"""

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

MAX_DEPTH = 32  # objects and lists inside one another; real metadata is a few levels deep
MAX_ROW_BYTES = 4 * 1024 * 1024  # one JSONL line or CSV record: five 100k-character texts fit
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what a bigint column and most JSON readers hold
PARQUET_BATCH_ROWS = 256
_MAX_INT_DIGITS = 19  # longer literals are out of range whatever their digits
_BOM = b"\xef\xbb\xbf"

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
SUFFIXES = (*JSONL_SUFFIXES, ".csv", ".parquet")


def max_upload_bytes() -> int:
    return settings.QUARTET_MAX_UPLOAD_MB * 1024 * 1024


def upload_size_error(name: str, size: int | None) -> str | None:
    """The message for an upload over QUARTET_MAX_UPLOAD_MB, or None when it fits."""
    if size is not None and size > max_upload_bytes():
        return (f"{name}: {size / 1024 / 1024:.1f} MB is more than the {settings.QUARTET_MAX_UPLOAD_MB} MB "
                "an upload may have; split the file or import it with the management command")
    return None


def declared_length(meta) -> int | None:
    """The request's Content-Length header as a number (None when absent or not a number)."""
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None


class RowProblem(ValueError):
    """One bad value: ``problem`` in words, ``field`` its dotted path in the row (or '')."""

    def __init__(self, problem: str, field: str = ""):
        super().__init__(problem)
        self.problem, self.field = problem, field

    def describe(self) -> str:
        return f"field '{self.field}': {self.problem}" if self.field else self.problem

    def where(self, name: str, line: int) -> str:
        return f"{name}, line {line}, {self.describe()}" if self.field else f"{name}, line {line}: {self.problem}"


class _HugeInt:
    """Stands in for an integer literal too long to be in range, so the check can name its field
    (and Python never spends time converting thousands of digits)."""

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(literal: str):
    digits = len(literal.lstrip("-"))
    return _HugeInt(digits) if digits > _MAX_INT_DIGITS else int(literal)


def json_value(text: str):
    """Parse one JSON document and check it (see check_value). Raises RowProblem."""
    try:
        # NaN/Infinity parse to floats so that the check names their field.
        value = json.loads(text, parse_int=_parse_int, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise RowProblem(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RowProblem(f"nested deeper than {MAX_DEPTH} levels") from None
    check_value(value)
    return value


def check_value(value, field: str = "") -> None:
    """Raise RowProblem naming the first value Quartet cannot store faithfully: a NUL character,
    NaN or Infinity, an integer beyond 64 bits, nesting deeper than MAX_DEPTH, or a type a JSON
    column cannot hold (bytes, timestamps…). Iterative: depth costs no Python stack."""
    pending = [(value, field, 0)]
    while pending:
        item, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise RowProblem(f"nested deeper than {MAX_DEPTH} levels", path)
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if "\x00" in item:
                raise RowProblem("contains a NUL character", path)
        elif isinstance(item, _HugeInt):
            raise RowProblem(f"an integer with {item.digits} digits is out of range", path)
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise RowProblem("integer out of range (64 bits)", path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise RowProblem(f"{item} is not a number Quartet can store", path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise RowProblem("object keys must be text", path)
                if "\x00" in key:
                    raise RowProblem("a key contains a NUL character", path)
                pending.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            raise RowProblem(f"{type(item).__name__} values are not supported", path)


def open_source(source, name: str | None = None) -> tuple[BinaryIO, str]:
    """A binary stream over ``source`` (a path, an uploaded file or a file object) and the name
    to report it by. Raises FileNotFoundError for a missing path."""
    if hasattr(source, "read"):
        label = name or Path(str(getattr(source, "name", "") or "upload")).name
        stream = getattr(source, "file", source)  # Django's uploads wrap the real file
        if hasattr(stream, "seek"):
            stream.seek(0)
        if isinstance(stream, io.TextIOBase):  # text given by a caller: encode it back, lazily
            stream = io.BytesIO(stream.read().encode("utf-8"))
        return stream, label
    path = Path(source)
    return path.open("rb"), name or path.name


def rows(name: str, stream: BinaryIO, errors: list[str]) -> Iterator[tuple[int, dict]]:
    """Rows of the file as (line or row number from 1, dict), by the name's suffix. Bad rows
    are reported in ``errors`` and skipped; a file that cannot be read on stops there."""
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(name, stream, errors)
    elif suffix == ".csv":
        yield from _csv_rows(name, stream, errors)
    elif suffix in JSONL_SUFFIXES:
        yield from _jsonl_rows(name, stream, errors)
    else:
        errors.append(f"{name}: unsupported file type {suffix or '(none)'}; use .jsonl, .csv or .parquet")


def _jsonl_rows(name: str, stream: BinaryIO, errors: list[str]) -> Iterator[tuple[int, dict]]:
    number = 0
    while line := stream.readline(MAX_ROW_BYTES + 1):
        number += 1
        if len(line) > MAX_ROW_BYTES:
            errors.append(f"{name}, line {number}: longer than {MAX_ROW_BYTES // 1024 // 1024} MB")
            while line and not line.endswith(b"\n"):  # skip the rest of it, a bounded read at a time
                line = stream.readline(MAX_ROW_BYTES + 1)
            continue
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"{name}, line {number}: not UTF-8 text ({exc.reason})")
            continue
        if not text.strip():
            continue
        try:
            data = json_value(text)
        except RowProblem as exc:
            errors.append(exc.where(name, number))
            continue
        if not isinstance(data, dict):
            errors.append(f"{name}, line {number}: expected a JSON object")
            continue
        yield number, data


def _value_ok(row: dict, name: str, number: int, errors: list[str]) -> bool:
    """Whether a CSV or Parquet row's values pass check_value; if not, its problem is appended to
    ``errors`` with the file and line (or row) named."""
    try:
        check_value(row)
    except RowProblem as exc:
        errors.append(exc.where(name, number))
        return False
    return True


def _csv_rows(name: str, stream: BinaryIO, errors: list[str]) -> Iterator[tuple[int, dict]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    try:
        for row in reader:
            number = reader.line_num
            if None in row:
                errors.append(f"{name}, line {number}: more values than the header has columns")
                continue
            if _value_ok(row, name, number, errors):
                yield number, row
    except UnicodeDecodeError as exc:
        errors.append(f"{name}, near line {reader.line_num + 1}: not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        errors.append(f"{name}, line {reader.line_num}: cannot be read as CSV ({exc})")
    finally:
        text.detach()  # the caller closes the stream


def _arrow_type_problem(arrow_type) -> str | None:
    """None when a Parquet column of this type reads as JSON-like values, else why not."""
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return _arrow_type_problem(arrow_type.value_type)
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return _arrow_type_problem(arrow_type.value_type)
    if t.is_struct(arrow_type):
        for i in range(arrow_type.num_fields):
            problem = _arrow_type_problem(arrow_type.field(i).type)
            if problem:
                return problem
        return None
    if (t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_boolean(arrow_type)
            or t.is_null(arrow_type) or t.is_floating(arrow_type)):
        return None
    if t.is_integer(arrow_type) and arrow_type.bit_width <= 64 and not t.is_uint64(arrow_type):
        return None
    return f"{arrow_type} values are not supported (text, numbers, booleans, lists and objects are)"


def _parquet_rows(name: str, stream: BinaryIO, errors: list[str]) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa  # loaded on the first Parquet import, not in every web worker
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        errors.append(f"{name}: not a readable Parquet file ({exc})")
        return
    problems = [f"{name}, field '{f.name}': {problem}" for f in schema
                if (problem := _arrow_type_problem(f.type))]
    # The footer says how big every column is once decompressed: a small file that would
    # inflate past the upload budget is refused before a single page is decompressed.
    metadata, budget, total = parquet.metadata, max_upload_bytes(), 0
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(metadata.num_columns):
            chunk = row_group.column(column)
            size = chunk.total_uncompressed_size
            total += size
            where = f"{name}, row group {group + 1}, field '{chunk.path_in_schema}'"
            if size > budget:
                problems.append(f"{where}: {size / 1024 / 1024:.0f} MB once decompressed, more than "
                                f"the {settings.QUARTET_MAX_UPLOAD_MB} MB an upload may hold")
            elif size > MAX_ROW_BYTES * max(row_group.num_rows, 1):
                # More than a row may hold on average: some value in it is over the row limit.
                problems.append(f"{where}: {size / 1024 / 1024:.0f} MB once decompressed for "
                                f"{row_group.num_rows} rows; a row may hold {MAX_ROW_BYTES // 1024 // 1024} MB")
    if total > budget and not problems:
        problems.append(f"{name}: {total / 1024 / 1024:.0f} MB once decompressed, more than the "
                        f"{settings.QUARTET_MAX_UPLOAD_MB} MB an upload may hold")
    if problems:
        errors.extend(problems)
        return
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                number += 1
                if _value_ok(row, name, number, errors):
                    yield number, row
    except (pa.ArrowException, OSError, ValueError) as exc:
        errors.append(f"{name}, row {number + 1}: cannot be read ({exc})")
