"""${VAR} and ${VAR:-default} in the stack's files (the Procfile, the compose files rendered
for Swarm), read as Compose and a shell read them."""

import re

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(KeyError):
    """A ${VAR} without a default whose variable is not set; `name` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise UnsetVariable(name)

    return VARIABLE.sub(value, text)
