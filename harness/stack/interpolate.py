"""${VAR} and ${VAR:-default} in the stack's files (the Procfile, the compose files rendered
for Swarm), read as Compose and a shell read them; `$$` is left as it is, for whoever reads the
text next (Compose reads it as a `$` the container's shell expands)."""

import re

VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(KeyError):
    """A ${VAR} without a default whose variable is not set; `name` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:  # `$$`, an escaped `$`
            return match.group(0)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise UnsetVariable(name)

    return VARIABLE.sub(value, text)
