"""Write a rewired graph without serialising its weights again: their bytes are copied from the file read.

The contract rewiring (onnx_contract.py) adds a few nodes and renames a few tensors; it never changes an
initializer's contents. Serialising the whole model again would copy every weight twice more (into the
protobuf's output, then to the file), a third of a 100 MB import. Protobuf's wire format lets a message's
fields come in any order and repeated fields in several pieces, so the file is written as the model
without its large initializers, with those initializers' original encodings (found by name in the file
read) appended inside the graph field: a parser reads back the same model (initializers reordered, which
ONNX does not care about), and the bytes written are exactly what the import hashes and stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx

SPLICE_BYTES = 1 << 20  # initializers at least this large are copied from the original encoding
_GRAPH = 7  # ModelProto.graph
_INITIALIZER = 5  # GraphProto.initializer
_NAME = 8  # TensorProto.name
_LENGTH_DELIMITED = 2


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


def large_initializers(raw: memoryview) -> dict[str, memoryview]:
    """Name -> encoded TensorProto of each large initializer in the serialized model `raw`; names that
    occur twice are left out (which one the model kept is not known)."""
    graph = _only(raw, 0, len(raw), _GRAPH)
    if graph is None:
        return {}
    found: dict[str, memoryview] = {}
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
            found[name] = raw[value:stop]
    for name in twice:
        found.pop(name, None)
    return found


def save_spliced(model: onnx.ModelProto, out: Path, original: bytes) -> None:
    """Write `model`, parsed from `original` and rewired since, to `out`; its large initializers are
    taken out of `model` (it is not used after) and written from their original encoding."""
    raw = memoryview(original)
    try:
        spans = large_initializers(raw)
    except (ValueError, IndexError):  # not the encoding we parsed the model from: serialise as usual
        spans = {}
    graph = model.graph
    kept: list[memoryview] = []
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
    heads = [_encode_varint(_INITIALIZER << 3 | _LENGTH_DELIMITED) + _encode_varint(len(s)) for s in kept]
    size = stop - value + sum(len(h) + len(s) for h, s in zip(heads, kept, strict=True))
    with out.open("wb") as fh:
        fh.write(light[:tag])
        fh.write(_encode_varint(_GRAPH << 3 | _LENGTH_DELIMITED) + _encode_varint(size))
        fh.write(light[value:stop])
        for head, span in zip(heads, kept, strict=True):
            fh.write(head)
            fh.write(span)
        fh.write(light[stop:])
