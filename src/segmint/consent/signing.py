"""The ledger's signing key and its signed checkpoints.

The Ed25519 private key is the raw 32 bytes of ``consent.key`` in the workspace directory,
created once with mode 0600, beside the database file rather than in it: whoever holds only
``segmint.duckdb`` can neither sign a checkpoint nor seal a ledger row (the rows' MAC key is
derived from the same file, :meth:`LedgerKey.mac_key`).

A checkpoint is a dict::

    {"origin": "segmint consent ledger", "checkpoint_id": 3, "tree_size": 1200,
     "root": "<hex>", "created_at": "2026-01-31T12:00:00.000000Z",
     "key_id": "<16 hex>", "public_key": "<hex>", "signature": "<base64>"}

and its signature is Ed25519 over these canonical bytes (UTF-8, one field a line, in this
order, each line ending in a newline)::

    segmint consent ledger
    <checkpoint_id>
    <tree_size>
    <root, lower-case hex>
    <created_at, as above>

``key_id`` is the first 16 hex digits of SHA-256 of the raw public key.

Examples
--------
>>> key = LedgerKey(bytes(32))
>>> cp = key.sign(1, 10, "ab" * 32, "2026-01-31T12:00:00.000000Z")
>>> check_signature(cp)
True
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from segmint.errors import WorkspaceError
from segmint.files import key_file

__all__ = ["KEY_FILE", "ORIGIN", "LedgerKey", "canonical_bytes", "check_signature", "key_id"]

KEY_FILE = "consent.key"
ORIGIN = "segmint consent ledger"


def key_id(public_key: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def canonical_bytes(checkpoint: dict) -> bytes:
    """The bytes a checkpoint's signature covers (see the module's docstring)."""
    fields = (
        ORIGIN,
        str(int(checkpoint["checkpoint_id"])),
        str(int(checkpoint["tree_size"])),
        str(checkpoint["root"]),
        str(checkpoint["created_at"]),
    )
    return "".join(f"{f}\n" for f in fields).encode("utf-8")


def check_signature(checkpoint: dict) -> bool:
    """Whether the checkpoint's signature is valid under its own ``public_key``, and its
    ``origin`` and ``key_id`` match; whether that key is the right one is the caller's check."""
    try:
        public = bytes.fromhex(checkpoint["public_key"])
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, canonical_bytes(checkpoint))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return checkpoint.get("origin") == ORIGIN and checkpoint.get("key_id") == key_id(public)


class LedgerKey:
    """The workspace's ledger key: signs checkpoints and gives the rows' MAC key.

    Parameters
    ----------
    private : bytes
        The raw 32-byte Ed25519 private key.
    """

    def __init__(self, private: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(private)
        self._raw = private
        self.public_key = self._private.public_key().public_bytes_raw()
        self.key_id = key_id(self.public_key)

    @classmethod
    def for_workspace(cls, directory: str | Path) -> LedgerKey:
        """The key of a workspace: ``consent.key`` is created (0600) if it does not exist."""
        path = Path(directory) / KEY_FILE
        raw = key_file(path)
        if len(raw) != 32:
            raise WorkspaceError(
                f"{path} is not a segmint ledger key file (expected 32 raw bytes, found "
                f"{len(raw)}); restore it from a backup: without it the ledger cannot be "
                "verified or extended"
            )
        return cls(raw)

    def mac_key(self) -> bytes:
        """The 32-byte key the ledger's rows are sealed with (SHA-256 of a label and the
        private key: the secret-prefix MAC over a fixed-size message is sound for SHA-256)."""
        return hashlib.sha256(b"segmint-ledger-mac" + self._raw).digest()

    def sign(self, checkpoint_id: int, tree_size: int, root: str, created_at: str) -> dict:
        """The signed checkpoint dict of a tree (``created_at`` as ISO text ending in Z)."""
        checkpoint = {
            "origin": ORIGIN,
            "checkpoint_id": checkpoint_id,
            "tree_size": tree_size,
            "root": root,
            "created_at": created_at,
            "key_id": self.key_id,
            "public_key": self.public_key.hex(),
        }
        signature = self._private.sign(canonical_bytes(checkpoint))
        checkpoint["signature"] = base64.b64encode(signature).decode("ascii")
        return checkpoint
