"""What a tune tries (space) and what it found (file: reports/{target}/tune.json), which the
analysis reads too; the tune itself, a loop of capacity searches, is harness/tuning.py, outside
this package so that the analysis can import it without importing the search."""
