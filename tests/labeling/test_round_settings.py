"""Round settings (a project's JSON overrides of training.config) are checked when saved in the
admin and again when a round starts, by one torch-free function, training.config's
validate_round_settings."""

import json
import subprocess
import sys

import pytest
from django.urls import reverse

from labeling.models import Project, TrainingRun
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_POLICY_CONFIG, DEMO_REWARD_CONFIG
from tests.api.conftest import token_client
from tests.factories import ProjectFactory
from training.config import ROUND_SETTINGS, SettingsError, validate_round_settings


def _errors(kind, data) -> dict:
    with pytest.raises(SettingsError) as caught:
        validate_round_settings(kind, data)
    return caught.value.errors


# --- the validator ---------------------------------------------------------------------------


def test_a_misspelled_setting_is_named_with_the_closest_real_one():
    assert _errors("policy", {"stpes": 4}) == {
        "stpes": ["unknown PolicyConfig setting; did you mean 'steps'?"]
    }
    far = _errors("sft", {"colour": 1})["colour"][0]
    assert far.startswith("unknown SupervisedConfig setting (known: lr, epochs, max_steps")


def test_types_are_strict_where_json_would_mislead():
    errors = _errors("policy", {"steps": True, "lr": "1e-5", "use_lora": 1, "batch_size": 8.0})
    assert errors == {
        "steps": ["must be a whole number, got true (true/false)"],  # Python counts bools as ints
        "lr": ['must be a number, got the text "1e-5"'],
        "use_lora": ["must be true or false, got 1"],
        "batch_size": ["must be a whole number, got 8.0"],
    }
    # A whole number is a fine float, and null is allowed only where the field allows None.
    assert validate_round_settings("policy", {"lr": 1, "kl_target": None, "stop": None}) == {
        "lr": 1, "kl_target": None, "stop": None,
    }
    assert _errors("policy", {"beta": None}) == {"beta": ["must be a number, not null"]}


def test_bounds_a_round_would_fail_on_later():
    assert _errors("policy", {"steps": 0, "beta": -0.1, "temperature": 0, "kl_target": -1}) == {
        "steps": ["must be at least 1, got 0"],
        "beta": ["must be at least 0, got -0.1"],
        "temperature": ["must be greater than 0, got 0"],
        "kl_target": ["must be greater than 0, got -1"],
    }
    assert _errors("policy", {"batch_size": 10}) == {
        "batch_size": ["must be a multiple of num_generations (4), got 10"]
    }
    assert _errors("policy", {"generation_backend": "vlm"})["generation_backend"] == [
        "must be one of 'auto', 'vllm', 'transformers', got the text \"vlm\""
    ]
    assert _errors("sampling", {"n_completions": 3, "top_p": 1.5}) == {
        "n_completions": ["must be 4: every task shows four completions, got 3"],
        "top_p": ["must be greater than 0 and at most 1, got 1.5"],
    }
    assert _errors("sft", {"heldout_fraction": 1.0, "seed": -1}) == {
        "heldout_fraction": ["must be at least 0 and below 1, got 1.0"],
        "seed": ["must be at least 0 and below 4294967296, got -1"],
    }


def test_nested_sample_settings_of_a_reward_round_are_checked_with_their_path():
    assert _errors("reward", {"sample": {"temprature": 0.5}, "norm_prompts": []}) == {
        "sample.temprature": ["unknown SampleConfig setting; did you mean 'temperature'?"],
        "norm_prompts": ["must list at least one prompt (or be null for the choices' prompts)"],
    }
    assert _errors("reward", {"sample": [1]}) == {
        "sample": ["must be a JSON object of SampleConfig settings, got a list"]
    }


def test_settings_must_be_an_object_and_null_means_no_overrides():
    assert _errors("sft", ["lr"]) == {"": ["must be a JSON object of SupervisedConfig settings, got a list"]}
    assert str(SettingsError({"": ["x"], "lr": ["y", "z"]})) == "x; lr: y; lr: z"
    assert validate_round_settings("sampling", None) == {}
    with pytest.raises(ValueError, match="unknown kind of round 'polcy'"):
        validate_round_settings("polcy", {})


