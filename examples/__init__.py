"""Other serving stacks, serving the same model as ours, for the harness to sweep (their README)."""
