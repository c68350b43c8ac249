"""One annotator over HTTP, as a browser with label.js is one: the client and the page parser
shared by the simulated annotators (labeling.simulation), the benchmarks and the tests.

Not imported by the web app. The client is cheap on purpose: bench.labeling runs it on the same
cores as the server, so every microsecond it spends per request is taken from the capacity it
measures. Hence one kept-alive ``http.client`` connection, cookies in a dict, bytes regexes for
the two ids a decision needs, and the prompt and completions parsed only when asked for.
"""

from __future__ import annotations

import html
import http.client
import re
import urllib.parse

# The ids: every task form's assignment, and the id a decision's short answer says is now shown.
_ASSIGNMENT = re.compile(rb'name="assignment" value="(\d+)"')
_DECIDED = re.compile(rb'<div id="decided" data-current="(\d*)"')
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
_UPCOMING = b'<template id="upcoming">'
_REFUSED = b'class="flash error"'
# The task's text, read only when a simulated annotator needs it to choose.
_PROMPT = re.compile(r'<section class="prompt">.*?<div class="text">(.*?)</div>', re.S)
_CARD = re.compile(
    r'<button type="submit" name="position" value="(\d)"[^>]*data-slot="(\d)">.*?'
    r'<span class="text">(.*?)</span>',
    re.S,
)
# A chat task: the conversation's turns and each answer's raw text beside its rendered Markdown.
_CHAT_TURN = re.compile(r'class="turn (system|user|assistant)">.*?<div class="raw text">(.*?)</div>', re.S)
_CHAT_CARD = re.compile(
    r'<button type="submit" name="position" value="(\d)"[^>]*data-slot="(\d)">.*?'
    r'<div class="raw text">(.*?)</div>',
    re.S,
)


class SimulationError(Exception):
    """The server answered something an annotator could not go on from."""


def assignment_ids(body: bytes | str) -> list[int]:
    """Every task form's assignment id on a page, in page order (shown first, then held)."""
    if isinstance(body, str):
        body = body.encode()
    return [int(a) for a in _ASSIGNMENT.findall(body)]


def csrf_input(body: bytes | str) -> str:
    """The CSRF token of a page's form."""
    if isinstance(body, str):
        body = body.encode()
    match = _CSRF_INPUT.search(body)
    if match is None:
        raise SimulationError("no csrfmiddlewaretoken input on the page")
    return match.group(1).decode()


class Page:
    """A labeling page, or the short answer to a decision, as the annotator sees it.

    ``assignment`` is the task on screen and ``held`` the one held ready (in
    ``<template id="upcoming">``); both are read when the page arrives, with two regexes over the
    bytes. ``prompt`` (a string, or a chat task's list of messages), ``completions`` (canonical
    order 0-3) and ``display_order`` are parsed on first use; a decision's short answer carries no
    task text, so asking it for them raises SimulationError.
    """

    # Slots: the benchmark makes one Page per decision, on the cores the server runs on.
    __slots__ = ("body", "assignment", "held", "decided", "_parsed")

    def __init__(self, body: bytes | str):
        self.body = body if type(body) is bytes else body.encode()
        self._parsed = None
        found = _ASSIGNMENT.findall(self.body)
        decided = _DECIDED.search(self.body)
        self.decided = decided is not None
        if decided:  # the answer to a decision: the page's next task, and the one after
            self.assignment = int(decided.group(1)) if decided.group(1) else None
            self.held = int(found[0]) if found else None
        else:  # the whole labeler
            self.assignment = int(found[0]) if found else None
            self.held = int(found[1]) if len(found) > 1 else None

    def _task(self) -> tuple[str | list, list[str], list[int]]:
        if self._parsed is None:
            self._parsed = self._parse_task()
        return self._parsed

    def _parse_task(self) -> tuple[str | list, list[str], list[int]]:
        if self.assignment is None:
            raise SimulationError("no task on the page")
        if self.decided:
            raise SimulationError("a decision's short answer carries ids only, not the task's text")
        current = self.body.split(_UPCOMING, 1)[0].decode()
        text_prompt = _PROMPT.search(current)
        if text_prompt is not None:
            prompt = html.unescape(text_prompt.group(1))
            found = _CARD.findall(current)
        else:  # a chat task
            prompt = [{"role": role, "content": html.unescape(content)}
                      for role, content in _CHAT_TURN.findall(current)]
            found = _CHAT_CARD.findall(current)
        cards = sorted((int(slot), int(position), html.unescape(text)) for position, slot, text in found)
        if len(cards) != 4:
            raise SimulationError(f"expected four cards on the page, found {len(cards)}")
        completions = [""] * 4
        for _, position, text in cards:
            completions[position] = text
        return prompt, completions, [position for _, position, _ in cards]

    @property
    def prompt(self) -> str | list:
        return self._task()[0]

    @property
    def completions(self) -> list[str]:
        return self._task()[1]

    @property
    def display_order(self) -> list[int]:
        return self._task()[2]


