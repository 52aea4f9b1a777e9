"""Frames between the server and a replica process over a stream socket: a fixed prefix (header and body
lengths), a JSON header naming the arrays, then their raw bytes back to back.

Raw bytes, not pickle: a replica runs a model from the store, and nothing here should execute what a frame
says. Object arrays (text and categories in table rows) travel as fixed-width unicode and are turned back
into objects; structured rows travel one field at a time and are rebuilt with their dtype.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import numpy as np
import orjson

_PREFIX = struct.Struct("!IQ")
Arrays = dict[str, np.ndarray]


class ReplicaGone(ConnectionError):
    """The replica process closed its end (it exited or was killed)."""


def send(sock: socket.socket, header: dict[str, Any], arrays: Arrays | None = None) -> None:
    specs: list[dict[str, Any]] = []
    buffers: list[bytes | memoryview] = []
    for name, array in (arrays or {}).items():
        spec, parts = _encode(array)
        specs.append({"name": name, **spec})
        buffers.extend(parts)
    head = orjson.dumps({**header, "arrays": specs})
    body = sum(len(b) for b in buffers)
    sock.sendall(b"".join([_PREFIX.pack(len(head), body), head, *buffers]))


def receive(sock: socket.socket) -> tuple[dict[str, Any], Arrays]:
    head_size, body_size = _PREFIX.unpack(_exactly(sock, _PREFIX.size))
    header: dict[str, Any] = orjson.loads(_exactly(sock, head_size))
    body = memoryview(_exactly(sock, body_size))
    arrays: Arrays = {}
    offset = 0
    for spec in header.pop("arrays"):
        arrays[spec["name"]], offset = _decode(spec, body, offset)
    return header, arrays


def _exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ReplicaGone("the other end of the replica connection closed")
        got += n
    return data


def _encode(array: np.ndarray) -> tuple[dict[str, Any], list[bytes | memoryview]]:
    if array.dtype.names is not None:
        fields: list[dict[str, Any]] = []
        parts: list[bytes | memoryview] = []
        for field in array.dtype.names:
            spec, buffers = _encode(np.ascontiguousarray(array[field]))
            fields.append({"field": field, **spec})
            parts.extend(buffers)
        descr = [[name, *rest] for name, *rest in array.dtype.descr]
        return {"rows": len(array), "descr": descr, "fields": fields}, parts
    objects = array.dtype == object
    plain = np.ascontiguousarray(array.astype(str) if objects else array)
    spec = {"dtype": plain.dtype.str, "shape": list(plain.shape), "objects": objects}
    return spec, [plain.data.cast("B") if plain.size else b""]


def _decode(spec: dict[str, Any], body: memoryview, offset: int) -> tuple[np.ndarray, int]:
    if "fields" in spec:
        dtype = np.dtype([(d[0], d[1], tuple(d[2])) if len(d) > 2 else (d[0], d[1]) for d in spec["descr"]])
        rows = np.empty(spec["rows"], dtype=dtype)
        for field in spec["fields"]:
            rows[field["field"]], offset = _decode(field, body, offset)
        return rows, offset
    dtype = np.dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
    if spec["objects"]:
        array = array.astype(object)
    return array, offset + count * dtype.itemsize
