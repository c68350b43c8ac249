"""Chat labeling in a real browser: a conversation with roles, answers as rendered Markdown with a
raw-text toggle, keyboard labeling; and untrusted Markdown that stays inert text."""

import json
from pathlib import Path

import pytest

from labeling.models import Choice, Completion, Project
from labeling.services import comparisons_import
from tests.e2e.browser import log_in
from tests.factories import ProjectFactory, UserFactory

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "chat_labeling.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SYSTEM = {"role": "system", "content": "You are a concise Python tutor. Answer with code where it helps."}
CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": "How do I count words in a file?"},
    {"role": "assistant", "content": "Do you want the count per word or the total?"},
    {"role": "user", "content": "Per word, *most common first*."},
]
ANSWERS = [
    "Use `collections.Counter`:\n\n1. read the file\n2. split it into words\n3. count them\n\n"
    "```python\nfrom collections import Counter\n\nwith open(\"notes.txt\") as fh:\n"
    "    counts = Counter(fh.read().split())\nprint(counts.most_common(3))\n```\n",
    "A dictionary works too:\n\n- loop over the words\n- `counts[w] = counts.get(w, 0) + 1`\n\n"
    "```python\ncounts = {}\nfor w in text.split():\n    counts[w] = counts.get(w, 0) + 1\n```\n",
    "| tool | sorted |\n|---|---|\n| `Counter.most_common` | yes |\n| `dict` | no |\n\n"
    "- `Counter` is in the standard library\n\n```python\nCounter(words).most_common()\n```\n",
    "**Short answer:**\n\n- `Counter(words)`\n\n```python\nimport collections\ncollections.Counter(words)\n```\n",
]


def login(page, live_server, username, project_name):
    log_in(page, f"{live_server.url}/", username)
    page.get_by_role("link", name=project_name).click()
    page.locator("#labeler > form.task").wait_for()


def chat_project(tmp_path, rows, name):
    project = ProjectFactory(name=name, slug="chat-demo", prompt_format=Project.PromptFormat.CHAT,
                             instructions="Pick the answer that helps the user most; r shows the raw text.")
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    comparisons_import(project=project, source=path)
    annotator = UserFactory(username="grace")
    project.annotators.add(annotator)
    return project, annotator


def test_chat_task_shows_roles_rendered_markdown_toggles_raw_and_labels_by_keyboard(live_server, browser_page, tmp_path):
    page = browser_page
    second = CONVERSATION[:2]  # a second task to move on to
    project, annotator = chat_project(tmp_path, [
        {"prompt": CONVERSATION, "completions": ANSWERS},
        {"prompt": second, "completions": ANSWERS},
    ], "Chat: a Python tutor")
    login(page, live_server, "grace", "Chat: a Python tutor")
    form = page.locator("#labeler > form.task")
    first_task = int(form.get_attribute("data-task"))

    system = form.locator("details.turn.system")
    assert system.locator("summary").inner_text().strip() == "SYSTEM prompt"  # collapsed: role shown
    assert not system.evaluate("d => d.open") and not system.locator(".md").is_visible()
    turns = form.locator(".conversation > .turn:not(.system)")
    assert [t.locator(".role").inner_text().lower() for t in turns.all()] == ["user", "assistant", "user"]
    assert form.locator(".turn.user em").last.inner_text() == "most common first"

    # Every answer is rendered: the Counter one has a numbered list and highlighted Python.
    counter_card = form.locator(".answer").filter(has_text="read the file")
    assert counter_card.locator(".md ol > li").count() == 3 and counter_card.locator(".md ol").is_visible()
    code = counter_card.locator(".md pre code.language-python")
    assert code.is_visible() and code.locator("span.kn").first.inner_text() == "from"
    color = code.locator("span.kn").first.evaluate("e => getComputedStyle(e).color")
    assert color != code.evaluate("e => getComputedStyle(e).color")  # the vendored Pygments CSS applies
    assert not counter_card.locator(".raw").is_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)  # the picture in the README

    page.keyboard.press("r")
    assert counter_card.locator(".raw").is_visible() and not counter_card.locator(".md").is_visible()
    assert "```python" in counter_card.locator(".raw").inner_text()
    assert form.locator('[data-action="raw"]').get_attribute("aria-pressed") == "true"
    page.keyboard.press("r")
    assert counter_card.locator(".md").is_visible() and not counter_card.locator(".raw").is_visible()

    slot = 2
    shown = form.locator(f'.answer:has(.card[data-slot="{slot}"]) .raw').text_content()
    position = Completion.objects.get(task_id=first_task, text=shown).position
    page.wait_for_timeout(150)
    page.keyboard.press(str(slot))
    page.locator("#progress").get_by_text("1 today").wait_for()
    assert int(page.locator("#labeler > form.task").get_attribute("data-task")) != first_task
    # The swapped-in task is a chat task too, rendered the same way.
    assert page.locator("#labeler > form.task .answer .md pre code span").count() > 0
    choice = Choice.objects.get(annotator=annotator)
    assert choice.task_id == first_task and choice.completion.position == position
    assert choice.display_order[slot - 1] == position


HOSTILE = [
    "<script>alert('script')</script>",
    "<img src=x onerror=\"alert('img')\">",
    "[click me](javascript:alert('link'))",
    "<a href=\"javascript:alert('anchor')\">raw anchor</a> <b>raw bold</b>",
    "<iframe src=\"javascript:alert('frame')\"></iframe><svg onload=\"alert('svg')\"></svg>",
]


def test_hostile_markdown_in_any_message_or_answer_stays_inert_and_visible(live_server, browser_page, tmp_path):
    page = browser_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    text = "\n\n".join(HOSTILE)
    rows = [{
        "prompt": [{"role": "system", "content": "sys " + text}, {"role": "user", "content": "user " + text},
                   {"role": "assistant", "content": "asst " + text}, {"role": "user", "content": "again " + text}],
        "completions": [f"answer {i} " + text for i in range(4)],
    } for _ in range(2)]
    rows[1]["prompt"][1]["content"] += " (second task)"
    chat_project(tmp_path, rows, "Chat: hostile")
    login(page, live_server, "grace", "Chat: hostile")
    form = page.locator("#labeler > form.task")
    form.locator("details.turn.system summary").click()

    def check():
        labeler = page.locator("#labeler")
        assert labeler.locator("script, img, iframe, svg, [onerror], [onload]").count() == 0
        assert labeler.locator('a[href^="javascript" i]').count() == 0
        visible = labeler.locator(".md:visible, .raw:visible")
        assert visible.count() == 4 + 4  # the system turn, three more turns, four answers
        for element in visible.all():
            shown = element.inner_text()
            for needle in ("<script>alert('script')</script>", "<img src=x onerror=", "javascript:alert('link')",
                           "<b>raw bold</b>", "<iframe src="):
                assert needle in shown, (needle, shown)

    check()
    for link in page.locator("#labeler .md a").all():  # any surviving link in rendered text is harmless
        assert link.get_attribute("href").startswith(("http://", "https://", "mailto:"))
    page.keyboard.press("r")
    check()
    page.keyboard.press("r")
    page.keyboard.press("1")  # the prefetched task is swapped in from a <template>
    page.locator("#progress").get_by_text("1 today").wait_for()
    page.locator("#labeler > form.task details.turn.system summary").click()
    check()
    page.wait_for_timeout(300)  # give any (wrongly) scheduled handler its chance to fire
    assert dialogs == []
