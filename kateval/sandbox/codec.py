"""Turning the sandbox's JSON replies back into Python values, in the trusted parent.

Only plain data can come out (forkserver.encode's tagged JSON); anything malformed raises ValueError, never
runs code. The inverse of forkserver.encode.
"""
from __future__ import annotations

from typing import Any

_CONTAINERS = {"T": tuple, "S": set, "Z": frozenset}
MAX_DEPTH = 120


def decode(data: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deep")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(item, depth + 1) for item in data]
    if kind is not dict or len(data) != 1:
        raise ValueError(f"malformed value {str(data)[:80]}")
    (tag, body), = data.items()
    if tag == "I" and type(body) is str:
        return int(body, 16)
    if tag == "F" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "B" and type(body) is str:
        return bytes.fromhex(body)
    if tag == "C" and type(body) is list and len(body) == 2:
        return complex(_number(decode(body[0], depth + 1)), _number(decode(body[1], depth + 1)))
    if tag == "D" and type(body) is list:
        return _decode_dict(body, depth)
    if tag in _CONTAINERS and type(body) is list:
        try:
            return _CONTAINERS[tag](decode(item, depth + 1) for item in body)
        except TypeError as exc:   # an unhashable set member
            raise ValueError(str(exc)) from exc
    raise ValueError(f"malformed value tag {tag!r}")


def _number(value: Any) -> float:
    if type(value) is not float:
        raise ValueError("complex parts must be floats")
    return value


def _decode_dict(pairs: list, depth: int) -> dict:
    result = {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2:
            raise ValueError("malformed dict entry")
        try:
            result[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
        except TypeError as exc:   # an unhashable key
            raise ValueError(str(exc)) from exc
    return result
