"""Model output and imported messages as safe HTML: Markdown rendered once, when stored.

markdown-it-py parses CommonMark plus tables with raw HTML off (a ``<script>`` in an answer
stays text), Pygments highlights fenced code with CSS classes only (the stylesheet is vendored
in ``static/labeling/pygments.css``, so a Content-Security-Policy can forbid inline styles), and
nh3 (ammonia) sanitizes the result against an allowlist as the last line of defence. Links get
``rel="nofollow noopener"``; only http, https and mailto links survive. Images are never loaded:
the image rule is off, so ``![alt](url)`` stays the text ``!`` followed by a plain link.

Pure functions of their input; no Django, no I/O. Rendering costs about a millisecond per answer,
paid once at creation instead of on every page view.
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Bumped when the output for the same input changes (stored HTML is rendered with one version).
RENDERER_VERSION = 1
# Code blocks longer than this are shown unhighlighted: highlighting is linear but not free.
MAX_HIGHLIGHT_CHARS = 50_000

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    # Pygments token classes (e.g. "k", "s2") and markdown-it's "language-…" on code.
    "span": {"class"},
    "code": {"class"},
}
_FORMATTER = HtmlFormatter(nowrap=True)  # class-based spans; markdown-it wraps them in <pre><code>


def _highlight(code: str, lang: str, _attrs) -> str:
    """Pygments spans for a fenced block with a known language; '' lets markdown-it escape it."""
    if not lang or len(code) > MAX_HIGHLIGHT_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang.strip().split()[0].lower())
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _FORMATTER)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # never fetch a remote image from an annotator's browser
    return md


def markdown_html(text: str) -> str:
    """``text`` (untrusted Markdown) as sanitized HTML, safe to insert into a page unescaped."""
    return nh3.clean(
        _parser().render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
        strip_comments=True,
    )


def pygments_css(scope: str = ".md") -> str:
    """The stylesheet for highlighted code, scoped to rendered Markdown (how the vendored
    ``static/labeling/pygments.css`` was made)."""
    return HtmlFormatter(style="default").get_style_defs(f"{scope} pre code")
