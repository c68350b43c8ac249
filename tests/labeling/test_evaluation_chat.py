"""Evaluation rounds of a chat project sample from conversations, as its sampling rounds do."""

import io
import json

import pytest

from labeling.models import Project
from labeling.selectors.evaluation import prompts_for_evaluation
from labeling.services import prompts_import
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _jsonl(rows) -> io.BytesIO:
    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    data.name = "prompts.jsonl"
    return data


def test_a_chat_projects_evaluation_prompts_are_its_conversations():
    project = ProjectFactory(slug="chat-eval", prompt_format=Project.PromptFormat.CHAT)
    held = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"What is `mod{i}`?"}]
            for i in range(3)]
    prompts_import(project=project, source=_jsonl(
        [{"prompt": m, "split": "evaluation"} for m in held] + [{"prompt": [{"role": "user", "content": "train"}]}]
    ))
    drawn = prompts_for_evaluation(project=project, count=5, seed=0)
    # The messages themselves (what the chat template renders), never the prompt's JSON key.
    assert sorted(drawn, key=json.dumps) == sorted(held, key=json.dumps)
    assert prompts_for_evaluation(project=project, count=2, seed=0) == drawn[:2]


def test_a_text_projects_evaluation_prompts_stay_strings(project):
    prompts_import(project=project, source=_jsonl([{"prompt": "held out", "split": "evaluation"}, {"prompt": "x"}]))
    assert prompts_for_evaluation(project=project, count=5, seed=0) == ["held out"]
