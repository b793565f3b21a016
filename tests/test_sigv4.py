"""SigV4 verification: AWS's published test-suite answers, botocore round trips, and every way a signature fails."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.api.sigv4 import (
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_TOKEN,
    UNRECOGNIZED_CLIENT,
    parse_authorization,
    sign_request,
    verify_request,
)
from recsys.exceptions import AuthError

URL = "http://127.0.0.1:8080/recommendations"
KEY, SECRET = "RSKTESTKEY0000000001", "s3cr3t/with+chars=="
SECRETS = {KEY: SECRET}
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def signed(body=b'{"a": 1}', url=URL, when=NOW, secret=SECRET, **kw):
    headers = sign_request("POST", url, body, KEY, secret, when=when, **kw)
    host = url.split("/")[2]
    return [("Host", host), *headers.items()]


def verify(headers, body=b'{"a": 1}', url=URL, now=NOW, **kw):
    return verify_request("POST", url, headers, body, SECRETS.get, now=now, **kw)


def error_of(headers, body=b'{"a": 1}', **kw) -> AuthError:
    with pytest.raises(AuthError) as info:
        verify(headers, body, **kw)
    assert info.value.status_code == 403
    return info.value


# AWS's SigV4 test suite (aws-sig-v4-test-suite: get-vanilla, post-vanilla): known answers.
@pytest.mark.parametrize(
    "method, signature",
    [
        ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ],
)
def test_aws_test_suite_known_answers(method, signature):
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"), ("Authorization", auth)]
    identity = verify_request(
        method,
        "https://example.amazonaws.com/",
        headers,
        b"",
        {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}.get,
        service="service",
        now=dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc),
    )
    assert identity.access_key_id == "AKIDEXAMPLE" and identity.region == "us-east-1"
    wrong = auth[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(AuthError):
        verify_request(method, "https://example.amazonaws.com/", headers[:2] + [("Authorization", wrong)], b"",
                       {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}.get, service="service",
                       now=dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc))


def test_botocore_signature_verifies_in_any_region():
    identity = verify(signed(region="eu-west-3"))
    assert identity.access_key_id == KEY and identity.region == "eu-west-3"


def test_missing_authorization_is_missing_token():
    headers = [(k, v) for k, v in signed() if k != "Authorization"]
    assert error_of(headers).code == MISSING_TOKEN


def test_unknown_key_is_unrecognized_client():
    headers = [(k, v.replace(KEY, "RSKNOSUCHKEY00000000")) for k, v in signed()]
    assert error_of(headers).code == UNRECOGNIZED_CLIENT


def test_wrong_secret_is_invalid_signature():
    error = error_of(signed(secret="not-the-secret"))
    assert error.code == INVALID_SIGNATURE
    assert "signature we calculated does not match" in error.message


def test_tampered_body_url_and_headers_fail():
    headers = signed()
    assert error_of(headers, body=b'{"a": 2}').code == INVALID_SIGNATURE
    assert error_of(headers, url="http://127.0.0.1:8080/events").code == INVALID_SIGNATURE
    moved = [(k, "127.0.0.1:9999" if k == "Host" else v) for k, v in headers]
    assert error_of(moved, url="http://127.0.0.1:9999/recommendations").code == INVALID_SIGNATURE


def test_content_sha256_header_must_match_the_body():
    headers = signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    error = error_of(headers)
    assert error.code == INVALID_SIGNATURE and "x-amz-content-sha256" in error.message


@pytest.mark.parametrize("minutes, word", [(-6, "expired"), (6, "not yet current")])
def test_clock_skew_over_five_minutes_is_rejected(minutes, word):
    headers = signed(when=NOW + dt.timedelta(minutes=minutes))
    error = error_of(headers)
    assert error.code == INVALID_SIGNATURE and word in error.message
    # within the window it verifies
    assert verify(signed(when=NOW + dt.timedelta(minutes=minutes * 4 / 6))).access_key_id == KEY


def test_credential_must_be_scoped_to_personalize():
    error = error_of(signed(service="s3"))
    assert error.code == INVALID_SIGNATURE and "'personalize'" in error.message


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=AK/20260102/us-east-1/personalize/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AK/20260102/personalize, SignedHeaders=host, Signature=ab",
    ],
)
def test_malformed_authorization_is_incomplete_signature(value):
    with pytest.raises(AuthError) as info:
        parse_authorization(value)
    assert info.value.code == INCOMPLETE_SIGNATURE


def test_host_must_be_signed():
    headers = sign_request("POST", URL, b"{}", KEY, SECRET, when=NOW)
    auth = headers["Authorization"].replace("content-type;host;x-amz-date", "content-type;x-amz-date")
    headers["Authorization"] = auth
    error = error_of([("Host", "127.0.0.1:8080"), *headers.items()], body=b"{}")
    assert error.code == INVALID_SIGNATURE and "Host" in error.message


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300), extra=st.dictionaries(
    st.from_regex(r"x-amz-meta-[a-z]{1,8}", fullmatch=True), st.from_regex(r"[ -~]{0,20}", fullmatch=True), max_size=3),
    flip=st.integers(min_value=0, max_value=10_000))
def test_round_trip_and_any_body_change_fails(body, extra, flip):
    headers = signed(body=body, headers=extra)
    assert verify(headers, body=body).access_key_id == KEY
    changed = bytearray(body or b"\x00")
    changed[flip % len(changed)] ^= 0x01
    with pytest.raises(AuthError):
        verify(headers, body=bytes(changed))
