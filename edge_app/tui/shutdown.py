"""Workers that end quietly when the app shuts down under them.

Textual removes the screens' widgets and then empties the screen stack before it cancels the app's
workers, so a worker that wakes from an await in between (a stream event, an API answer) finds no
widgets (`VitalsApp.main` raises NoMatches once the stack is empty). This decorator, placed under
`@work`, turns a NoMatches after shutdown began into a quiet return. A NoMatches while the app runs is a
real bug and is raised as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from textual.app import App
from textual.css.query import NoMatches

P = ParamSpec("P")
R = TypeVar("R")


def until_shutdown(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | None]]:
    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return await fn(*args, **kwargs)
        except NoMatches:
            app: App[Any] = args[0]  # type: ignore[assignment]
            if app.is_running:
                raise
            return None

    return run
