"""Write a rewired graph without serialising its weights again: their bytes are copied from the source file.

The contract rewiring (onnx_contract.py) adds a few nodes and renames a few tensors; it never changes an
initializer's contents. Serialising the whole model again would copy every weight twice more (into the
protobuf's output, then through Python into the file): half of a 100 MB import. Protobuf's wire format
lets a message's fields come in any order and repeated fields in several pieces, so the file is written
as the model without its large initializers, with those initializers' original encodings (found by name
in the source file, mapped, not read) appended inside the graph field and copied by the kernel
(copy_file_range): a parser reads back the same model (initializers reordered, which ONNX does not care
about), and the bytes written are exactly what the import then hashes and stores.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import onnx

SPLICE_BYTES = 1 << 20  # initializers at least this large are copied from the original encoding
_GRAPH = 7  # ModelProto.graph
_INITIALIZER = 5  # GraphProto.initializer
_NAME = 8  # TensorProto.name
_LENGTH_DELIMITED = 2
_BLOCK = 1 << 20


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, tag offset, value offset, value end) of each field encoded in buf[start:end]."""
    pos = start
    while pos < end:
        tag = pos
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value = pos
            _, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = pos, pos + 8
        elif wire == _LENGTH_DELIMITED:
            length, value = _varint(buf, pos)
            pos = value + length
        elif wire == 5:
            value, pos = pos, pos + 4
        else:  # groups: ONNX has none
            raise ValueError(f"unexpected wire type {wire}")
        if pos > end:
            raise ValueError("field runs past its message")
        yield key >> 3, tag, value, pos


def _only(buf: memoryview, start: int, end: int, number: int) -> tuple[int, int, int] | None:
    """(tag, value, end) of field `number` where it occurs exactly once in buf[start:end]."""
    found = [(tag, value, stop) for field, tag, value, stop in _fields(buf, start, end) if field == number]
    return found[0] if len(found) == 1 else None


def large_initializers(raw: memoryview) -> dict[str, tuple[int, int]]:
    """Name -> (start, end) of the encoded TensorProto of each large initializer in the serialized model
    `raw`; names that occur twice are left out (which one the model kept is not known)."""
    graph = _only(raw, 0, len(raw), _GRAPH)
    if graph is None:
        return {}
    found: dict[str, tuple[int, int]] = {}
    seen: set[str] = set()
    twice: set[str] = set()
    for field, _tag, value, stop in _fields(raw, graph[1], graph[2]):
        if field != _INITIALIZER:
            continue
        name_at = _only(raw, value, stop, _NAME)
        if name_at is None:
            continue
        name = bytes(raw[name_at[1] : name_at[2]]).decode("utf-8", "replace")
        if name in seen:
            twice.add(name)
        seen.add(name)
        if stop - value >= SPLICE_BYTES:
            found[name] = (value, stop)
    for name in twice:
        found.pop(name, None)
    return found


def _spans(source: int) -> dict[str, tuple[int, int]]:
    """large_initializers of the file open as `source`, mapped: only the fields' headers are touched."""
    with mmap.mmap(source, 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            return large_initializers(view)
        finally:
            view.release()


def _write(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(source: int, fd: int, start: int, stop: int) -> None:
    """source[start:stop] appended to `fd`: by the kernel where it can, else through a small buffer."""
    while start < stop:
        try:
            done = os.copy_file_range(source, fd, stop - start, start)
        except OSError:  # another filesystem on an older kernel, or a filesystem without it
            done = 0
        if not done:
            block = os.pread(source, min(stop - start, _BLOCK), start)
            if not block:
                raise ValueError("the source file ended early")
            _write(fd, block)
            done = len(block)
        start += done


def save_spliced(model: onnx.ModelProto, out: Path, source: Path) -> None:
    """Write `model`, parsed from the file at `source` (unchanged since) and rewired, to `out`; its large
    initializers are taken out of `model` (it is not used after) and copied from `source`."""
    with source.open("rb") as original:
        try:
            spans = _spans(original.fileno())
        except (ValueError, IndexError, OSError):  # not an encoding we can walk: serialise as usual
            spans = {}
        graph = model.graph
        kept: list[tuple[int, int]] = []
        for index in reversed(range(len(graph.initializer))):
            span = spans.pop(graph.initializer[index].name, None)
            if span is not None:
                kept.append(span)
                del graph.initializer[index]
        if not kept:
            onnx.save(model, str(out))
            return
        kept.reverse()
        light = memoryview(model.SerializeToString())
        found = _only(light, 0, len(light), _GRAPH)
        assert found is not None, "a serialized model has exactly one graph field"
        tag, value, stop = found
        heads = [
            _encode_varint(_INITIALIZER << 3 | _LENGTH_DELIMITED) + _encode_varint(b - a) for a, b in kept
        ]
        size = stop - value + sum(len(head) + b - a for head, (a, b) in zip(heads, kept, strict=True))
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write(fd, light[:tag])
            _write(fd, _encode_varint(_GRAPH << 3 | _LENGTH_DELIMITED) + _encode_varint(size))
            _write(fd, light[value:stop])
            for head, (a, b) in zip(heads, kept, strict=True):
                _write(fd, head)
                _copy(original.fileno(), fd, a, b)
            _write(fd, light[stop:])
        finally:
            os.close(fd)
