"""Payload codecs that keep prompts and answers out of Temporal's history in plaintext.

    keys = KeyRing.from_env()  # DURABLE_RESPONSES_CODEC_KEYS="k1:BASE64KEY,k2:BASE64KEY"
    client = await Client.connect(address, data_converter=data_converter(codec_chain(keys)))

Payloads are compressed (zlib, when large and it helps), then encrypted (AES-256-GCM) with the
newest key of the ring; each records its key id, so older keys keep decrypting older history
after a rotation. Workers, clients and the codec server (`durable-responses-codec-server`,
for the Web UI and CLI) must share the ring. Make a key with
`python -m durable_responses.codec new-key [ID]`.

The wire format is that of Temporal's encryption samples (`binary/encrypted`,
`encryption-key-id`, nonce + ciphertext of the serialized payload), so their codec servers
in other languages can read it given the same keys.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
import sys
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

KEYS_VARIABLE = "DURABLE_RESPONSES_CODEC_KEYS"
"""The key ring itself: `id1:BASE64KEY,id2:BASE64KEY`, newest last."""
KEYS_FILE_VARIABLE = "DURABLE_RESPONSES_CODEC_KEYS_FILE"
"""A file holding the key ring in the same format (Docker and Kubernetes secrets)."""

ENVIRONMENT: dict[str, str] = {
    KEYS_VARIABLE: "payload encryption keys `id:BASE64KEY`, comma/newline separated, newest last",
    KEYS_FILE_VARIABLE: f"file with the keys (used when {KEYS_VARIABLE} is unset)",
}
"""The environment variables `KeyRing.from_env` reads."""

PYDANTIC_CONVERTER = DataConverter(payload_converter_class=PydanticPayloadConverter)
"""Payloads as JSON through pydantic (our models in and out of every workflow and activity),
no codec: the SDK's own pydantic converter, built as `temporalio.contrib.pydantic` builds it."""

ZLIB_ENCODING = b"binary/zlib"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"

KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""The GCM standard nonce; random per payload (a ring's newest key should be rotated long
before 2**32 payloads, the bound for random nonces)."""
COMPRESSION_LEVEL = 6
COMPRESSION_THRESHOLD = 1024
"""Payloads at most this many bytes stay uncompressed: zlib rarely pays for itself below it."""
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""A compressed payload may not inflate beyond this: the codec server decodes what anyone
posts, and a small zlib bomb must not take its memory."""

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]+")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def new_key() -> str:
    """A fresh random AES-256 key in base64, the form `KeyRing.parse` reads."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


class KeyRing:
    """AES-256 keys by id, newest last: new payloads use the newest, old ones name theirs.

    Rotate by appending a key; drop an old key only once no history that needs it is kept.
    The keys never appear in `repr`, errors or logs; only their ids do.
    """

    __slots__ = ("_ciphers", "_ids")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        ciphers: dict[str, AESGCM] = {}
        for number, (key_id, key) in enumerate(keys, start=1):
            where = f"key {number}"
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"{where}: its id must be non-empty and match [A-Za-z0-9_.-]+")
            if key_id in ciphers:
                raise ValueError(f"{where}: duplicate key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"{where} ({key_id!r}): {len(key)} bytes, AES-256 needs {KEY_BYTES}"
                )
            ciphers[key_id] = AESGCM(key)
        self._ciphers = ciphers
        self._ids = tuple(ciphers)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read `id1:BASE64KEY,id2:BASE64KEY` (commas or newlines, `#` comments), newest last."""
        keys: list[tuple[str, bytes]] = []
        entries = [
            entry.strip()
            for line in text.splitlines()
            for entry in line.split("#", 1)[0].split(",")
        ]
        for number, entry in enumerate((e for e in entries if e), start=1):
            key_id, colon, encoded = (part.strip() for part in entry.partition(":"))
            where = f"key {number}"
            if not colon:
                raise ValueError(f"{where}: expected id:BASE64KEY")
            if not _KEY_ID.fullmatch(key_id):
                # Not echoed: a reversed `KEY:id` would put the key here.
                raise ValueError(f"{where}: its id must be non-empty and match [A-Za-z0-9_.-]+")
            try:
                # Standard or URL-safe alphabet, padding required.
                key = base64.b64decode(encoded.translate(_URLSAFE_TO_STANDARD), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where} ({key_id!r}): not valid base64") from None
            keys.append((key_id, key))
        if not keys:
            raise ValueError("no keys (expected id:BASE64KEY, comma or newline separated)")
        return cls(keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> KeyRing | None:
        """The ring in `DURABLE_RESPONSES_CODEC_KEYS`, else in the file named by
        `DURABLE_RESPONSES_CODEC_KEYS_FILE`; None when neither is set (empty counts as unset).
        """
        text = environ.get(KEYS_VARIABLE, "")
        source = KEYS_VARIABLE
        if not text.strip():
            path = environ.get(KEYS_FILE_VARIABLE, "")
            if not path:
                return None
            source = f"{KEYS_FILE_VARIABLE} ({path})"
            try:
                with open(path, encoding="utf-8") as file:
                    text = file.read()
            except OSError as err:
                raise ValueError(f"{source}: cannot read: {err.strerror or err}") from None
        try:
            return cls.parse(text)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    @property
    def ids(self) -> tuple[str, ...]:
        """The key ids, oldest first."""
        return self._ids

    @property
    def newest(self) -> str:
        """The id of the key new payloads are encrypted with."""
        return self._ids[-1]

    def cipher(self, key_id: str) -> AESGCM:
        """The cipher of `key_id`; `ValueError` naming the id if the ring lacks it."""
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise ValueError(
                f"payload encrypted with key {key_id!r}, which is not in the key ring "
                f"({', '.join(self._ids)})"
            ) from None

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self._ids)!r})"


