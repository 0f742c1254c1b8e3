"""Trust: the consent ledger (a Merkle log with signed checkpoints), the purposes outputs are
filtered by, erasure, pseudonymised ids and the audit log."""
