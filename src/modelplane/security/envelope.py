"""Envelope encryption of artifacts: a fresh AES-256-GCM data key per artifact, wrapped by the master key.

A sealed blob is MAGIC, the segment size (4 bytes), a random 7-byte nonce prefix, then the payload cut into
segments, each AES-GCM encrypted with nonce = prefix | segment index (4 bytes) | last flag (1 byte) — the
STREAM construction, so a payload may be larger than one AES-GCM call allows (2 GiB) and a reordered,
truncated or extended blob fails to decrypt. Every segment authenticates the artifact's identity (the
sha256 of its plaintext) as associated data, so a blob moved under another artifact's name is refused;
the wrapped data key authenticates the same identity, so swapping two rows' keys is refused too. Each data
key encrypts one artifact only, so its nonces never repeat.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelplane.errors import IntegrityError
from modelplane.security.master_key import MasterKey

MAGIC = b"MPSEAL1\0"
SEGMENT = 4 << 20
_TAG = 16
_PREFIX = 7
_HEADER = struct.Struct(f">{len(MAGIC)}sI{_PREFIX}s")


def _identity(kind: bytes, sha: str) -> bytes:
    return b"modelplane:" + kind + b":v1:" + sha.encode()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(master: MasterKey, sha: str, data_key: bytes) -> str:
    """The data key encrypted under the master key, bound to the artifact `sha`; base64 text."""
    nonce = os.urandom(12)
    return base64.b64encode(
        nonce + AESGCM(master.key).encrypt(nonce, data_key, _identity(b"dek", sha))
    ).decode()


def unwrap(master: MasterKey, sha: str, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return AESGCM(master.key).decrypt(raw[:12], raw[12:], _identity(b"dek", sha))
    except InvalidTag as exc:
        raise IntegrityError(
            f"the data key of artifact {sha[:12]} fails authentication under master key {master.key_id}: "
            "its row was altered or moved from another artifact; restore the database from a backup"
        ) from exc


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


def seal(data_key: bytes, sha: str, chunks: Iterable[bytes], segment: int = SEGMENT) -> Iterator[bytes]:
    """The sealed blob of the plaintext `chunks` (any sizes), yielded piece by piece for streaming writes."""
    prefix = os.urandom(_PREFIX)
    aead, aad = AESGCM(data_key), _identity(b"artifact", sha)
    yield _HEADER.pack(MAGIC, segment, prefix)
    pending, index = bytearray(), 0
    for chunk in chunks:
        pending += chunk
        while len(pending) > segment:  # keep one back: only the last segment carries the flag
            yield aead.encrypt(_nonce(prefix, index, False), bytes(pending[:segment]), aad)
            del pending[:segment]
            index += 1
    yield aead.encrypt(_nonce(prefix, index, True), bytes(pending), aad)


def unseal(data_key: bytes, sha: str, blob: bytes) -> bytes:
    """The plaintext of a sealed blob; `IntegrityError` when any byte of it was changed or it is another
    artifact's blob."""
    view = memoryview(blob)
    if len(view) < _HEADER.size + _TAG or bytes(view[: len(MAGIC)]) != MAGIC:
        raise IntegrityError(f"artifact {sha[:12]}'s encrypted blob is not a modelplane sealed blob")
    _, segment, prefix = _HEADER.unpack_from(view)
    aead, aad = AESGCM(data_key), _identity(b"artifact", sha)
    parts, offset, index, step = [], _HEADER.size, 0, segment + _TAG
    try:
        while True:
            last = len(view) - offset <= step
            end = len(view) if last else offset + step
            parts.append(aead.decrypt(_nonce(prefix, index, last), view[offset:end], aad))
            if last:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            offset, index = end, index + 1
    except InvalidTag as exc:
        raise IntegrityError(
            f"artifact {sha[:12]}'s encrypted bytes fail authentication (segment {index}): the blob was "
            "altered, truncated or swapped with another artifact's; restore it from a backup"
        ) from exc
