"""Webhook secrets at rest: AES-GCM under a 0600 key file in the workspace."""

from __future__ import annotations

import stat

import pytest

from segmint.errors import WorkspaceError
from segmint.store.sealing import KEY_FILE, SecretBox


def test_key_file_created_once_private_and_reused(tmp_path):
    box = SecretBox.for_workspace(tmp_path)
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = box.seal("whsec_abc", "wh_1")
    assert "whsec_abc" not in sealed and SecretBox.is_sealed(sealed)
    again = SecretBox.for_workspace(tmp_path)  # a restart reads the same key
    assert again.open(sealed, "wh_1") == "whsec_abc"
    assert box.seal("whsec_abc", "wh_1") != sealed  # a fresh nonce every time


def test_sealed_value_bound_to_its_row_and_key(tmp_path):
    box = SecretBox.for_workspace(tmp_path)
    sealed = box.seal("whsec_abc", "wh_1")
    with pytest.raises(WorkspaceError, match="does not open"):
        box.open(sealed, "wh_2")
    with pytest.raises(WorkspaceError, match="does not open"):
        SecretBox(bytes(32)).open(sealed, "wh_1")


def test_plaintext_of_older_workspaces_passes_through():
    assert SecretBox(bytes(32)).open("whsec_old", "wh_1") == "whsec_old"


def test_bad_key_file_is_refused(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(WorkspaceError, match="not a segmint key file"):
        SecretBox.for_workspace(tmp_path)
