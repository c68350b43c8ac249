"""English prose that exists offline wherever CPython is installed.

Sources (both under the PSF License, like CPython itself):
  * ``pydoc_data.topics``: the Python language reference topics used by ``help()``;
  * docstrings of the standard library's own modules, read with ``ast`` (never imported, so
    nothing runs and the result does not depend on what happens to be importable).

Only prose paragraphs are kept: code examples, tables and signatures would teach the starter to
emit symbols, and the brief is that its samples read as English words and phrases.
"""

from __future__ import annotations

import ast
import os
import random
import re
import sysconfig

# Folders whose docstrings are test scaffolding or GUI demos rather than explanatory prose.
_SKIP_DIRS = {
    "test",
    "tests",
    "idlelib",
    "site-packages",
    "lib2to3",
    "__pycache__",
    "turtledemo",
    "tkinter",
    "ensurepip",
    "pydoc_data",
    "dist-packages",
}
_PROSE_CHARS = re.compile(r"[A-Za-z ,.;:'()\-]")
_WS = re.compile(r"\s+")


def _is_prose(paragraph: str) -> bool:
    if len(paragraph) < 40 or ">>>" in paragraph or "..." in paragraph:
        return False
    if not paragraph[0].isalpha():
        return False
    prose = len(_PROSE_CHARS.findall(paragraph))
    # Symbols and identifiers with underscores mark code and signatures rather than sentences.
    return prose / len(paragraph) > 0.95 and paragraph.count("_") <= 1 and paragraph[-1] in ".:"


def _paragraphs(text: str) -> list[str]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        # Indented blocks in reST are code or literal blocks.
        if any(line.startswith(("   ", "\t")) for line in lines) and not lines[0].startswith("   "):
            continue
        para = _WS.sub(" ", block).strip()
        if _is_prose(para):
            out.append(para)
    return out


def _topic_paragraphs() -> list[str]:
    from pydoc_data.topics import topics

    out = []
    for key in sorted(topics):
        out.extend(_paragraphs(topics[key]))
    return out


def _docstring_paragraphs() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(dirpath, name), encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    doc = ast.get_docstring(node)
                    if doc:
                        out.extend(_paragraphs(doc))
    return out


def load_corpus(seed: int = 0, heldout_fraction: float = 0.05) -> tuple[list[str], list[str]]:
    """Return (train, heldout) lists of prose paragraphs, deduplicated and shuffled with `seed`.

    The split is by paragraph so held-out perplexity measures text the model never saw.
    """
    seen: set[str] = set()
    paragraphs = []
    for para in _topic_paragraphs() + _docstring_paragraphs():
        if para not in seen:
            seen.add(para)
            paragraphs.append(para)
    random.Random(seed).shuffle(paragraphs)
    n_heldout = max(1, int(len(paragraphs) * heldout_fraction))
    return paragraphs[n_heldout:], paragraphs[:n_heldout]


def sentence_openings(paragraphs: list[str], n: int, seed: int = 0) -> list[str]:
    """Short sentence openings ("If the value is") from `paragraphs`: prompts in their style.

    Two to four plain words, so the starter has a familiar start but the sentence is still open.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    for para in paragraphs:
        for sentence in re.split(r"(?<=[.:;])\s+", para):
            words = sentence.split()
            if len(words) < 6 or not words[0][:1].isupper():
                continue
            k = rng.choice((2, 3, 3, 4))
            head = words[:k]
            if not all(w.isalpha() for w in head):
                continue
            opening = " ".join(head)
            if opening.lower() not in seen:
                seen.add(opening.lower())
                out.append(opening)
    rng.shuffle(out)
    return out[:n]
