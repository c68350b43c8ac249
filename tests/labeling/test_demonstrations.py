"""Demonstrations on the web side: writing a better answer, demonstration tasks, import, SFT
export rows, choosing ρ. (The supervised round itself: tests/labeling/test_sft_round.py.)"""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import (
    Assignment,
    Choice,
    Completion,
    Demonstration,
    DemonstrationLease,
    DemonstrationTask,
    PolicyVersion,
    Prompt,
    TrainingRun,
)
from labeling.services import ImportValidationError, LabelingError, assignments_lease
from labeling.services import runs as run_services
from labeling.services.demonstration_imports import demonstrations_import
from labeling.services.demonstrations import (
    ReferenceNotAllowed,
    demonstration_lease_next,
    demonstration_task_answer,
    demonstration_task_skip,
    demonstration_hash,
    demonstration_write,
    reference_policy_set,
)
from labeling.services.exports import ExportError
from labeling.services.sft_exports import sft_export
from labeling.selectors.demonstrations import demonstration_due, sft_training_data
from tests.factories import UserFactory, make_tasks

pytestmark = pytest.mark.django_db


def _lease(project, user):
    return assignments_lease(project=project, annotator=user)[0]


# --- write a better answer beside a comparison ---


def test_writing_from_a_pick_stores_the_demonstration_and_the_choice(project, annotator):
    make_tasks(project, 2)
    lease = _lease(project, annotator)
    demo = demonstration_write(
        project=project, annotator=annotator, assignment_id=lease.pk,
        text="prompt 0 completion 2, but better\n", position=2, decision_ms=1500, time_ms=9000,
    )
    choice = Choice.objects.get(annotator=annotator)
    assert (choice.kind, choice.completion.position, choice.decision_ms) == ("best", 2, 1500)
    assert demo.text == "prompt 0 completion 2, but better"
    assert demo.completion == choice.completion
    assert demo.prompt == lease.task.prompt and demo.comparison_task == lease.task
    assert (demo.annotator, demo.time_ms, demo.source) == (annotator, 9000, "written")
    assert Assignment.objects.get(pk=lease.pk).state == "done"


def test_writing_without_a_pick_leaves_the_task_undecided(project, annotator):
    make_tasks(project, 1)
    lease = _lease(project, annotator)
    demo = demonstration_write(project=project, annotator=annotator, assignment_id=lease.pk, text="mine")
    assert demo.completion is None and not Choice.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).state == "leased"


@pytest.mark.parametrize("case", ["empty", "foreign", "decided"])
def test_a_refused_demonstration_writes_nothing(project, annotator, case):
    make_tasks(project, 2)
    lease = _lease(project, annotator)
    kwargs = dict(project=project, annotator=annotator, assignment_id=lease.pk, text="answer", position=1)
    if case == "empty":
        kwargs["text"] = "  \n "
    elif case == "foreign":
        other = UserFactory()
        project.annotators.add(other)
        kwargs["annotator"] = other
    else:
        first = demonstration_write(**kwargs)
        assert demonstration_write(**kwargs) == first  # the same answer again: acknowledged
        kwargs["text"] = "a different answer"
    before = (Demonstration.objects.count(), Choice.objects.count())
    with pytest.raises(LabelingError):
        demonstration_write(**kwargs)
    assert (Demonstration.objects.count(), Choice.objects.count()) == before


