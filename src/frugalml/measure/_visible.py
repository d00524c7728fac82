"""Which GPUs a job sees: ``CUDA_VISIBLE_DEVICES``, ``HIP_VISIBLE_DEVICES``, ``ROCR_VISIBLE_...``.

The variables share one syntax, which this module parses the way the CUDA runtime does:

* unset: every device is visible;
* ``""`` or ``"-1"``: no device is visible;
* a comma list of device indices (``"0,2"``) or UUIDs (``"GPU-8932f937,MIG-1b2c..."``);
  a UUID may be shortened to any prefix that names one device;
* the list ends at its first invalid entry (``"0,2,-1,1"`` is ``0,2``): a negative or
  out-of-range index, a UUID that names no device (or several), a device already listed.

Position ``i`` in the resolved list is the device the job calls ``cuda:i`` / ``hip:i``.
AMD's ROCr applies ``ROCR_VISIBLE_DEVICES`` first; ``HIP_VISIBLE_DEVICES`` (or, when unset,
``CUDA_VISIBLE_DEVICES``, which HIP also honours) then indexes into what ROCr left.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

__all__ = ["Token", "hip_visible", "parse_visible", "resolve_visible", "uuid_prefix_match"]

Token = int | str
"""One entry of a visible-devices list: a device index or a UUID (prefix)."""


def parse_visible(value: str | Sequence[Token] | None) -> list[Token] | None:
    """Parse a visible-devices value into indices and UUID strings.

    Args:
        value: the variable's text (``None`` when unset), or an already split sequence.

    Returns:
        ``None`` when every device is visible, else the entries up to the first one that
        is neither a non-negative index nor a UUID (``GPU-``/``MIG-`` prefix, or any other
        non-numeric text, which :func:`resolve_visible` matches against device UUIDs).

    Example:
        >>> parse_visible("0, 2,-1,3")
        [0, 2]
        >>> parse_visible(None) is None, parse_visible("")
        (True, [])
    """
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    tokens: list[Token] = []
    for item in items:
        if isinstance(item, int):
            if item < 0:
                break
            tokens.append(item)
            continue
        text = str(item).strip()
        if not text:
            break
        if text.lstrip("+-").isdigit():
            index = int(text)
            if index < 0:
                break
            tokens.append(index)
        else:
            tokens.append(text)
    return tokens


def resolve_visible(
    tokens: Sequence[Token] | None,
    count: int,
    resolve_uuid: Callable[[str], int | None],
) -> list[int]:
    """Map parsed entries to device indices (0 <= index < ``count``), in the job's order.

    Args:
        tokens: output of :func:`parse_visible`; ``None`` means all ``count`` devices.
        count: how many devices the layer below exposes.
        resolve_uuid: maps a UUID entry to an index below ``count``, or ``None`` if it
            names no device (or is ambiguous); the list then ends there.

    Example:
        >>> resolve_visible([2, 0, 7, 1], count=4, resolve_uuid=lambda u: None)
        [2, 0]
    """
    if tokens is None:
        return list(range(count))
    out: list[int] = []
    for token in tokens:
        index = token if isinstance(token, int) else resolve_uuid(token)
        if index is None or not 0 <= index < count or index in out:
            break
        out.append(index)
    return out


def uuid_prefix_match(token: str, uuids: Sequence[str]) -> int | None:
    """Index of the one UUID that ``token`` is a prefix of (case-insensitive), else ``None``.

    Dashes are ignored and a ``GPU-`` prefix is optional on either side, so
    ``"GPU-8932f937"``, ``"8932F937"`` and the full UUID all name the same device.

    Example:
        >>> uuid_prefix_match("GPU-89", ["GPU-8932f937-d72c", "GPU-1234abcd-0000"])
        0
    """
    want = _normal(token)
    if not want:
        return None
    hits = [i for i, uuid in enumerate(uuids) if _normal(uuid).startswith(want)]
    return hits[0] if len(hits) == 1 else None


def hip_visible(env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """The (``ROCR_VISIBLE_DEVICES``, HIP-level) values that select AMD GPUs.

    The HIP-level value is ``HIP_VISIBLE_DEVICES``, or ``CUDA_VISIBLE_DEVICES`` when that is
    unset (HIP honours both).

    Example:
        >>> hip_visible({"CUDA_VISIBLE_DEVICES": "1"})
        (None, '1')
    """
    env = os.environ if env is None else env
    hip = env.get("HIP_VISIBLE_DEVICES")
    if hip is None:
        hip = env.get("CUDA_VISIBLE_DEVICES")
    return env.get("ROCR_VISIBLE_DEVICES"), hip


def _normal(uuid: str) -> str:
    text = uuid.strip().lower()
    if text.startswith("gpu-"):
        text = text[4:]
    return text.replace("-", "")
