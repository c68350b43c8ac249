"""Chat projects: conversations imported and checked at the edge, answers rendered once, the
labeling page, the API, and the inputs handed to training."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling import selectors
from labeling.models import ComparisonTask, Completion, Project, Prompt
from labeling.services import ImportValidationError, comparisons_import, prompts_import
from labeling.simulation import parse_labeling_page
from tests.factories import ProjectFactory

SYSTEM = {"role": "system", "content": "You are a terse Python helper."}
ASK = {"role": "user", "content": "How do I sort a list of dicts by key?"}
ANSWERS = [
    "Use `sorted`:\n\n- pass `key=`\n- done\n\n```python\nsorted(rows, key=lambda r: r['k'])\n```\n",
    {"role": "assistant", "content": "Call **list.sort** with a key."},
    "| way | in place |\n|---|---|\n| sorted | no |\n| sort | yes |\n",
    "<script>alert(1)</script> just use `operator.itemgetter`",
]


@pytest.fixture
def chat_project(db):
    return ProjectFactory(slug="chat", prompt_format=Project.PromptFormat.CHAT)


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_chat_prompts_import_under_prompt_or_messages_deduplicated(chat_project, tmp_path):
    path = write(tmp_path, "p.jsonl", [
        {"prompt": [SYSTEM, ASK]},
        {"messages": [SYSTEM, ASK]},  # the same conversation under the other key
        {"prompt": "What does zip do?"},  # a plain string is one user turn
    ])
    result = prompts_import(project=chat_project, source=path)
    assert (result.created, result.duplicates) == (2, 1)
    first = Prompt.objects.get(messages=[SYSTEM, ASK])
    assert first.messages_html == ["<p>You are a terse Python helper.</p>\n",
                                   "<p>How do I sort a list of dicts by key?</p>\n"]
    assert json.loads(first.text) == [SYSTEM, ASK]  # text is the conversation's stable key
    assert Prompt.objects.filter(messages=[{"role": "user", "content": "What does zip do?"}]).exists()


def test_chat_comparisons_store_answer_content_and_rendered_html(chat_project, tmp_path):
    path = write(tmp_path, "c.jsonl", [{"prompt": [SYSTEM, ASK], "completions": ANSWERS}])
    assert comparisons_import(project=chat_project, source=path).created == 1
    task = ComparisonTask.objects.get(project=chat_project, status="open")
    completions = list(Completion.objects.filter(task=task).order_by("position"))
    assert completions[1].text == "Call **list.sort** with a key."
    assert completions[1].html == "<p>Call <strong>list.sort</strong> with a key.</p>\n"
    assert "<li>pass <code>key=</code></li>" in completions[0].html
    assert '<pre><code class="language-python">' in completions[0].html
    assert "<table>" in completions[2].html
    assert "&lt;script&gt;" in completions[3].html and "<script" not in completions[3].html


@pytest.mark.parametrize("row, expected", [
    ({"prompt": [SYSTEM, {"role": "bot", "content": "x"}]},
     "c.jsonl, line 2, field 'prompt[1].role': must be one of system, user, assistant"),
    ({"prompt": [ASK, {"role": "assistant", "content": "a"}]},
     "c.jsonl, line 2, field 'prompt[1].role': a conversation to answer must end with a user message"),
    ({"messages": [SYSTEM, {"role": "user", "content": "  "}]},
     "c.jsonl, line 2, field 'messages[1].content': is empty"),
    ({"prompt": [ASK, ASK]}, "c.jsonl, line 2, field 'prompt[1].role': two user messages in a row"),
    ({"prompt": [ASK, SYSTEM, ASK]}, "c.jsonl, line 2, field 'prompt[1].role': a system message may only come first"),
    ({"prompt": [{"role": "user", "contnet": "x"}]}, "c.jsonl, line 2, field 'prompt[0].contnet': unknown key"),
    ({"prompt": [{"role": "user", "content": "x" * 40_000}]},
     "c.jsonl, line 2, field 'prompt[0].content': 40000 characters; at most 32000"),
    ({"prompt": []}, "c.jsonl, line 2, field 'prompt': a conversation needs at least one user message"),
    ({"prompt": [ASK], "completions": ["a", {"role": "user", "content": "b"}, "c", "d"]},
     "c.jsonl, line 2, field 'completions[1].role': an answer must be an assistant message"),
    ({"prompt": [ASK], "completions": ["a", "b", {"role": "assistant", "content": " "}, "d"]},
     "c.jsonl, line 2, field 'completions[2]': empty"),
    ({"completions": ["a", "b", "c", "d"]}, "c.jsonl, line 2, field 'prompt': missing"),
])
def test_bad_conversation_names_file_line_and_field_and_writes_nothing(chat_project, tmp_path, row, expected):
    row = {"completions": ANSWERS, **row}
    path = write(tmp_path, "c.jsonl", [{"prompt": [ASK], "completions": ANSWERS}, row])
    with pytest.raises(ImportValidationError) as info:
        comparisons_import(project=chat_project, source=path)
    assert expected in str(info.value)
    assert len(info.value.errors) == 1  # one problem, one line: no echo from a later check
    assert not Prompt.objects.exists() and not ComparisonTask.objects.exists()


def test_bad_conversation_in_parquet_names_row_and_field_and_writes_nothing(chat_project, tmp_path):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    table = pa.table({"prompt": pa.array([[ASK], [SYSTEM, {"role": "assistant", "content": "hi"}]],
                                         type=pa.list_(message))})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(ImportValidationError) as info:
        prompts_import(project=chat_project, source=tmp_path / "p.parquet")
    assert "p.parquet, line 2, field 'prompt[1].role': the first turn after the system prompt is the user's" in str(info.value)
    assert not Prompt.objects.exists()
    good = pa.table({"prompt": pa.array([[SYSTEM, ASK]], type=pa.list_(message))})
    pq.write_table(good, tmp_path / "ok.parquet")
    assert prompts_import(project=chat_project, source=tmp_path / "ok.parquet").created == 1
    assert Prompt.objects.get().messages == [SYSTEM, ASK]


def test_a_text_project_refuses_conversations_by_name(project, tmp_path):
    path = write(tmp_path, "p.jsonl", [{"prompt": "fine"}, {"messages": [ASK]}])
    with pytest.raises(ImportValidationError) as info:
        prompts_import(project=project, source=path)
    assert "p.jsonl, line 2, field 'messages': a conversation, but this project takes text prompts" in str(info.value)
    assert not Prompt.objects.exists()


@pytest.fixture
def chat_task(chat_project, annotator, tmp_path):
    chat_project.annotators.add(annotator)
    comparisons_import(project=chat_project, source=write(tmp_path, "c.jsonl", [
        {"prompt": [SYSTEM, ASK, {"role": "assistant", "content": "Which key?"},
                    {"role": "user", "content": "The *name* key."}], "completions": ANSWERS}]))
    return chat_project


def test_labeling_page_shows_turns_and_rendered_answers(annotator_client, chat_task):
    page = annotator_client.get(f"/p/{chat_task.slug}/").content.decode()
    assert '<details class="turn system">' in page and "You are a terse Python helper." in page
    assert '<div class="turn user">' in page and '<div class="turn assistant">' in page
    assert "<p>The <em>name</em> key.</p>" in page
    assert page.count('class="card pick"') == 4 and 'data-action="raw"' in page
    assert "<li>pass <code>key=</code></li>" in page and "labeling/chat.js" in page
    # Raw text beside the Markdown, escaped; the script stays text in both.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; just use `operator.itemgetter`" in page
    assert "<script>alert" not in page


def test_the_simulated_annotator_reads_a_chat_task_as_its_conversation_and_raw_answers(annotator_client, chat_task):
    page = parse_labeling_page(annotator_client.get(f"/p/{chat_task.slug}/", HTTP_HX_REQUEST="true").content.decode())
    assert page.prompt == [SYSTEM, ASK, {"role": "assistant", "content": "Which key?"},
                           {"role": "user", "content": "The *name* key."}]
    stored = [a if isinstance(a, str) else a["content"] for a in ANSWERS]
    assert page.completions == stored and sorted(page.display_order) == [0, 1, 2, 3]


def test_text_labeling_page_has_no_chat_parts(annotator_client, project):
    from tests.factories import make_tasks

    make_tasks(project, 2)
    page = annotator_client.get(f"/p/{project.slug}/").content.decode()
    assert '<button type="submit" name="position"' in page and 'class="card" data-slot="1"' in page
    assert "chat.js" not in page and "pygments.css" not in page and 'data-action="raw"' not in page
    assert "<h2>Prompt</h2>" in page


def test_api_labeling_state_and_tasks_carry_the_conversation(client, chat_task, annotator, staff):
    client.force_login(annotator)
    state = client.get(f"/api/projects/{chat_task.slug}/tasks/next/").json()
    current = state["current"]
    assert [t["role"] for t in current["turns"]] == ["system", "user", "assistant", "user"]
    assert current["turns"][3]["html"] == "<p>The <em>name</em> key.</p>\n"
    assert {c["html"] for c in current["cards"]} >= {"<p>Call <strong>list.sort</strong> with a key.</p>\n"}
    client.force_login(staff)
    [task] = client.get(f"/api/projects/{chat_task.slug}/tasks/").json()["results"]
    assert task["messages"][0] == SYSTEM and task["completions"][1] == "Call **list.sort** with a key."


def test_training_inputs_are_conversations_for_chat_and_text_for_text(chat_task, project):
    from tests.factories import make_tasks

    make_tasks(project, 1)
    [chat_prompt] = selectors.prompts_for_policy_round(project=chat_task)
    assert chat_prompt[0] == SYSTEM and chat_prompt[-1] == {"role": "user", "content": "The *name* key."}
    assert selectors.prompts_for_policy_round(project=project) == ["prompt 0"]
    policy = chat_task.policy_versions.create(number=0, artifact_path="x")
    [sampled] = selectors.prompts_for_sampling(project=chat_task, policy_version_id=policy.pk, count=5, seed=1)
    assert sampled == chat_prompt


@pytest.mark.django_db(transaction=True)
def test_sampling_round_passes_conversations_and_stores_rendered_answers(monkeypatch, tmp_path):
    """The sampling round hands training/ the messages list (the chat contract) and stores each
    answer's content with its Markdown rendered; the sampler itself is stubbed here (the chat
    template's tokens are checked on the training side)."""
    from training import sampling
    from training.sampling import Sample

    from labeling.services import runs as run_services
    from labeling.services.execution import run_execute

    project = ProjectFactory(slug="chat-loop", prompt_format=Project.PromptFormat.CHAT, policy_source="chat-policy")
    prompts_import(project=project, source=write(tmp_path, "p.jsonl", [{"prompt": [SYSTEM, ASK]}]))
    seen = []

    def fake_sample(policy_path, prompts, cfg=None, progress=None):
        seen.append((policy_path, prompts))
        return [[Sample(text=f"Answer {i}:\n\n- `sorted()`", n_tokens=5, logprob=-1.0) for i in range(4)]
                for _ in prompts]

    monkeypatch.setattr(sampling, "sample_completions", fake_sample)
    run = run_services.run_start(project=project, kind="sampling", trigger="test", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"
    assert seen == [("chat-policy", [[SYSTEM, ASK]])]
    task = ComparisonTask.objects.get(project=project)
    assert task.prompt.messages == [SYSTEM, ASK]
    answer = task.completions.get(position=2)
    assert answer.text == "Answer 2:\n\n- `sorted()`"
    assert answer.html == "<p>Answer 2:</p>\n<ul>\n<li><code>sorted()</code></li>\n</ul>\n"


def test_demo_is_a_chat_project_when_the_chat_starter_and_its_prompts_are_there(db, settings, tmp_path, monkeypatch):
    from labeling.services import demo

    starter = tmp_path / "chat_starter"
    starter.mkdir()
    (starter / "config.json").write_text("{}")
    settings.QUARTET_CHAT_STARTER_POLICY = str(starter)
    monkeypatch.setattr(demo, "DEMO_CHAT_PROMPTS", write(tmp_path, "chat_demo_prompts.jsonl", [
        {"prompt": [SYSTEM, ASK]}, {"prompt": [{"role": "user", "content": "What is `itertools.chain`?"}]}]))
    accounts = demo.demo_setup(password="pw-demo")
    project = accounts.project
    assert project.prompt_format == "chat" and project.policy_source == str(starter)
    assert accounts.imported.created == 2 and project.prompts.filter(messages__isnull=False).count() == 2
    assert demo.demo_setup(password="pw-demo").imported.duplicates == 2  # idempotent


def test_demo_falls_back_to_text_without_the_chat_starter(db, settings, tmp_path):
    from labeling.services import demo

    settings.QUARTET_CHAT_STARTER_POLICY = str(tmp_path / "missing")
    project = demo.demo_setup(password="pw-demo").project
    assert project.prompt_format == "text" and not project.prompts.filter(messages__isnull=False).exists()
