#!/usr/bin/env python3
"""Sign requests with the OFFICIAL Huawei Cloud Python SDK signer (huaweicloudsdkcore), for Rust
tests that compare the operator's signer against it byte for byte (SPEC §6, reference §9).

Run with the venv's python (`xtask/scripts/sdk-tests.sh --python`):

    python tests/sdk/sdk_sign.py < requests.jsonl > signatures.jsonl

Input: one JSON object per line,
    {"method": "GET", "url": "https://host[:port]/path[?query]", "headers": {"X-Sdk-Date": ..., ...},
     "query": [["k", "v"], ...], "body": "<utf-8 string>", "ak": "...", "sk": "..."}
"query" is optional; when it is absent the URL's own query string is used (parsed with blank
values kept). A query value may be a JSON list (a multi-valued key) or a boolean, as the SDK
allows. "body" may be absent or "" (the empty-body hash is used).

Output: one JSON object per input line, in order,
    {"authorization": "...", "canonical_request": "...", "string_to_sign": "...",
     "signed_headers": "...", "headers": {final headers}, "uri": "/path?canonical-query"}
or {"error": "..."} when that line could not be signed.

What is called, exactly as huaweicloudsdkcore's client path does for a request whose
credentials carry no security token and whose signing algorithm is the default HMAC-SHA256
(Credentials.sign_request -> Signer(credentials).sign(request)):
  - huaweicloudsdkcore.sdk_request.SdkRequest(method, schema, host, resource_path,
    query_params=[(k, v), ...], header_params={...}, body=str)
  - huaweicloudsdkcore.signer.signer.Signer(credentials).sign(request), which itself runs
    _process_content_header (adds X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD for a non-JSON,
    non-BSON Content-Type), _process_header_time (keeps the given X-Sdk-Date, else now),
    _process_header_host (adds Host = URL netloc unless a Host header is given),
    _process_signed_headers, _process_canonical_request, _process_string_to_sign,
    _sign_string_to_sign, _process_auth_header_value, process_request_uri.
  The canonical request and string to sign are captured by a subclass that only records the
  return values of Signer._process_canonical_request and Signer._process_string_to_sign.
X-Project-Id / X-Security-Token are NOT added here: BasicCredentials.sign_request would add
X-Project-Id from its project id; pass such headers in "headers" and they are signed as given.
"""

import json
import sys
from urllib.parse import parse_qsl, urlparse

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


class _RecordingSigner(Signer):
    """The SDK's Signer, unchanged, recording two intermediate values."""

    canonical_request = None
    string_to_sign = None

    def _process_canonical_request(self, request, signed_headers):
        self.canonical_request = super()._process_canonical_request(request, signed_headers)
        return self.canonical_request

    def _process_string_to_sign(self, canonical_request, time):
        self.string_to_sign = super()._process_string_to_sign(canonical_request, time)
        return self.string_to_sign


def _query_of(spec, parsed_url):
    if spec.get("query") is not None:
        out = []
        for item in spec["query"]:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise ValueError(f"query items must be [key, value] pairs, got {item!r}")
            out.append((str(item[0]), item[1]))
        return out
    return parse_qsl(parsed_url.query, keep_blank_values=True)


def sign_one(spec):
    url = urlparse(spec["url"])
    if not url.scheme or not url.netloc:
        raise ValueError(f"url must be absolute: {spec['url']!r}")
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    body = spec.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError("body must be a string")
    request = SdkRequest(
        method=spec["method"],
        schema=url.scheme,
        host=url.netloc,
        resource_path=url.path or "/",
        query_params=_query_of(spec, url),
        header_params=headers,
        body=body,
    )
    signer = _RecordingSigner(BasicCredentials(spec["ak"], spec["sk"]))
    signed = signer.sign(request)
    auth = signed.header_params["Authorization"]
    signed_headers = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0]
    out = {
        "authorization": auth,
        "signed_headers": signed_headers,
        "headers": dict(signed.header_params),
        "uri": signed.uri,
    }
    if signer.canonical_request is not None:
        out["canonical_request"] = signer.canonical_request
    if signer.string_to_sign is not None:
        out["string_to_sign"] = signer.string_to_sign
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            result = sign_one(json.loads(line))
        except Exception as e:  # report per line; keep going
            result = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
