"""KMS envelope encryption: a fresh data key per secret, AES-256-GCM locally.

`seal` asks KMS for a data key (GenerateDataKey, with an encryption context
that names what the secret belongs to), encrypts locally with the plaintext
key, and keeps only the KMS-encrypted copy of the key, the nonce and the
ciphertext. `open` has KMS decrypt the data key, which it does only under the
same encryption context, and decrypts locally. The context is also the
AES-GCM associated data, so a sealed secret moved to another account's record
does not open. Plaintext keys live only for the duration of one call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class Sealed:
    encrypted_key: bytes  # the data key, encrypted by KMS
    nonce: bytes
    ciphertext: bytes  # AES-GCM output (tag included)


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


class KmsEnvelope:
    def __init__(self, kms_client, key_id: str) -> None:
        self.kms = kms_client
        self.key_id = key_id

    def seal(self, plaintext: bytes, context: dict[str, str]) -> Sealed:
        data_key = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=context)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, _aad(context))
        return Sealed(data_key["CiphertextBlob"], nonce, ciphertext)

    def open(self, sealed: Sealed, context: dict[str, str]) -> bytes:
        """The plaintext; raises if KMS refuses the context or the ciphertext was tampered with."""
        data_key = self.kms.decrypt(CiphertextBlob=sealed.encrypted_key, EncryptionContext=context)["Plaintext"]
        return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, _aad(context))
