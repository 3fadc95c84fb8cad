"""file_requests.py: what the file-transfer tests share about request ids (PROTOCOL.md, Request ids)."""

from __future__ import annotations

from dataclasses import replace


def sans_req(found: object) -> object:
    """An event (or a list of them) with its request id left out: what a test that is not about
    request ids compares (test_files_requests checks them)."""
    if isinstance(found, list):
        return [sans_req(one) for one in found]
    return replace(found, req=None) if hasattr(found, "req") else found  # type: ignore[type-var]
