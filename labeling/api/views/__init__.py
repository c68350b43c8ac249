"""The JSON API's views, one module per resource family: auth (tokens), labeling (projects and
the task queue), data (tasks, prompts, choices, imports, exports), training (versions and runs),
evaluation and quality."""
