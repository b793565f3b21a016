"""Verify AWS Signature Version 4 (Authorization-header form) with botocore's own canonicalisation.

Example::

    identity = verify_request("POST", "http://127.0.0.1:8080/events", headers, body,
                              secret_for=lambda key_id: keys.get(key_id))
    identity.access_key_id, identity.region

The canonical request and string to sign are built by `botocore.auth.SigV4Auth` on a reconstructed
`AWSRequest`, restricted to exactly the headers the client listed in `SignedHeaders`, so the server and every
AWS SDK agree on them; only the derived signing key is cached (per secret, day, region and service).
Failures raise `AuthError` carrying the error code AWS itself answers with (all HTTP 403).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from recsys.exceptions import AuthError

ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW_SECONDS = 300

# AWS's answers (rest-json services behind the AWS front door).
MISSING_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"

_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_HEADER_FIELD = re.compile(r"\s*([A-Za-z]+)\s*=\s*([^,\s]*)\s*")


@dataclass(frozen=True)
class Authorization:
    """The parsed `Authorization` header."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class Identity:
    """Who signed a verified request."""

    access_key_id: str
    region: str


def parse_authorization(value: str | None) -> Authorization:
    """Split `AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/personalize/aws4_request,
    SignedHeaders=..., Signature=...` into its parts; AuthError when absent or malformed."""
    if not value:
        raise AuthError(MISSING_TOKEN, "Missing Authentication Token")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            f"Unsupported authorization type {algorithm[:40]!r}: sign requests with {ALGORITHM} (SigV4).",
        )
    fields = {}
    for part in rest.split(","):
        match = _HEADER_FIELD.fullmatch(part)
        if match:
            fields[match.group(1)] = match.group(2)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            f"Authorization header requires {', '.join(repr(m) for m in missing)} parameter(s). "
            f"Authorization={value[:200]}",
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            "Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request.",
        )
    signed = tuple(h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip())
    return Authorization(scope[0], scope[1], scope[2], scope[3], signed, fields["Signature"].lower())


class _Verifier(SigV4Auth):
    """botocore's signer, made to sign exactly the client's SignedHeaders and the body as received."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed_headers: tuple[str, ...], body: bytes
    ):
        super().__init__(credentials, service, region)
        self._signed = signed_headers
        self._body_hash = hashlib.sha256(body).hexdigest()

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed:
            values = request.headers.get_all(name) or [""]
            for value in values:
                header_map[name] = value
        return header_map

    def payload(self, request):
        return self._body_hash

    def signature(self, string_to_sign, request):
        key = _signing_key(self.credentials.secret_key, request.context["timestamp"][0:8], self._region_name,
                           self._service_name)
        return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key (same chain as SigV4Auth.signature); it changes once a day per key and region."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _request_time(headers: HTTPHeaders) -> tuple[str, _dt.datetime]:
    amz_date = headers.get("x-amz-date")
    if amz_date:
        match = _AMZ_DATE.fullmatch(amz_date)
        try:
            if not match:
                raise ValueError(amz_date)
            when = _dt.datetime(*(int(g) for g in match.groups()), tzinfo=_dt.timezone.utc)
        except ValueError:
            raise AuthError(
                INCOMPLETE_SIGNATURE, f"X-Amz-Date {amz_date[:40]!r} is not in the form YYYYMMDD'T'HHMMSS'Z'."
            ) from None
        return amz_date, when
    date = headers.get("date")
    if date:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(date).astimezone(_dt.timezone.utc)
        except (TypeError, ValueError):
            raise AuthError(INCOMPLETE_SIGNATURE, f"Date header {date[:40]!r} is not an HTTP date.") from None
        return when.strftime(SIGV4_TIMESTAMP), when
    raise AuthError(
        INCOMPLETE_SIGNATURE, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    secret_for: Callable[[str], str | None],
    *,
    service: str = "personalize",
    now: _dt.datetime | None = None,
    max_skew_seconds: int = MAX_CLOCK_SKEW_SECONDS,
) -> Identity:
    """Check a request's SigV4 signature; return who signed it or raise AuthError (403).

    `url` is scheme://host/path?query as received (path still percent-encoded), `headers` the raw header pairs,
    `secret_for(access_key_id)` the key's secret or None when the key does not exist.
    """
    header_map = HTTPHeaders()
    for name, value in headers:
        header_map[name.lower()] = value
    auth = parse_authorization(header_map.get("authorization"))
    if "host" not in auth.signed_headers:
        raise AuthError(INVALID_SIGNATURE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if auth.service != service:
        raise AuthError(INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{service}'.")
    amz_date, when = _request_time(header_map)
    if auth.date != amz_date[:8]:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    now = now or _dt.datetime.now(_dt.timezone.utc)
    skew = _dt.timedelta(seconds=max_skew_seconds)
    if when < now - skew:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature expired: {amz_date} is now earlier than {(now - skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - {max_skew_seconds // 60} min.)",
        )
    if when > now + skew:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature not yet current: {amz_date} is still later than {(now + skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} + {max_skew_seconds // 60} min.)",
        )
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise AuthError(UNRECOGNIZED_CLIENT, "The security token included in the request is invalid.")
    content_sha = header_map.get("x-amz-content-sha256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        raise AuthError(
            INVALID_SIGNATURE, "The provided 'x-amz-content-sha256' header does not match what was computed."
        )

    request = AWSRequest(method=method, url=url, data=body)
    request.headers = header_map
    request.context["timestamp"] = amz_date
    verifier = _Verifier(Credentials(auth.access_key_id, secret), auth.service, auth.region, auth.signed_headers, body)
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth.signature):
        raise AuthError(
            INVALID_SIGNATURE,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    return Identity(auth.access_key_id, auth.region)


def sign_request(
    method: str,
    url: str,
    body: bytes,
    access_key_id: str,
    secret: str,
    *,
    region: str = "us-east-1",
    service: str = "personalize",
    headers: dict[str, str] | None = None,
    when: _dt.datetime | None = None,
) -> dict[str, str]:
    """Headers (with Authorization and X-Amz-Date) signed exactly as botocore signs: for tests and benchmarks.

    `when` signs as of another time (to test clock skew); default now.
    """
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = SigV4Auth(Credentials(access_key_id, secret), service, region)
    when = when or _dt.datetime.now(_dt.timezone.utc)
    request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
