"""Signed, expiring requests for the local-folder backend: the same guarantees an S3 signature gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

EXPIRES_PARAM = "X-Aula-Expires"
SIGNATURE_PARAM = "X-Aula-Signature"
POLICY_FIELD = "policy"
POLICY_SIGNATURE_FIELD = "x-aula-signature"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"  # the expiration format S3 POST policies use


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key: str, *parts: str) -> str:
    """An HMAC-SHA256 over the parts, which are joined by newlines (none of them may contain one)."""
    message = "\n".join(parts).encode()
    return _b64(hmac.new(key.encode(), message, hashlib.sha256).digest())


def verify(key: str, signature: str, *parts: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, which a tampered URL may carry.
    return hmac.compare_digest(sign(key, *parts).encode(), signature.encode())


def content_disposition(filename: str, *, inline: bool = True) -> str:
    """RFC 6266 header value with an ASCII fallback and the UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """What a POST upload form allows: one key, one content type, a size range, until a moment."""

    bucket: str
    key: str
    content_type: str
    min_size: int
    max_size: int
    expires_at: datetime

    def document(self) -> dict[str, Any]:
        """The policy in the shape S3 uses, so the two backends' forms can be read the same way."""
        return {
            "expiration": self.expires_at.astimezone(UTC).strftime(ISO_FORMAT),
            "conditions": [
                ["eq", "$bucket", self.bucket],
                ["eq", "$key", self.key],
                ["eq", "$Content-Type", self.content_type],
                ["content-length-range", self.min_size, self.max_size],
            ],
        }

    def encode(self) -> str:
        return base64.b64encode(json.dumps(self.document()).encode()).decode()


def decode_policy(encoded: str) -> UploadPolicy:
    """Read a base64 policy document (ours or S3's) back; raises ValueError when it is not one."""
    try:
        doc = json.loads(base64.b64decode(encoded, validate=True))
        conditions: Sequence[Any] = doc["conditions"]
        expires_at = datetime.strptime(doc["expiration"], ISO_FORMAT).replace(tzinfo=UTC)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not an upload policy") from exc
    eq: dict[str, str] = {}
    low = high = None
    for condition in conditions:
        if isinstance(condition, list) and condition[0] == "eq":
            eq[str(condition[1]).lstrip("$")] = str(condition[2])
        elif isinstance(condition, list) and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
        elif isinstance(condition, dict):  # the object form {"bucket": "..."} is valid in S3 policies
            eq.update({k: str(v) for k, v in condition.items()})
    if low is None or high is None or not {"bucket", "key", "Content-Type"} <= eq.keys():
        raise ValueError("the policy lacks a key, content type or length range")
    return UploadPolicy(eq["bucket"], eq["key"], eq["Content-Type"], low, high, expires_at)
