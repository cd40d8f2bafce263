"""Exceptions raised by ludwig_track."""

from __future__ import annotations


class LudwigTrackError(Exception):
    """Base class of every error that ludwig_track raises on purpose."""


class InputError(LudwigTrackError, ValueError):
    """Invalid user input: a config, dataset CSV, image zip, search space or option.

    ``problems`` lists every problem found, each a full sentence naming the file,
    the row, key or value, and the fix. The CLI prints them and exits with status 2.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"{len(self.problems)} problems found in the input:\n{listed}"
