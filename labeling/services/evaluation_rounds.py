"""Worker side of an evaluation round: sample both versions and score them (imports torch
through training/ when called). Only the execution layer imports this module, so no web process
reaches torch through it (checked by import-linter)."""

import random
from dataclasses import replace

from labeling.models import Evaluation
from labeling.selectors import evaluation as evaluation_selectors
from labeling.services.evaluation import ANSWERS_PER_VERSION, EvaluationDraw
from labeling.services.imports import NewTask
from labeling.win_rate import candidate_share


def evaluation_sample(*, evaluation: Evaluation, cfg, seed: int, progress=None, note=print,
                      fetch=lambda path: path) -> EvaluationDraw:
    """Worker side (imports torch): sample two answers from each version for the round's prompts
    (``cfg``: a training.config.SampleConfig), mix them in a random canonical order per prompt,
    and score them with the project's current reward model. ``fetch`` turns an artifact path or
    URL into a local folder (the worker's artifact store). Writes nothing."""
    from training.reward import load_reward_scorer  # worker only: training/ pulls in torch
    from training.sampling import sample_completions

    project = evaluation.project
    prompts = evaluation_selectors.prompts_for_evaluation(project=project, count=evaluation.num_prompts, seed=seed)
    cfg = replace(cfg, n_completions=ANSWERS_PER_VERSION)
    note(f"sampling {len(prompts)} evaluation prompts x2 from v{evaluation.candidate.number} "
         f"and v{evaluation.baseline.number}")

    def phase(offset: int):  # one progress bar over both versions' sampling
        if progress is None:
            return None
        return lambda step, total, metrics: progress(offset + step, 2 * total, metrics)

    ours = sample_completions(fetch(evaluation.candidate.artifact_path), prompts, cfg, progress=phase(0))
    theirs = sample_completions(fetch(evaluation.baseline.artifact_path), prompts, cfg, progress=phase(len(prompts)))
    rng = random.Random(seed)
    tasks, positions = [], []
    for prompt, mine, other in zip(prompts, ours, theirs, strict=True):
        order = rng.sample(range(4), 4)  # canonical slot of answer i (candidate first, then baseline)
        texts = [""] * 4
        for slot, text in zip(order, [s.text for s in mine] + [s.text for s in other], strict=True):
            texts[slot] = text
        tasks.append(NewTask(prompt=prompt, completions=texts, evaluation=True))
        positions.append(sorted(order[:ANSWERS_PER_VERSION]))
    predicted, reward_model = None, project.current_reward_model
    if reward_model is not None and tasks:
        raw = load_reward_scorer(fetch(reward_model.artifact_path)).raw(
            [t.prompt for t in tasks for _ in range(4)], [text for t in tasks for text in t.completions]
        )
        shares = [candidate_share(raw[4 * i : 4 * i + 4], positions[i]) for i in range(len(tasks))]
        predicted = sum(shares) / len(shares)
        note(f"reward v{reward_model.number} predicts a win rate of {predicted:.3f}")
    return EvaluationDraw(
        tasks=tasks, candidate_positions=positions, predicted_win_rate=predicted,
        reward_model_id=reward_model.pk if reward_model else None,
    )
