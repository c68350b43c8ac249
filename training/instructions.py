"""An instruction set made from what ships with CPython: questions about standard-library modules
and functions, answered in Markdown from their own docstrings (PSF License, like CPython).

Sources are read with ``ast`` (never imported), as in training.corpus, so the set depends only on
the Python version, and is the same on every machine and run for a given seed. Torch-free.

Answers are short (the chat starter reads at most 256 tokens) and use some Markdown: inline code
always, a bulleted list or a fenced code block in most answers, so a model tuned on them writes
answers the labeling page renders as Markdown.
"""

from __future__ import annotations

import ast
import os
import random
import re
import sysconfig
from dataclasses import dataclass

SYSTEM_PROMPTS = (
    "You are a helpful assistant who answers questions about the Python standard library.",
    "Answer briefly, using Markdown.",
    "You are a concise Python tutor.",
)
_SKIP = {"antigravity", "this", "__future__", "__hello__", "__phello__", "idlelib", "turtledemo"}
_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)`'\"])\.(?=\s+[A-Z]|\s*$)")


@dataclass(frozen=True)
class FunctionDoc:
    module: str
    name: str
    args: list[str]  # parameter names, in order, without self
    summary: str  # first sentence of the docstring


@dataclass(frozen=True)
class ModuleDoc:
    name: str
    summary: str
    functions: list[FunctionDoc]


def _summary(doc: str | None) -> str | None:
    """The docstring's first sentence, if it reads as one: prose, 20 to 200 characters."""
    if not doc:
        return None
    para = _WS.sub(" ", doc.strip().split("\n\n")[0]).strip()
    m = _SENTENCE_END.search(para)
    sentence = para[: m.start() + 1] if m else para
    if not 20 <= len(sentence) <= 200 or not sentence[0].isalpha() or ">>>" in sentence:
        return None
    if "(" in sentence.split(" ")[0]:  # a signature line such as "dumps(obj, ...)"
        return None
    if not sentence.endswith("."):
        sentence += "."
    return sentence[0].upper() + sentence[1:]


def _public_args(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")][:4]


def _module_files(root: str, prefix: str = "", depth: int = 0):
    """(dotted name, path) of public modules under `root`, packages one level deep, sorted."""
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.endswith(".py") and name != "__init__.py":
            mod = name[:-3]
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            mod = name
        else:
            continue
        if mod.startswith("_") or mod in _SKIP or not mod.isidentifier() or mod in ("test", "tests"):
            continue
        if name.endswith(".py"):
            yield prefix + mod, path
        else:
            yield prefix + mod, os.path.join(path, "__init__.py")
            if depth == 0:
                yield from _module_files(path, prefix + mod + ".", depth + 1)


def stdlib_modules() -> list[ModuleDoc]:
    """Standard-library modules (and their submodules) with a usable docstring and >= 2
    documented public functions or classes, sorted by name."""
    out = []
    for mod, path in _module_files(sysconfig.get_paths()["stdlib"]):
        try:
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        summary = _summary(ast.get_docstring(tree))
        functions = []
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                s = _summary(ast.get_docstring(node))
                if not s:
                    continue
                if isinstance(node, ast.ClassDef):
                    init = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
                    args = _public_args(init[0]) if init else []
                else:
                    args = _public_args(node)
                functions.append(FunctionDoc(mod, node.name, args, s))
        if summary and len(functions) >= 2:
            out.append(ModuleDoc(mod, summary, functions))
    return out


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:] if s[:2].isalpha() and not s[:2].isupper() else s


def function_question(f: FunctionDoc, rng: random.Random) -> str:
    q = rng.choice(
        (
            "What does `{m}.{n}` do?",
            "What does {m}.{n} do?",
            "Explain `{n}` from the `{m}` module.",
            "How do I use {m}.{n}?",
            "What is `{m}.{n}` for?",
            "Can you describe the {n} function in {m}?",
        )
    )
    return q.format(m=f.module, n=f.name)


def function_answer(f: FunctionDoc, rng: random.Random) -> str:
    call = f"{f.module}.{f.name}({', '.join(f.args)})"
    style = rng.random()
    if style < 0.4:
        lines = [f"`{f.module}.{f.name}`: {_lower_first(f.summary)}", ""]
        lines.append(f"- Module: `{f.module}`")
        if f.args:
            lines.append("- Arguments: " + ", ".join(f"`{a}`" for a in f.args))
        else:
            lines.append("- Arguments: none")
        return "\n".join(lines)
    if style < 0.75:
        return f"{f.summary}\n\n```python\nimport {f.module}\n{call}\n```"
    return f"`{f.name}` in `{f.module}`: {_lower_first(f.summary)} Call it as `{call}`."


def module_question(m: ModuleDoc, rng: random.Random) -> str:
    q = rng.choice(
        (
            "What is the `{m}` module for?",
            "What does the {m} module provide?",
            "Tell me about the `{m}` module.",
            "Which functions does `{m}` have?",
        )
    )
    return q.format(m=m.name)


def module_answer(m: ModuleDoc, rng: random.Random) -> str:
    names = [f.name for f in m.functions]
    picked = sorted(rng.sample(names, min(3, len(names))), key=names.index)
    items = "\n".join(f"- `{m.name}.{n}`" for n in picked)
    return f"The `{m.name}` module: {_lower_first(m.summary)}\n\nSome of its functions:\n{items}"


def _conversation(first_q: str, rng: random.Random) -> list[dict]:
    messages = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    messages.append({"role": "user", "content": first_q})
    return messages


def module_examples(m: ModuleDoc, rng: random.Random) -> list[tuple[list[dict], str]]:
    """(conversation prompt, Markdown answer) pairs about one module: one per documented
    function, one about the module, and some two-turn conversations asking a follow-up."""
    out = [(_conversation(module_question(m, rng), rng), module_answer(m, rng))]
    for f in m.functions:
        out.append((_conversation(function_question(f, rng), rng), function_answer(f, rng)))
    if len(m.functions) >= 2 and rng.random() < 0.6:
        f1, f2 = rng.sample(m.functions, 2)
        prompt = _conversation(function_question(f1, rng), rng)
        prompt += [
            {"role": "assistant", "content": function_answer(f1, rng)},
            {"role": "user", "content": rng.choice(("And `{n}`?", "What about {n}?")).format(n=f2.name)},
        ]
        out.append((prompt, function_answer(f2, rng)))
    return out


def build_instruction_groups(
    seed: int = 0, heldout_fraction: float = 0.15
) -> tuple[list[list[tuple[list[dict], str]]], list[list[tuple[list[dict], str]]]]:
    """(train, heldout) demonstrations grouped by module; held out by module, so held-out loss
    measures answers about modules the model was never tuned on."""
    rng = random.Random(seed)
    modules = stdlib_modules()
    rng.shuffle(modules)
    n_heldout = max(1, int(len(modules) * heldout_fraction))
    held, train = modules[:n_heldout], modules[n_heldout:]
    return (
        [module_examples(m, rng) for m in train],
        [module_examples(m, rng) for m in held],
    )


def build_instruction_set(
    seed: int = 0, heldout_fraction: float = 0.15
) -> tuple[list[tuple[list[dict], str]], list[tuple[list[dict], str]]]:
    """(train, heldout) demonstrations, flat; see build_instruction_groups."""
    train, held = build_instruction_groups(seed, heldout_fraction)
    return [ex for g in train for ex in g], [ex for g in held for ex in g]