def parse_labeling_page(body: bytes | str) -> Page:
    """The task on screen, fully parsed: raises SimulationError now if the page shows a task
    whose four cards cannot be read."""
    page = Page(body)
    if page.assignment is not None and not page.decided:
        page._task()  # parse now, so a malformed page fails here
    return page


class AnnotatorClient:
    """One logged-in annotator: a kept-alive connection to ``base_url``, its cookies and CSRF
    token. Not thread-safe: one thread per client, as one browser tab per person."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be http://host[:port], not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)

    def request(self, method: str, path: str, data: dict | None = None, htmx: bool = False) -> tuple[int, bytes]:
        """One request on the kept-alive connection (reopened once if the server closed it);
        stores the cookies the answer sets. Returns the status and the body; redirects are not
        followed."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()  # the server closed a kept-alive connection: reconnect once
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, payload

    def login(self) -> None:
        """Log in through the login form; raises SimulationError if the server refuses."""
        _, page = self.request("GET", "/login/")
        status, _ = self.request(
            "POST", "/login/",
            {"username": self.username, "password": self.password, "csrfmiddlewaretoken": csrf_input(page)},
        )
        if status != 302:
            raise SimulationError(f"login failed for {self.username}: HTTP {status}")

    def next_task(self, slug: str) -> Page:
        """The labeling page, as htmx polls it: the task shown and the one held ready."""
        status, body = self.request("GET", f"/p/{slug}/", htmx=True)
        if status != 200:
            raise SimulationError(f"GET /p/{slug}/ for {self.username}: HTTP {status}")
        return Page(body)

    def choose(self, slug: str, page: Page, position: int, decision_ms: int, *, send_held: bool = False) -> Page:
        """Pick ``position`` (canonical 0-3) on the page's task. With ``send_held`` the request
        says which task the page holds ready, as label.js does, and the answer is the short one
        (ids of the next task and the one after); without it the answer is the whole labeler.
        A refused choice raises SimulationError."""
        data = {"assignment": page.assignment, "position": position, "decision_ms": decision_ms}
        if send_held and page.held:
            data["held"] = page.held
        status, body = self.request("POST", f"/p/{slug}/decide/", data, htmx=True)
        if status != 200 or _REFUSED in body:  # inline, not _decided(): the benchmark's hot path
            raise SimulationError(f"decision refused for {self.username}: HTTP {status}: {body[:300]!r}")
        return Page(body)

    def skip(self, slug: str, page: Page) -> Page:
        """Skip the page's task; the answer is the whole labeler."""
        data = {"assignment": page.assignment, "action": "skip"}
        return self._decided(self.request("POST", f"/p/{slug}/decide/", data, htmx=True))

    def _decided(self, answer: tuple[int, bytes]) -> Page:
        status, body = answer
        if status != 200 or _REFUSED in body:
            raise SimulationError(f"decision refused for {self.username}: HTTP {status}: {body[:300]!r}")
        return Page(body)

    def close(self) -> None:
        self.conn.close()
