"""What a task starts from: its recipe (fields, prompts, checks, shot selection), the
schema language recipes and config files are checked with, the prompts built from a
recipe, the checks an item must pass (validation), the seeds and the splits of a
dataset. It imports only the workspace."""
