"""What the runs say: figures (pure functions over runs), sentences (the conclusions), and
formatting (how figures read)."""