def test_every_kind_of_run_has_settings_and_the_stored_ones_in_the_repo_pass():
    assert set(ROUND_SETTINGS) == set(TrainingRun.Kind.values)
    assert validate_round_settings("policy", DEMO_POLICY_CONFIG) == DEMO_POLICY_CONFIG
    assert validate_round_settings("reward", DEMO_REWARD_CONFIG) == DEMO_REWARD_CONFIG
    # The chat defaults a chat project's rounds record on top of its own settings.
    chat = Project(prompt_format=Project.PromptFormat.CHAT, sample_config={"temperature": 0.9})
    for kind in TrainingRun.Kind.values:
        config = run_services.round_config(project=chat, kind=kind)
        assert validate_round_settings(kind, config) == config


def test_the_validator_imports_no_torch():
    code = (
        "import sys, training.config; "
        "print([m for m in ('torch', 'transformers', 'trl', 'django') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# --- where it is called ------------------------------------------------------------------------

FORM_FIELDS = (
    "name", "slug", "instructions", "annotations_per_task", "lease_seconds", "overlap_share",
    "gold_rate", "gold_min_accuracy", "gold_min_answers", "queue_order", "loop_every_choices",
    "loop_sample_prompts", "queue_low_water", "prompt_format", "demonstration_share",
    "evaluation_split_size", "evaluation_rate", "evaluation_prompts_per_round",
)


def _admin_post(admin_client, project, **settings):
    form = {f: getattr(project, f) for f in FORM_FIELDS}
    form.update(policy_source="", loop_paused_reason="", reward_config="{}", policy_config="{}",
                sample_config="{}", sft_config="{}")
    form.update({k: json.dumps(v) for k, v in settings.items()})
    return admin_client.post(reverse("admin:labeling_project_change", args=[project.pk]), form)


@pytest.mark.django_db
def test_admin_refuses_bad_settings_with_an_error_on_the_field(admin_client):
    project = ProjectFactory(slug="settings")
    response = _admin_post(
        admin_client, project, policy_config={"stpes": 4}, reward_config={"batch_size": "8"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["policy_config"] == ["stpes: unknown PolicyConfig setting; did you mean 'steps'?"]
    assert errors["reward_config"] == ['batch_size: must be a whole number, got the text "8"']
    assert set(errors) == {"policy_config", "reward_config"}
    project.refresh_from_db()
    assert (project.policy_config, project.reward_config) == ({}, {})


@pytest.mark.django_db
def test_admin_saves_good_settings(admin_client):
    project = ProjectFactory(slug="settings")
    response = _admin_post(admin_client, project, policy_config={"steps": 4, "lr": 1},
                           sft_config={"max_steps": 8})
    assert response.status_code == 302, response.content.decode()[-2000:]
    project.refresh_from_db()
    assert (project.policy_config, project.sft_config) == ({"steps": 4, "lr": 1}, {"max_steps": 8})


@pytest.fixture
def stale_project(db):
    """Settings written around the admin (shell, an older version): the check at round start."""
    return ProjectFactory(slug="stale", policy_source="/models/rho",
                          sample_config={"temprature": 0.9, "max_new_tokens": "24"})


def test_a_round_with_bad_stored_settings_is_refused_before_it_is_queued(stale_project):
    with pytest.raises(run_services.RunNotPossible) as caught:
        run_services.run_start(project=stale_project, kind="sampling", trigger="test")
    message = str(caught.value)
    assert message.startswith("The project's sample_config is not valid: ")
    assert "temprature: unknown SampleConfig setting; did you mean 'temperature'?" in message
    assert 'max_new_tokens: must be a whole number, got the text "24"' in message
    assert not TrainingRun.objects.filter(project=stale_project).exists()


def test_the_api_answers_400_naming_the_setting(stale_project, staff):
    response = token_client(staff).post(
        f"/api/projects/{stale_project.slug}/runs/", {"kind": "sampling"}, format="json"
    )
    assert response.status_code == 400
    assert "sample_config" in response.json()["detail"]
    assert "did you mean 'temperature'?" in response.json()["detail"]
    assert not TrainingRun.objects.filter(project=stale_project).exists()