def test_editor_htmx_save_returns_the_next_task_and_errors_are_422(project, annotator, annotator_client):
    make_tasks(project, 3)
    lease = _lease(project, annotator)
    url = reverse("labeling:demonstrate", args=[project.slug])
    bad = annotator_client.post(url, {"assignment": lease.pk, "demo_text": " ", "demo_position": 1},
                                HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and "empty" in bad.content.decode()
    ok = annotator_client.post(url, {"assignment": lease.pk, "demo_text": "better", "demo_position": 1,
                                     "decision_ms": 1200, "demo_ms": 800}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200 and 'id="labeler"' in ok.content.decode()
    assert f'data-assignment="{lease.pk}"' not in ok.content.decode().split("<template")[0]
    demo = Demonstration.objects.get()
    assert (demo.text, demo.completion.position, demo.time_ms) == ("better", 1, 800)
    assert Choice.objects.get().completion.position == 1


def test_editor_works_as_a_plain_form(project, annotator, annotator_client):
    make_tasks(project, 2)
    lease = _lease(project, annotator)
    url = reverse("labeling:demonstrate", args=[project.slug])
    page = annotator_client.get(url, {"assignment": lease.pk, "start": 3})
    text = Completion.objects.get(task=lease.task, position=3).text
    assert page.status_code == 200 and f">{text}</textarea>" in page.content.decode()
    refused = annotator_client.post(url, {"assignment": lease.pk, "demo_text": "", "demo_position": 3})
    assert refused.status_code == 422 and "empty" in refused.content.decode()
    done = annotator_client.post(url, {"assignment": lease.pk, "demo_text": text + " and more", "demo_position": 3})
    assert done.status_code == 302 and done.url == reverse("labeling:label", args=[project.slug])
    assert Demonstration.objects.get().text == text + " and more"
    assert Choice.objects.get().completion.position == 3


def test_the_labeling_page_offers_the_editor(project, annotator, annotator_client):
    make_tasks(project, 2)
    body = annotator_client.get(reverse("labeling:label", args=[project.slug])).content.decode()
    assert 'data-action="write"' in body and "dialog" in body and "demonstrate.js" in body


# --- demonstration tasks ---


def test_demonstration_tasks_follow_the_queue_rules(project):
    project.annotations_per_task = 2
    project.lease_seconds = 60
    project.save()
    Prompt.objects.create(project=project, text="only prompt", text_hash="h1")
    a, b, c = (UserFactory() for _ in range(3))
    lease_a = demonstration_lease_next(project=project, annotator=a)
    assert lease_a is not None and lease_a.task.prompt.text == "only prompt"
    assert demonstration_lease_next(project=project, annotator=a).pk == lease_a.pk  # held, not a new one
    lease_b = demonstration_lease_next(project=project, annotator=b)
    assert lease_b.task_id == lease_a.task_id  # overlap 2
    assert demonstration_lease_next(project=project, annotator=c) is None  # both slots taken
    demonstration_task_skip(project=project, annotator=b, lease_id=lease_b.pk)
    assert demonstration_lease_next(project=project, annotator=b) is None  # never twice
    lease_c = demonstration_lease_next(project=project, annotator=c)  # the freed slot
    demonstration_task_answer(project=project, annotator=a, lease_id=lease_a.pk, text="answer a")
    assert DemonstrationTask.objects.get().status == "open"
    demonstration_task_answer(project=project, annotator=c, lease_id=lease_c.pk, text="answer c", time_ms=5)
    assert DemonstrationTask.objects.get().status == "complete"
    assert sorted(Demonstration.objects.values_list("text", flat=True)) == ["answer a", "answer c"]
    with pytest.raises(LabelingError):
        demonstration_task_answer(project=project, annotator=a, lease_id=lease_a.pk, text="again")


def test_an_expired_demonstration_lease_goes_to_others(project):
    project.lease_seconds = 60
    project.save()
    Prompt.objects.create(project=project, text="p", text_hash="h")
    a, b = UserFactory(), UserFactory()
    lease = demonstration_lease_next(project=project, annotator=a)
    DemonstrationLease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = demonstration_lease_next(project=project, annotator=b)
    assert taken is not None and taken.task_id == lease.task_id
    assert demonstration_lease_next(project=project, annotator=a) is None  # dropped, slot is b's
    assert DemonstrationLease.objects.get(pk=lease.pk).state == "skipped"


def test_share_of_hand_outs_and_demonstrations_only(project, annotator, annotator_client):
    make_tasks(project, 4)
    label_url = reverse("labeling:label", args=[project.slug])
    write_url = reverse("labeling:write", args=[project.slug])
    assert not demonstration_due(project=project, annotator=annotator)  # share 0
    project.demonstration_share = 50
    project.save()
    assert demonstration_due(project=project, annotator=annotator)
    response = annotator_client.get(label_url)
    assert response.status_code == 302 and response.url == write_url
    page = annotator_client.get(write_url)
    lease = DemonstrationLease.objects.get(annotator=annotator)
    assert page.status_code == 200 and lease.task.prompt.text in page.content.decode()
    saved = annotator_client.post(write_url, {"lease": lease.pk, "action": "answer", "demo_text": "written"})
    assert saved.status_code == 302 and saved.url == label_url  # 1 written, 0 decided: a choice next
    assert not demonstration_due(project=project, annotator=annotator)
    assignment = _lease(project, annotator)
    annotator_client.post(reverse("labeling:decide", args=[project.slug]),
                          {"assignment": assignment.pk, "position": 0})
    assert demonstration_due(project=project, annotator=annotator)  # 1 and 1: an answer next
    project.demonstration_share = 100
    project.save()
    lease = demonstration_lease_next(project=project, annotator=annotator)
    refused = annotator_client.post(write_url, {"lease": lease.pk, "action": "answer", "demo_text": ""})
    assert refused.status_code == 422 and "empty" in refused.content.decode()
    saved = annotator_client.post(write_url, {"lease": lease.pk, "action": "answer", "demo_text": "two"})
    assert saved.url == write_url  # demonstrations only
    assert Demonstration.objects.filter(annotator=annotator).count() == 2


# --- import ---


def test_import_demonstrations_in_every_shape(project, tmp_path):
    path = tmp_path / "demos.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}]},
        {"prompt": "Count", "completion": "one two three"},
        {"prompt": [{"role": "user", "content": "Name a colour"}],
         "completion": [{"role": "assistant", "content": "Blue"}]},
        {"prompt": "Count", "answer": "one two three"},  # duplicate
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = demonstrations_import(project=project, source=path)
    assert (result.created, result.duplicates, result.prompts_created) == (3, 1, 3)
    assert sorted(Demonstration.objects.values_list("prompt__text", "text")) == [
        ("Count", "one two three"), ("Name a colour", "Blue"), ("Say hi", "Hi!")]
    assert set(Demonstration.objects.values_list("source", flat=True)) == {"imported"}
    again = demonstrations_import(project=project, source=path)
    assert (again.created, again.duplicates) == (0, 4)


def test_import_demonstrations_from_parquet(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "a", "answer": "b"}, {"prompt": "c", "answer": "d"}]), path)
    assert demonstrations_import(project=project, source=path).created == 2


