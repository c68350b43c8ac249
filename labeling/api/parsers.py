"""Request body parsers: JSON whose size, depth and numbers stay within what Quartet stores."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from labeling.services.parsing import RowProblem, json_value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with limits: nesting deeper than parsing.MAX_DEPTH, NaN/Infinity and
    integers beyond 64 bits are a 400 naming the problem, never a RecursionError (HTML 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        raw = stream.read() if stream is not None else b""
        try:
            return json_value(raw.decode(encoding))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - not {encoding} text ({exc.reason})") from None
        except RowProblem as exc:
            raise ParseError(f"JSON parse error - {exc.describe()}") from None
