"""The upload page, so a person can try the model in a browser."""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image classifier</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }}
.message {{ padding: .75rem; border-radius: .4rem; background: #fdecea; }}
.result {{ padding: .75rem; border-radius: .4rem; background: #e8f5e9; font-size: 1.2rem; }}
</style>
</head>
<body>
<h1>Image classifier</h1>
{notice}
<form method="post" action="/" enctype="multipart/form-data">
  <p><input type="file" name="file" accept="image/*" required></p>
  <p><button type="submit">Classify</button></p>
</form>
<p>API: <code>POST /predict</code> with multipart field <code>file</code>.</p>
</body>
</html>
"""


def render_page(*, message: str | None = None, label: str | None = None, score: float = 0.0) -> str:
    if label is not None:
        notice = (
            f'<p class="result" id="result">Prediction: <strong>{escape(label)}</strong> '
            f"({score:.1%})</p>"
        )
    elif message:
        notice = f'<p class="message" id="message">{escape(message)}</p>'
    else:
        notice = ""
    return PAGE.format(notice=notice)