def _wrapped(data: bytes, what: str) -> Payload:
    try:
        return Payload.FromString(data)
    except DecodeError:
        raise ValueError(f"{what} payload does not hold a serialized payload") from None


class CompressionCodec(PayloadCodec):
    """zlib for payloads over `threshold` bytes that it shrinks: long prompts and answers."""

    def __init__(
        self,
        threshold: int = COMPRESSION_THRESHOLD,
        *,
        level: int = COMPRESSION_LEVEL,
        max_decompressed: int = MAX_DECOMPRESSED_BYTES,
    ) -> None:
        self.threshold = threshold
        self.level = level
        self.max_decompressed = max_decompressed

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Compress each large payload (metadata and data) if that makes it smaller."""
        return [self._compress(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Restore compressed payloads exactly; others pass through."""
        return [
            self._decompress(payload)
            if payload.metadata.get("encoding") == ZLIB_ENCODING
            else payload
            for payload in payloads
        ]

    def _compress(self, payload: Payload) -> Payload:
        if len(payload.data) <= self.threshold:
            return payload
        compressed = Payload(
            metadata={"encoding": ZLIB_ENCODING},
            data=zlib.compress(payload.SerializeToString(), self.level),
        )
        return compressed if compressed.ByteSize() < payload.ByteSize() else payload

    def _decompress(self, payload: Payload) -> Payload:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(payload.data, self.max_decompressed + 1)
        except zlib.error:
            raise ValueError("compressed payload is corrupt") from None
        if len(data) > self.max_decompressed:
            raise ValueError(f"compressed payload inflates beyond {self.max_decompressed} bytes")
        if not inflater.eof:
            raise ValueError("compressed payload is truncated")
        return _wrapped(data, "compressed")


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with the ring's newest key; decrypts with whichever key a payload names."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each whole payload (metadata too) under a fresh nonce."""
        key_id = self.keys.newest
        cipher = self.keys.cipher(key_id)
        encrypted = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encrypted.append(
                Payload(
                    metadata={
                        "encoding": ENCRYPTED_ENCODING,
                        KEY_ID_METADATA: key_id.encode(),
                    },
                    data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None),
                )
            )
        return encrypted

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; others (history from before encryption) pass through."""
        return [
            self._decrypt(payload)
            if payload.metadata.get("encoding") == ENCRYPTED_ENCODING
            else payload
            for payload in payloads
        ]

    def _decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        if not key_id:
            raise ValueError(f"encrypted payload has no {KEY_ID_METADATA!r} metadata")
        cipher = self.keys.cipher(key_id)
        nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, ciphertext, None)
        except InvalidTag:
            raise ValueError(
                f"payload encrypted with key {key_id!r} failed authentication: "
                "it was altered, or the key with that id is not the one it was encrypted with"
            ) from None
        return _wrapped(plaintext, "decrypted")


class ChainCodec(PayloadCodec):
    """Codecs applied in order on encode and in reverse on decode (the SDK has no chain)."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = tuple(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each codec's encode, first to last."""
        result = list(payloads)
        for codec in self.codecs:
            result = await codec.encode(result)
        return result

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each codec's decode, last to first."""
        result = list(payloads)
        for codec in reversed(self.codecs):
            result = await codec.decode(result)
        return result


def codec_chain(
    keys: KeyRing | None, *, compress: bool = True, threshold: int = COMPRESSION_THRESHOLD
) -> PayloadCodec | None:
    """Compression then encryption, as configured; None if neither is on.

    Compression comes first because ciphertext does not compress.
    """
    codecs: list[PayloadCodec] = []
    if compress:
        codecs.append(CompressionCodec(threshold))
    if keys is not None:
        codecs.append(EncryptionCodec(keys))
    if not codecs:
        return None
    return codecs[0] if len(codecs) == 1 else ChainCodec(codecs)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic converter with `codec`; failure messages and stack traces encoded too.

    Without the failure converter, an error's message (which may quote the prompt or the
    model's answer) would stay in plaintext beside the encrypted payloads.
    """
    if codec is None:
        return PYDANTIC_CONVERTER
    return dataclasses.replace(
        PYDANTIC_CONVERTER,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m durable_responses.codec new-key [ID]`: print a fresh `id:BASE64KEY`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "new-key" or len(args) > 2:
        sys.exit("usage: python -m durable_responses.codec new-key [ID]")
    key_id = args[1] if len(args) == 2 else time.strftime("key-%Y%m%d")
    if not _KEY_ID.fullmatch(key_id):
        sys.exit("codec: a key id must match [A-Za-z0-9_.-]+")
    print(f"{key_id}:{new_key()}")


if __name__ == "__main__":
    main()
