"""C2SP ``tlog-checkpoint`` signed notes and ``signed-note`` Ed25519 key names. Pure functions.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n``, a blank line and
signature lines ``— <key name> <base64(4-byte key id || signature)>\\n``. The Ed25519 arithmetic
itself is the caller's (``app.adapters.audit_key``): the domain stays stdlib-only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

import msgspec

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})")


class NoteError(ValueError):
    """A note, verifier key or checkpoint that does not parse."""


class Checkpoint(msgspec.Struct, frozen=True):
    origin: str
    tree_size: int
    root_hash: bytes


class SignedNote(msgspec.Struct, frozen=True):
    text: str  # ends with a newline
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name must be non-empty, without spaces or '+': {name!r}")
    return name


def verifier_key(name: str, public_key: bytes) -> str:
    """``<name>+<8 hex key id>+<base64(0x01 || public key)>``."""
    check_key_name(name)
    b64 = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{b64}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key id, 32-byte Ed25519 public key) of a verifier key; NoteError if malformed."""
    name, plus, rest = vkey.strip().partition("+")
    hex_id, plus2, b64 = rest.partition("+")
    try:
        check_key_name(name)
        raw = base64.b64decode(b64, validate=True)
        kid = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error) as exc:
        raise NoteError(f"malformed verifier key: {exc}") from exc
    if not plus or not plus2 or len(hex_id) != 8 or len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("malformed verifier key: want <name>+<8 hex>+<base64(0x01 || key)>")
    if key_id(name, raw[1:]) != kid:
        raise NoteError("the verifier key's id does not match its name and public key")
    return name, kid, raw[1:]


def checkpoint_text(origin: str, tree_size: int, root: bytes) -> str:
    check_key_name(origin)
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode()}\n"


def signature_line(name: str, kid: bytes, signature: bytes) -> str:
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(kid + signature).decode()}\n"


def parse_note(note: str) -> SignedNote:
    """Split a signed note into its text and signatures (none verified here)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note may contain no control characters but newlines")
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("a note is text, a blank line, then signature lines")
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line!r}")
        name, space, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise NoteError(f"bad signature encoding: {exc}") from exc
        if not space or not name or len(raw) < 5:
            raise NoteError(f"malformed signature line: {line!r}")
        signatures.append((name, raw[:4], raw[4:]))
    return SignedNote(text + "\n", tuple(signatures))


def parse_checkpoint(text: str) -> Checkpoint:
    """The origin, size and root of a checkpoint's note text (extension lines ignored)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
    origin, size, root_b64 = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size):
        raise NoteError(f"bad tree size line: {size!r}")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except binascii.Error as exc:
        raise NoteError(f"bad root hash line: {exc}") from exc
    if len(root) != 32 or not origin:
        raise NoteError("a checkpoint needs an origin and a 32-byte root hash")
    return Checkpoint(origin, int(size), root)
