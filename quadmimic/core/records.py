"""Typed results that are also the JSON documents the commands write.

A command's function returns a frozen dataclass (``EvalResult``, ``DeployResult``,
``AdaptResult``, ``TransferRow``); the command prints it and, where asked, writes
:meth:`JsonRecord.to_json`. Read by key (``result["fall_rate"]``), a result reads that same
JSON document, so code that reads a written file and code that reads a fresh result are the
same code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any


class JsonRecord:
    """Mixin of a frozen dataclass: its JSON document, and read-only access by key to it."""

    def to_json(self) -> dict[str, Any]:
        """The JSON document (fields in order, tuples as lists); subclasses may reshape it."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` in the JSON document, else ``default``."""
        return self.to_json().get(key, default)

    def keys(self) -> Any:
        """The keys of the JSON document."""
        return self.to_json().keys()


__all__ = ["JsonRecord"]
