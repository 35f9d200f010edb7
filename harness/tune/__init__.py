"""The tune: the loop of capacity searches at a scale (loop), what it tries next (space), and
what it found (file: reports/{target}/tune.json)."""
