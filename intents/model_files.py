"""Reading a model file of named NumPy arrays (``.npz``, never pickled): the message classifier
and the verification model ship one each in ``intents/models/``, and a site may point the
config at its own. One loader, so both refuse a bad file the same way, naming it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
Arrays = dict[str, npt.NDArray[Any]]


def load_model_file(
    path: Path | None,
    built_in: str,
    what: str,
    build: Callable[[Arrays, str], T],
    error: type[ValueError],
) -> T:
    """``build(arrays, source)`` over the file at ``path``, or over ``intents/models/<built_in>``
    when ``path`` is None. A file that cannot be read or built raises ``error`` naming it
    (``source``: the path, or "built-in <what>")."""
    source = str(path) if path is not None else f"built-in {what}"
    try:
        if path is None:
            ref = resources.files("intents").joinpath(f"models/{built_in}")
            with resources.as_file(ref) as p, np.load(p, allow_pickle=False) as z:
                return build(dict(z), source)
        with np.load(path, allow_pickle=False) as z:
            return build(dict(z), source)
    except error:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise error(f"{source}: {exc}") from exc