def test_import_errors_name_file_line_and_field_and_write_nothing(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([
        json.dumps({"prompt": "ok", "answer": "fine"}),
        json.dumps({"prompt": "no answer"}),
        json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]}),
        json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"},
                                 {"role": "assistant", "content": "a"}]}),
        json.dumps({"prompt": "p", "answer": "   "}),
        "{not json",
    ]) + "\n")
    with pytest.raises(ImportValidationError) as info:
        demonstrations_import(project=project, source=path)
    errors = info.value.errors
    assert "bad.jsonl, line 2, field 'answer': missing (or 'completion')" in errors
    assert "bad.jsonl, line 3, field 'messages[1].role': the last message must be the assistant's answer" in errors
    assert any(e.startswith("bad.jsonl, line 4, field 'messages': a conversation of 2 turns") for e in errors)
    assert "bad.jsonl, line 5, field 'answer': empty" in errors
    assert any(e.startswith("bad.jsonl, line 6: not valid JSON") for e in errors)
    assert not Demonstration.objects.exists() and not Prompt.objects.exists()


def test_staff_import_page_shows_errors(project, staff, client, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(staff)
    url = reverse("labeling:demonstrations_import", args=[project.slug])
    bad = client.post(url, {"file": SimpleUploadedFile("d.jsonl", b'{"prompt": "p"}\n')})
    assert bad.status_code == 400 and "d.jsonl, line 1, field &#x27;answer&#x27;: missing" in bad.content.decode()
    ok = client.post(url, {"file": SimpleUploadedFile("d.jsonl", b'{"prompt": "p", "answer": "a"}\n')})
    assert ok.status_code == 200 and Demonstration.objects.count() == 1


# --- SFT data: training split, exports ---


def _demos(project, n):
    for i in range(n):
        prompt = Prompt.objects.create(project=project, text=f"prompt {i}", text_hash=f"h{i}")
        Demonstration.objects.create(project=project, prompt=prompt, text=f"answer {i}",
                                     content_hash=demonstration_hash(f"h{i}", f"answer {i}"), source="imported")


def test_sft_training_data_holds_out_the_same_demonstrations_every_time(project):
    _demos(project, 40)
    data = sft_training_data(project=project, heldout_fraction=0.25)
    assert len(data.train) + len(data.heldout) == 40 and 0 < len(data.heldout) < 40
    assert sorted(d["answer"] for d in data.train + data.heldout) == sorted(f"answer {i}" for i in range(40))
    again = sft_training_data(project=project, heldout_fraction=0.25)
    assert again.heldout_ids == data.heldout_ids and not set(data.heldout_ids) & set(data.train_ids)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ""])
