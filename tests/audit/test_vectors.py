"""Known answers from other implementations: RFC 6962's tree heads and proofs (as published by
transparency-dev/merkle), and golang.org/x/mod/sumdb/note's signed note."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.audit_key import load_or_create, verify_note
from domain import merkle
from domain.checkpoint import NoteError

DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


class Data:
    def __init__(self) -> None:
        self.leaves = [merkle.leaf_hash(bytes.fromhex(d)) for d in DATA]

    def perfect(self, level: int, index: int) -> bytes:
        f = merkle.Frontier()
        for h in self.leaves[index << level : (index + 1) << level]:
            f.push(h)
        return f.root()


def test_rfc6962_roots_and_proofs() -> None:
    nodes = Data()
    for size in range(9):
        assert merkle.root_hash(nodes, size).hex() == ROOTS[size]
    assert [h.hex() for h in merkle.inclusion_proof(nodes, 5, 8)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [h.hex() for h in merkle.consistency_proof(nodes, 2, 5)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]


GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann " + GO_SIGNATURE + "\n"


def test_the_go_note_package_signs_and_names_keys_as_we_do(tmp_path: Path) -> None:
    path = tmp_path / "go.key"
    path.write_text(GO_SKEY + "\n")
    signer = load_or_create(path, "PeterNeumann")
    assert signer.verifier_key == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic: byte for byte
    assert signer.private_line() == GO_SKEY + "\n"
    with pytest.raises(NoteError):  # a note, not a checkpoint: the signature still verifies
        verify_note(GO_NOTE, GO_VKEY)


def test_a_new_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.key"
    signer = load_or_create(path, "example.com/log")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create(path, "example.com/log").verifier_key == signer.verifier_key
