"""Progress reporting: the one place a progress bar is made.

A library function takes ``progress: Progress`` and opens ``progress.bar(total, desc)``:

* ``True``: a tqdm bar on stderr, but only when stderr is a terminal; piped or redirected
  (``make demo | tee log``) nothing is drawn, where each redraw would be a line of the log;
* ``False`` / ``None``: nothing;
* a callable: called with each increment (a GUI, a test, a log line every N items).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tqdm import tqdm

Progress = bool | Callable[[int], None] | None


class _Callback:
    """The bar interface over a caller's callable."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report

    def update(self, n: int = 1) -> None:
        self._report(n)

    def set_postfix(self, **values: object) -> None:
        pass  # a callback counts items; tqdm's extra text has nowhere to go

    def close(self) -> None:
        pass

    def __enter__(self) -> _Callback:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


Bar = tqdm | _Callback


def bar(
    total: int | None, desc: str, unit: str = "img", *, progress: Progress = True, **options: Any
) -> Bar:
    """A bar with ``update(n)``/``close()`` (and ``with``) for ``total`` items.

    ``options`` go to tqdm (``leave``, ``initial``, ``dynamic_ncols``); tqdm's ``disable=None``
    is what hides the bar when stderr is not a terminal.
    """
    if callable(progress):
        return _Callback(progress)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None if progress else True,
        **options,
    )
