"""The pages a person opens: reports/index.html (index), from templates/ (render)."""
