"""Secrets at rest: values the service must read back (webhook signing secrets) are sealed with
AES-256-GCM under a key kept in the workspace directory, outside the database file.

A copy of ``segmint.duckdb`` alone (a backup, a file shared for debugging) then holds no usable
secret. The key file is created once, with mode 0600, by whoever opens the workspace for the
service first. Sealed values read ``sealed:v1:<base64url(nonce + ciphertext)>``; the row's id is
bound as associated data, so a sealed value copied onto another row does not open. Values
without the prefix are older plaintext rows: :meth:`SecretBox.open` returns them as they are,
and the service seals them when it starts (:func:`segmint.store.webhooks.seal_plaintext_secrets`).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from segmint.errors import WorkspaceError
from segmint.files import key_file

__all__ = ["KEY_FILE", "SecretBox"]

KEY_FILE = "secrets.key"
_PREFIX = "sealed:v1:"
_NONCE = 12


class SecretBox:
    """Seal and open short secrets with one AES-256-GCM key.

    Parameters
    ----------
    key : bytes
        32 bytes.

    Examples
    --------
    >>> box = SecretBox(bytes(32))
    >>> box.open(box.seal("s3cret", "wh_1"), "wh_1")
    's3cret'
    """

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def for_workspace(cls, directory: str | Path) -> SecretBox:
        """The box of a workspace: its key file is created (0600) if it does not exist."""
        path = Path(directory) / KEY_FILE
        key = key_file(path)
        if len(key) != 32:
            raise WorkspaceError(f"{path} is not a segmint key file (expected 32 bytes)")
        return cls(key)

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(_PREFIX)

    def seal(self, secret: str, row_id: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), row_id.encode("utf-8"))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, value: str, row_id: str) -> str:
        """The secret in a stored value (plaintext values of older workspaces pass through)."""
        if not self.is_sealed(value):
            return value
        raw = base64.urlsafe_b64decode(value[len(_PREFIX) :])
        try:
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], row_id.encode("utf-8"))
        except InvalidTag:
            raise WorkspaceError(
                f"the secret of {row_id} does not open with this workspace's {KEY_FILE}"
            ) from None
        return plain.decode("utf-8")
