"""The external-data file names an ONNX model records, read without the ``onnx`` package.

An ONNX file is a protobuf ``ModelProto``. Tensors stored outside it carry
``external_data`` entries whose ``location`` key names a file relative to the
model's folder. This walks the wire format just far enough to collect those
names: graph initializers, tensors in node attributes, sub-graphs and
functions. Large fields (``raw_data``) are skipped by length, never read, so a
multi-gigabyte model is scanned in milliseconds. A file that is not valid
protobuf yields what was found so far; onnxruntime reports the real error.
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

# Field numbers of onnx.proto that lead to tensors.
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTRIBUTE = 5
_FUNCTION_NODE = 7
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_EXTERNAL = 13
_ENTRY_KEY, _ENTRY_VALUE = 1, 2

_MAX_NESTING = 64


class _Malformed(Exception):
    pass


def _varint(buf: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: mmap.mmap, start: int, end: int) -> list[tuple[int, int, int]]:
    """The length-delimited fields of a message: ``(number, start, end)``."""
    found = []
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Malformed
            found.append((number, pos, pos + length))
            pos += length
        else:
            raise _Malformed
    if pos != end:
        raise _Malformed
    return found


class _Walker:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.locations: list[str] = []

    def tensor(self, start: int, end: int) -> None:
        for number, s, e in _fields(self.buf, start, end):
            if number != _TENSOR_EXTERNAL:
                continue
            entry = {n: bytes(self.buf[a:b]) for n, a, b in _fields(self.buf, s, e)}
            if entry.get(_ENTRY_KEY) == b"location" and _ENTRY_VALUE in entry:
                location = entry[_ENTRY_VALUE].decode("utf-8", errors="replace")
                if location not in self.locations:
                    self.locations.append(location)

    def sparse(self, start: int, end: int) -> None:
        for number, s, e in _fields(self.buf, start, end):
            if number in (_SPARSE_VALUES, _SPARSE_INDICES):
                self.tensor(s, e)

    def node(self, start: int, end: int, depth: int) -> None:
        for number, s, e in _fields(self.buf, start, end):
            if number != _NODE_ATTRIBUTE:
                continue
            for kind, a, b in _fields(self.buf, s, e):
                if kind in (_ATTR_T, _ATTR_TENSORS):
                    self.tensor(a, b)
                elif kind in (_ATTR_G, _ATTR_GRAPHS):
                    self.graph(a, b, depth + 1)
                elif kind in (_ATTR_SPARSE, _ATTR_SPARSES):
                    self.sparse(a, b)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _Malformed
        for number, s, e in _fields(self.buf, start, end):
            if number == _GRAPH_INITIALIZER:
                self.tensor(s, e)
            elif number == _GRAPH_SPARSE:
                self.sparse(s, e)
            elif number == _GRAPH_NODE:
                self.node(s, e, depth)

    def model(self) -> None:
        for number, s, e in _fields(self.buf, 0, len(self.buf)):
            if number == _MODEL_GRAPH:
                self.graph(s, e, 0)
            elif number == _MODEL_FUNCTIONS:
                for kind, a, b in _fields(self.buf, s, e):
                    if kind == _FUNCTION_NODE:
                        self.node(a, b, 0)


def external_data_locations(path: Path) -> list[str]:
    """The ``location`` of every external tensor of an ONNX file, in order, without repeats."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            walker = _Walker(buf)
            with contextlib.suppress(_Malformed, IndexError):
                walker.model()
            return walker.locations
    except (OSError, ValueError):  # empty file (mmap of length 0) or unreadable
        return []
