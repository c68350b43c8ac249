"""Simulated annotators: real HTTP sessions that label through the same pages a browser uses.

Each annotator logs in, GETs the labeling page (as htmx does), reads the prompt and the four
cards, lets a training/ oracle pick one, and POSTs the choice. Used by `manage.py
simulate_annotators`, the end-to-end test and the benchmarks.
"""

import html
import http.cookiejar
import random
import re
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

_ASSIGNMENT = re.compile(r'name="assignment" value="(\d+)"')
_PROMPT = re.compile(r'<section class="prompt">.*?<div class="text">(.*?)</div>', re.S)
_CARD = re.compile(
    r'<button type="submit" name="position" value="(\d)"[^>]*data-slot="(\d)">.*?'
    r'<span class="text">(.*?)</span>',
    re.S,
)
# A chat task: the conversation's turns and each answer's raw text beside its rendered Markdown.
_CHAT_TURN = re.compile(
    r'class="turn (system|user|assistant)">.*?<div class="raw text">(.*?)</div>', re.S
)
_CHAT_CARD = re.compile(
    r'<button type="submit" name="position" value="(\d)"[^>]*data-slot="(\d)">.*?'
    r'<div class="raw text">(.*?)</div>',
    re.S,
)
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SimulationError(Exception):
    pass


@dataclass
class Page:
    assignment: int | None
    prompt: str | list = ""  # a text prompt, or a chat task's conversation (list of messages)
    completions: list[str] = field(default_factory=list)  # canonical order 0–3
    display_order: list[int] = field(default_factory=list)


def parse_labeling_page(body: str) -> Page:
    """The task on screen: the first task form (the prefetched one sits in a <template>)."""
    current = body.split('<template id="upcoming">', 1)[0]
    match = _ASSIGNMENT.search(current)
    if match is None:
        return Page(assignment=None)
    text_prompt = _PROMPT.search(current)
    if text_prompt is not None:
        prompt = html.unescape(text_prompt.group(1))
        found = _CARD.findall(current)
    else:  # a chat task
        prompt = [{"role": role, "content": html.unescape(content)} for role, content in _CHAT_TURN.findall(current)]
        found = _CHAT_CARD.findall(current)
    cards = sorted((int(slot), int(position), html.unescape(text)) for position, slot, text in found)
    if len(cards) != 4:
        raise SimulationError(f"expected four cards on the page, found {len(cards)}")
    completions = [""] * 4
    for _, position, text in cards:
        completions[position] = text
    return Page(
        assignment=int(match.group(1)),
        prompt=prompt,
        completions=completions,
        display_order=[position for _, position, _ in cards],
    )


class AnnotatorSession:
    """One logged-in annotator over HTTP, with its own cookie jar."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30):
        self.base = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.timeout = timeout
        self.username, self.password = username, password

    def _csrf(self) -> str:
        for cookie in self.jar:
            if cookie.name == "csrftoken":
                return cookie.value
        raise SimulationError("no CSRF cookie; log in first")

    def request(self, path: str, data: dict | None = None, htmx: bool = False) -> str:
        headers = {"HX-Request": "true"} if htmx else {}
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["X-CSRFToken"] = self._csrf()
            headers["Referer"] = self.base + path
        req = urllib.request.Request(self.base + path, data=body, headers=headers)
        with self.opener.open(req, timeout=self.timeout) as response:
            return response.read().decode()

    def login(self) -> None:
        page = self.request("/login/")
        token = _CSRF_INPUT.search(page).group(1)
        after = self.request(
            "/login/",
            {"username": self.username, "password": self.password, "csrfmiddlewaretoken": token},
        )
        if 'name="password"' in after:
            raise SimulationError(f"login failed for {self.username}")

    def next_task(self, slug: str) -> Page:
        return parse_labeling_page(self.request(f"/p/{slug}/", htmx=True))

    def choose(self, slug: str, page: Page, position: int, decision_ms: int) -> Page:
        body = self.request(
            f"/p/{slug}/decide/",
            {"assignment": page.assignment, "position": position, "decision_ms": decision_ms},
            htmx=True,
        )
        if 'class="flash error"' in body:
            raise SimulationError(f"choice refused for {self.username}: {body[:300]}")
        return parse_labeling_page(body)


@dataclass
class SimulationResult:
    labels: int
    seconds: float
    per_annotator: dict
    errors: list


def simulate(
    *,
    base_url: str,
    slug: str,
    accounts: list[tuple[str, str]],
    oracle,
    labels: int,
    seed: int = 0,
    wait_for_tasks: float = 0.0,
    on_label=None,
) -> SimulationResult:
    """Label ``labels`` tasks in total with the given accounts working at once.

    An annotator that finds the queue empty polls for up to ``wait_for_tasks`` seconds (the
    loop may be sampling new tasks) before it stops.
    """
    lock = threading.Lock()
    state = {"done": 0}
    per_annotator = {name: 0 for name, _ in accounts}
    errors: list[str] = []
    start = time.monotonic()

    def work(index: int, username: str, password: str):
        rng = random.Random(seed * 1000 + index)
        try:
            session = AnnotatorSession(base_url, username, password)
            session.login()
            page = session.next_task(slug)
            idle_since = None
            while True:
                with lock:
                    if state["done"] >= labels:
                        return
                    state["done"] += 1  # reserve one label
                if page.assignment is None:
                    with lock:
                        state["done"] -= 1
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > wait_for_tasks:
                        return
                    time.sleep(0.5)
                    page = session.next_task(slug)
                    continue
                idle_since = None
                best = oracle.choose(page.prompt, page.completions, rng)
                page = session.choose(slug, page, best, decision_ms=rng.randint(800, 4000))
                with lock:
                    per_annotator[username] += 1
                if on_label:
                    on_label()
        except Exception as exc:  # reported to the caller, which decides what it means
            with lock:
                errors.append(f"{username}: {type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=work, args=(i, name, pw), daemon=True)
        for i, (name, pw) in enumerate(accounts)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SimulationResult(
        labels=sum(per_annotator.values()),
        seconds=time.monotonic() - start,
        per_annotator=per_annotator,
        errors=errors,
    )
