"""Writing files so that readers never see half of one."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename.

    The file is left readable by others (0644), as a result or report is meant to be shared.
    """
    import tempfile  # here: it costs milliseconds to import, on the tracker's start path

    out = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=out.parent if str(out.parent) else ".", prefix=f".{out.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out
