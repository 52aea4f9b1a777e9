"""The master key that wraps every artifact's data key (envelope encryption, security/envelope.py).

It comes from MODELPLANE_MASTER_KEY (base64 of 32 random bytes) or from the file MODELPLANE_MASTER_KEY_FILE
names (the same base64 text). Setting both is refused rather than one silently winning: two sources for
one key is how a rotation ends up half applied. Neither set: artifacts are written in plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelplane.config import Settings
from modelplane.errors import Conflict, Invalid, Misconfigured

MASTER_KEY_ENV = "MODELPLANE_MASTER_KEY"
MASTER_KEY_FILE_ENV = "MODELPLANE_MASTER_KEY_FILE"
KEY_BYTES = 32
HOW_TO_MAKE = "make one with `modelplane keys new-master --out FILE` (or `openssl rand -base64 32 > FILE`)"


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit AES key and its id: a fingerprint that names the key in rows and errors, not the key."""

    key: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"modelplane-master-key:" + self.key).hexdigest()[:16]


def parse_key(text: str, source: str) -> MasterKey:
    """`text` as base64 of exactly 32 bytes; `source` names where it came from in the error."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(f"{source} is not base64 ({exc}); {HOW_TO_MAKE}") from exc
    if len(raw) != KEY_BYTES:
        raise Invalid(f"{source} holds {len(raw)} bytes; a master key is {KEY_BYTES} bytes. {HOW_TO_MAKE}")
    return MasterKey(raw)


def read_key_file(path: Path) -> MasterKey:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise Invalid(f"cannot read the master key file {path} ({exc.strerror}); {HOW_TO_MAKE}") from exc
    return parse_key(text, f"master key file {path}")


def write_new_key_file(path: Path) -> MasterKey:
    """A fresh random key written to `path` (0600, never over an existing file)."""
    path = Path(path)
    key = MasterKey(os.urandom(KEY_BYTES))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise Conflict(f"{path} exists; a key file is never overwritten (choose another path)") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key.key).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def configured_master_key(settings: Settings) -> MasterKey | None:
    """The master key the settings name; None where encryption at rest is off."""
    if settings.master_key is not None and settings.master_key_file is not None:
        raise Misconfigured(f"both {MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV} are set; set only one of them")
    if settings.master_key is not None:
        return parse_key(settings.master_key.get_secret_value(), MASTER_KEY_ENV)
    if settings.master_key_file is not None:
        return read_key_file(settings.master_key_file)
    return None


def missing_key_message(what: str, key_id: str) -> str:
    return (
        f"{what} is encrypted with master key {key_id}, and no master key is configured; set "
        f"{MASTER_KEY_ENV} (base64) or {MASTER_KEY_FILE_ENV} (a file) to that key"
    )
