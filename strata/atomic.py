"""Atomic file replacement: a reader sees the old file or the new one, never half of one."""

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The temporary file (``.<name>.<pid>.tmp``) is removed if the block raises, and parallel
    writers never share one. A rename within one folder is atomic on POSIX file systems.

    Examples
    --------
    >>> with replacing("table.csv") as tmp:  # doctest: +SKIP
    ...     table.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
