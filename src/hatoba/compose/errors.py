"""What is wrong with a compose project: every problem at once, each where it was found."""

from __future__ import annotations

from dataclasses import dataclass

# where a value was written: (file, 1-based line); ("", 0) when nobody wrote it
Where = tuple[str, int]
NOWHERE: Where = ("", 0)
# a place in the tree: ("services", "web", "ports", 1)
Path = tuple[str | int, ...]


def render_path(path: Path) -> str:
    """("services", "web", "ports", 1) → `services.web.ports[1]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.message}"


class ComposeError(Exception):
    """The project cannot be used as written; `problems` says every reason, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class Problems:
    """Collects problems while a stage keeps going, so that all of them are reported."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, where: Where, path: Path, message: str) -> None:
        self.found.append(Problem(where[0], where[1], render_path(path), message))

    def check(self) -> None:
        if self.found:
            raise ComposeError(self.found)
