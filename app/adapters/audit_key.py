"""The checkpoint signing key (Ed25519, ``cryptography``) and signed-note verification.

The key file holds one line in the signed-note private key form of ``golang.org/x/mod/sumdb/note``:
``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>``. It is created with mode
0600 on first use and never enters the log; its name must be the configured origin.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.checkpoint import (
    ED25519,
    Checkpoint,
    NoteError,
    check_key_name,
    key_id,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    signature_line,
    verifier_key,
)

PRIVATE_PREFIX = "PRIVATE+KEY+"


class AuditKeyError(Exception):
    """The key file cannot be read, or belongs to another origin."""


class Signer:
    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        self.name = check_key_name(name)
        self._private = private
        self.public_key = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key)

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, one signature line."""
        signature = self._private.sign(text.encode())
        return text + "\n" + signature_line(self.name, self.key_id, signature)

    def private_line(self) -> str:
        seed = self._private.private_bytes_raw()
        b64 = base64.b64encode(ED25519 + seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{b64}\n"


def load_or_create(path: str | Path, origin: str) -> Signer:
    """The signer in ``path``; a new key (file mode 0600) if there is no file yet."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        signer = Signer(origin, Ed25519PrivateKey.generate())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_or_create(path, origin)
        with os.fdopen(fd, "w") as fh:
            fh.write(signer.private_line())
        return signer
    signer = _parse_private(path.read_text().strip(), path)
    if signer.name != origin:
        raise AuditKeyError(
            f"the audit key in {path} signs for '{signer.name}', not for the origin '{origin}': "
            "set LEDGERGATE_AUDIT_ORIGIN back, or point LEDGERGATE_AUDIT_KEY_FILE at a new file "
            "(see 'Rotating the audit key' in docs/operations.md)"
        )
    return signer


def _parse_private(line: str, path: Path) -> Signer:
    if not line.startswith(PRIVATE_PREFIX):
        raise AuditKeyError(f"{path} is not a signed-note private key (PRIVATE+KEY+...)")
    name, _, rest = line[len(PRIVATE_PREFIX) :].partition("+")
    hex_id, _, b64 = rest.partition("+")
    try:
        raw = base64.b64decode(b64, validate=True)
        signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    except (ValueError, binascii.Error, NoteError) as exc:
        raise AuditKeyError(f"{path}: malformed private key: {exc}") from exc
    if raw[:1] != ED25519 or signer.key_id.hex() != hex_id:
        raise AuditKeyError(f"{path}: the key id does not match the key")
    return signer


def verify_note(note: str, vkey: str) -> Checkpoint:
    """The checkpoint of ``note`` if the verifier key's signature on it is valid, else NoteError.

    Signatures by other keys are ignored (C2SP signed-note); at least the known one must verify.
    """
    name, kid, public = parse_verifier_key(vkey)
    signed = parse_note(note)
    ours = [sig for n, k, sig in signed.signatures if n == name and k == kid]
    if not ours:
        raise NoteError(f"the note carries no signature by {name}+{kid.hex()}")
    key = Ed25519PublicKey.from_public_bytes(public)
    for signature in ours:
        try:
            key.verify(signature, signed.text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature by {name} does not verify") from exc
    checkpoint = parse_checkpoint(signed.text)
    if checkpoint.origin != name:
        raise NoteError(f"the checkpoint's origin {checkpoint.origin!r} is not the key's name")
    return checkpoint
