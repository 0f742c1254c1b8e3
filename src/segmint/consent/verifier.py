"""Check a segmint consent proof anywhere: this file needs only Python and ``cryptography``.

Copy it beside a proof and run ``python verifier.py proof.json [--public-key HEX]``: it
prints the proven consent and exits 0, or prints why the proof fails and exits 1. Pass the
public key the business published, so a proof signed by any other key fails.

The proof (``segmint consent proof CUSTOMER``) is a JSON object::

    {"format": "segmint consent proof v1",
     "customer_id": "c1",
     "subject_key": "<hex, 32 bytes: the customer's own key>",
     "customer_ref": "<hex HMAC-SHA256(subject_key, customer_id as UTF-8)>",
     "entries": [                        # the latest entry of each purpose
        {"seq": 10, "purpose": "email", "status": "withdrawn", "source": "api",
         "ts": "2026-02-01T00:00:00.000000", "evidence": null,
         "leaf_hash": "<hex>", "audit_path": ["<hex>", ...]}],
     "checkpoint": {"origin": "segmint consent ledger", "checkpoint_id": 3,
        "tree_size": 12, "root": "<hex>", "created_at": "2026-02-01T09:00:00.000000Z",
        "key_id": "<16 hex>", "public_key": "<hex>", "signature": "<base64>"}}

What is checked:

1. ``customer_ref`` is HMAC-SHA256(subject_key, customer_id): the entries are this customer's.
2. Each entry's leaf: the fields ``seq, customer_ref, purpose, status, source, ts, evidence``,
   each written ``<UTF-8 length in bytes>:<value>`` (or ``-`` when null) with nothing between,
   UTF-8 encoded; its hash SHA-256(0x00 || bytes) must equal ``leaf_hash``.
3. Each ``audit_path`` proves that leaf at index ``seq`` in the Merkle tree of ``tree_size``
   leaves with root ``root`` (RFC 9162 §2.1.3.2; nodes are SHA-256(0x01 || left || right)).
4. The checkpoint's Ed25519 signature, over the UTF-8 lines ``origin``, ``checkpoint_id``,
   ``tree_size``, ``root``, ``created_at`` (each ending in a newline), verifies under its
   ``public_key``; ``key_id`` is the first 16 hex digits of SHA-256 of that key; and that key
   is the one given with ``--public-key``, if given.

This module deliberately imports nothing from segmint and repeats the few rules it checks.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ORIGIN = "segmint consent ledger"
FORMAT = "segmint consent proof v1"
LEAF_FIELDS = ("seq", "customer_ref", "purpose", "status", "source", "ts", "evidence")


def leaf_bytes(entry: dict) -> bytes:
    """The bytes of an entry's leaf (rule 2 of the module docstring)."""
    parts = []
    for name in LEAF_FIELDS:
        value = entry[name]
        if value is None:
            parts.append("-")
        else:
            text = str(value)
            parts.append(f"{len(text.encode('utf-8'))}:{text}")
    return "".join(parts).encode("utf-8")


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether ``path`` proves ``leaf`` at ``index`` under ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_checkpoint(checkpoint: dict, public_key_hex: str | None = None) -> None:
    """Raise ValueError unless the checkpoint is signed as rule 4 says."""
    public = bytes.fromhex(checkpoint["public_key"])
    if public_key_hex is not None and public != bytes.fromhex(public_key_hex):
        raise ValueError("the checkpoint is signed by another key than the one given")
    if checkpoint.get("origin") != ORIGIN:
        raise ValueError(f"the checkpoint's origin is not {ORIGIN!r}")
    if checkpoint.get("key_id") != hashlib.sha256(public).hexdigest()[:16]:
        raise ValueError("the checkpoint's key_id is not that of its public key")
    signed = "".join(
        f"{f}\n"
        for f in (
            ORIGIN,
            int(checkpoint["checkpoint_id"]),
            int(checkpoint["tree_size"]),
            checkpoint["root"],
            checkpoint["created_at"],
        )
    ).encode("utf-8")
    try:
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, signed)
    except (InvalidSignature, ValueError) as exc:
        raise ValueError("the checkpoint's signature does not verify") from exc


def verify_proof(proof: dict, public_key_hex: str | None = None) -> list[dict]:
    """Check a consent proof; return its entries, each proven, or raise ValueError saying why.

    Parameters
    ----------
    proof : dict
        As described in the module docstring.
    public_key_hex : str, optional
        The ledger's published Ed25519 public key (hex); without it the key in the proof is
        trusted, which shows the proof is intact but not whose it is.

    Examples
    --------
    >>> entries = verify_proof(json.load(open("proof.json")), "b609...")   # doctest: +SKIP
    >>> [(e["purpose"], e["status"]) for e in entries]                      # doctest: +SKIP
    [('email', 'withdrawn'), ('sms', 'granted')]
    """
    try:
        if proof.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT!r} document")
        ref = proof["customer_ref"]
        expected = hmac.new(
            bytes.fromhex(proof["subject_key"]),
            str(proof["customer_id"]).encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(ref, expected):
            raise ValueError("customer_ref is not the HMAC of the customer id under its key")
        checkpoint = proof["checkpoint"]
        check_checkpoint(checkpoint, public_key_hex)
        size, root = int(checkpoint["tree_size"]), bytes.fromhex(checkpoint["root"])
        for entry in proof["entries"]:
            leaf = hashlib.sha256(b"\x00" + leaf_bytes({**entry, "customer_ref": ref})).digest()
            if leaf.hex() != entry["leaf_hash"]:
                raise ValueError(f"entry {entry['seq']}'s fields do not hash to its leaf hash")
            path = [bytes.fromhex(h) for h in entry["audit_path"]]
            if not verify_inclusion(int(entry["seq"]), size, leaf, path, root):
                raise ValueError(
                    f"entry {entry['seq']} is not in the signed tree of {size} entries"
                )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed proof: {exc!r}") from None
    return list(proof["entries"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a segmint consent proof.")
    parser.add_argument("proof", help="the proof's JSON file")
    parser.add_argument("--public-key", help="the ledger's published public key (hex)")
    args = parser.parse_args(argv)
    try:
        with open(args.proof, encoding="utf-8") as f:
            proof = json.load(f)
        entries = verify_proof(proof, args.public_key)
    except (OSError, ValueError) as exc:
        print(f"proof FAILED: {exc}", file=sys.stderr)
        return 1
    checkpoint = proof["checkpoint"]
    print(
        f"proof OK: customer {proof['customer_id']}, checkpoint {checkpoint['checkpoint_id']} "
        f"({checkpoint['tree_size']} entries, {checkpoint['created_at']}), key "
        f"{checkpoint['key_id']}"
    )
    for e in entries:
        print(f"  {e['purpose']}: {e['status']} at {e['ts']} (entry {e['seq']}, {e['source']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
