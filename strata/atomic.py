"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

A writer killed with SIGKILL cannot remove its temporary file (nor the ``-journal`` and
``.lock`` files SQLite and ASE keep beside a database): the next write of the same file removes
those of writers that are gone (:func:`remove_leftovers`).
"""

import contextlib
import glob
import os
from pathlib import Path


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The temporary file (``.<name>.<pid>.tmp``) is removed if the block raises, and parallel
    writers never share one. A rename within one folder is atomic on POSIX file systems. The
    temporary files that killed writers of ``path`` left are removed first
    (:func:`remove_leftovers`).

    Examples
    --------
    >>> with replacing("table.csv") as tmp:  # doctest: +SKIP
    ...     table.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _temporary_files(path):
    """Files beside ``path`` named after a temporary file of :func:`replacing`, with their pid.

    ``.<name>.<pid>.tmp`` and whatever a writer keeps beside it (``.<name>.<pid>.tmp-journal``,
    ``.<name>.<pid>.tmp.lock``).
    """
    path = Path(path)
    prefix = f".{path.name}."
    for found in path.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
        pid, _, _ = found.name[len(prefix):].partition(".tmp")
        if pid.isdigit():
            yield found, int(pid)


def _gone(pid):
    """Whether no process ``pid`` runs here (this process counts as gone: it calls
    :func:`remove_leftovers` before it creates a temporary file of its own)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    return False


def remove_leftovers(path):
    """Remove the temporary files that killed writers of ``path`` left behind.

    Files of a writer that still runs are kept, so a writer of ``path`` may call this before
    :func:`replacing` even when another one runs.

    Parameters
    ----------
    path : path-like
        The file written with :func:`replacing` (e.g. ``results/references.db``).

    Returns
    -------
    list of pathlib.Path
        The files removed, sorted.
    """
    removed = sorted(found for found, pid in _temporary_files(path) if _gone(pid))
    for found in removed:
        found.unlink(missing_ok=True)
    return removed