@pytest.mark.parametrize("style", ["messages", "prompt_completion"])
def test_sft_export_in_every_format(project, tmp_path, style, suffix):
    import datasets

    _demos(project, 3)
    out = tmp_path / f"sft{suffix}"
    result = sft_export(project=project, style=style, out=out)
    assert result.rows == 3 and result.manifest["format"] == f"sft-{style}"
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    elif suffix == ".parquet":
        rows = datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "c")).to_list()
    else:
        rows = datasets.load_from_disk(str(out)).to_list()
    if style == "messages":
        assert rows[0] == {"messages": [{"role": "user", "content": "prompt 0"},
                                        {"role": "assistant", "content": "answer 0"}]}
    else:
        assert rows[0] == {"prompt": "prompt 0", "completion": "answer 0"}
    with pytest.raises(ExportError):
        sft_export(project=project, style="pairs", out=tmp_path / "x.jsonl")


# --- SFT rounds and ρ, without a model ---


def test_sft_round_needs_demonstrations_and_starts_from_a_chosen_version(project, monkeypatch):
    monkeypatch.setattr(run_services, "_enqueue", lambda run_id: None)
    project.policy_source = "/models/rho"
    project.save()
    with pytest.raises(run_services.RunNotPossible):
        run_services.run_start(project=project, kind="sft", trigger="test")
    _demos(project, 2)
    run = run_services.run_start(project=project, kind="sft", trigger="test")
    assert run.kind == "sft" and run.base_policy.number == 0
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    v1 = PolicyVersion.objects.create(project=project, number=1, artifact_path="/x", kind="policy")
    run = run_services.run_start(project=project, kind="sft", trigger="test", base_policy=v1)
    assert run.base_policy == v1


def test_only_an_sft_version_of_the_project_becomes_rho(project):
    project.policy_source = "/models/rho"
    project.save()
    assert run_services.policy_reference(project=project).number == 0
    plain = PolicyVersion.objects.create(project=project, number=1, artifact_path="/p")
    sft = PolicyVersion.objects.create(project=project, number=2, artifact_path="/s", kind="sft")
    with pytest.raises(ReferenceNotAllowed):
        reference_policy_set(project=project, version=plain)
    reference_policy_set(project=project, version=sft)
    project.refresh_from_db()
    assert project.reference_policy == sft and project.current_policy == sft
    assert run_services.policy_reference(project=project) == sft
    reference_policy_set(project=project, version=None)
    project.refresh_from_db()
    assert run_services.policy_reference(project=project).number == 0


def test_dashboard_shows_demonstrations_and_sft_controls(project, staff, client):
    client.force_login(staff)
    _demos(project, 5)
    project.policy_source = "/models/rho"
    project.save()
    sft = PolicyVersion.objects.create(project=project, number=1, artifact_path="/s", kind="sft",
                                       metrics={"heldout_loss_before": 3.5, "heldout_loss_after": 2.25})
    body = client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode()
    assert "<strong data-demonstrations-count>5</strong>" in body
    assert 'data-action="sft"' in body and "3.500 → 2.250" in body
    response = client.post(reverse("labeling:reference_set", args=[project.slug]), {"version": sft.pk})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.reference_policy == sft


def test_chat_project_demonstrations_are_conversations_in_and_out(project, tmp_path):
    import datasets

    project.prompt_format = "chat"
    project.save()
    convo = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say **hi**"}]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join([
        json.dumps({"messages": convo + [{"role": "assistant", "content": "Hi!"}]}),
        json.dumps({"prompt": "Plain question", "completion": [{"role": "assistant", "content": "Plain answer"}]}),
    ]) + "\n")
    assert demonstrations_import(project=project, source=path).created == 2
    prompt = Prompt.objects.get(demonstrations__text="Hi!")
    assert prompt.messages == convo and "<strong>hi</strong>" in prompt.messages_html[1]
    data = sft_training_data(project=project, heldout_fraction=0.0)
    assert {"prompt": convo, "answer": "Hi!"} in data.train
    out = tmp_path / "chat.parquet"
    sft_export(project=project, style="messages", out=out)
    rows = datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "c")).to_list()
    assert rows[0]["messages"] == convo + [{"role": "assistant", "content": "Hi!"}]
    out = tmp_path / "chat-pc.jsonl"
    sft_export(project=project, style="prompt_completion", out=out)
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {"prompt": convo, "completion": [{"role": "assistant", "content": "Hi!"}]}
