"""What a tune tries (space) and what it found (file: reports/{target}/tune.json); the tune itself,
a loop of capacity searches, is harness/tuning.py."""
