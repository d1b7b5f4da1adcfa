"""Request authentication (reference §9, SPEC §7): SDK-HMAC-SHA256 signatures made by the SDK's
own signer, the 15-minute clock window, tampering, and IAM tokens (X-Auth-Token)."""

import datetime as dt
import json

import pytest
import requests

import hwsim
from hwsim import APIG_INSTANCE, DATAARTS_WORKSPACE, MODELARTS_SERVICE, PROJECT_ID, ROMA_INSTANCE
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

APIG_APPS = f"/v2/{PROJECT_ID}/apigw/instances/{APIG_INSTANCE}/apps"

# One list endpoint per service, with the headers that service needs.
LIST_ENDPOINTS = {
    "apig": (APIG_APPS, {}),
    "roma": (f"/v2/{PROJECT_ID}/instances/{ROMA_INSTANCE}/apps", {}),
    "dataarts": (f"/v1/{PROJECT_ID}/service/apps", {"workspace": DATAARTS_WORKSPACE, "Dlm-Type": "SHARED"}),
    "modelarts": (f"/v1/{PROJECT_ID}/app-auth/apps", {}),
    "modelarts-apis": (f"/v1/{PROJECT_ID}/services/{MODELARTS_SERVICE}/app-auth-apis", {}),
}


def iam_token(sim_url):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": hwsim.IAM_USER, "password": hwsim.IAM_PASSWORD, "domain": {"name": hwsim.IAM_DOMAIN}}}},
        "scope": {"project": {"id": PROJECT_ID}}}}
    r = requests.post(f"{sim_url}/v3/auth/tokens", json=body, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


@pytest.mark.parametrize("service", sorted(LIST_ENDPOINTS))
def test_sdk_signed_request_is_accepted(sim_url, service):
    path, headers = LIST_ENDPOINTS[service]
    r = hwsim.signed(sim_url, "GET", path, headers=headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("minutes", [-16, 16])
def test_date_more_than_15_minutes_off_is_apig_0303(sim_url, minutes):
    r = hwsim.signed(sim_url, "GET", APIG_APPS, headers={"X-Sdk-Date": hwsim.sdk_date(dt.timedelta(minutes=minutes))})
    assert hwsim.error_of(r) == (401, "APIG.0303"), r.text


@pytest.mark.parametrize("minutes", [-14, 14])
def test_date_within_15_minutes_is_accepted(sim_url, minutes):
    r = hwsim.signed(sim_url, "GET", APIG_APPS, headers={"X-Sdk-Date": hwsim.sdk_date(dt.timedelta(minutes=minutes))})
    assert r.status_code == 200, r.text


def test_stale_date_through_the_sdk_client(sim_url, apig):
    """The SDK reuses an X-Sdk-Date it is given (Signer._process_header_time)."""
    from huaweicloudsdkapig.v2 import ListAppsV2Request
    apig.preset_headers = {"X-Sdk-Date": hwsim.sdk_date(dt.timedelta(minutes=-16))}
    with pytest.raises(ClientRequestException) as ei:
        apig.list_apps_v2(ListAppsV2Request(instance_id=APIG_INSTANCE))
    assert (ei.value.status_code, ei.value.error_code) == (401, "APIG.0303")


@pytest.mark.parametrize("service", sorted(LIST_ENDPOINTS))
def test_wrong_secret_is_apig_0301_on_every_service(sim_url, service):
    path, headers = LIST_ENDPOINTS[service]
    r = hwsim.signed(sim_url, "GET", path, headers=headers, sk="wrong-secret-key")
    assert hwsim.error_of(r) == (401, "APIG.0301"), r.text


def test_unknown_access_key_is_apig_0301(sim_url):
    r = hwsim.signed(sim_url, "GET", APIG_APPS, ak="NOSUCHACCESSKEY00000")
    assert hwsim.error_of(r) == (401, "APIG.0301"), r.text


def test_tampered_body_is_rejected_and_not_applied(sim_url, admin):
    req = hwsim.sign_as_sdk(hwsim.make_sdk_request("POST", sim_url, APIG_APPS, body={"name": "signed_name"}))
    req.body = json.dumps({"name": "other_name"}).encode()
    r = hwsim.send(req)
    assert hwsim.error_of(r) == (401, "APIG.0301"), r.text
    assert admin.apps() == []


def test_tampered_query_is_rejected(sim_url):
    req = hwsim.sign_as_sdk(hwsim.make_sdk_request("GET", sim_url, APIG_APPS, query=[("name", "a")]))
    req.uri = APIG_APPS + "?name=b"
    assert hwsim.error_of(hwsim.send(req)) == (401, "APIG.0301")


def test_tampered_signed_header_is_rejected(sim_url):
    req = hwsim.sign_as_sdk(hwsim.make_sdk_request("GET", sim_url, APIG_APPS))
    req.header_params["X-Project-Id"] = "ffffffffffffffffffffffffffffffff"
    assert hwsim.error_of(hwsim.send(req)) == (401, "APIG.0301")


def test_minimal_signed_header_set_is_accepted(sim_url):
    """The server recomputes over the headers named in SignedHeaders (the Go SDK signs fewer
    headers than the Python one): sign host;x-sdk-date only, then add unsigned headers."""
    req = hwsim.make_sdk_request("GET", sim_url, APIG_APPS, content_type=None)
    req.header_params = {}
    req = hwsim.sign_as_sdk(req, project_id=None)
    assert "SignedHeaders=host;x-sdk-date," in req.header_params["Authorization"]
    req.header_params["Content-Type"] = "application/json"
    req.header_params["User-Agent"] = "not-signed/1.0"
    r = hwsim.send(req)
    assert r.status_code == 200, r.text


def test_post_with_unsigned_payload_content_type(sim_url):
    """A non-JSON Content-Type makes the SDK send X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD (signed)
    and hash nothing; the server must honour that header."""
    req = hwsim.make_sdk_request("GET", sim_url, APIG_APPS, content_type="text/plain")
    req.body = "ignored body"
    req = hwsim.sign_as_sdk(req)
    assert req.header_params.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD"
    r = hwsim.send(req)
    assert r.status_code == 200, r.text


def test_missing_authentication_is_401(sim_url):
    r = requests.get(sim_url + APIG_APPS, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 401
    assert r.json()["error_code"].startswith("APIG.")


def test_iam_token_authorizes_calls_on_every_service(sim_url):
    tok = iam_token(sim_url)
    for service, (path, headers) in sorted(LIST_ENDPOINTS.items()):
        r = requests.get(sim_url + path, headers={"X-Auth-Token": tok, **headers}, timeout=hwsim.HTTP_TIMEOUT)
        assert r.status_code == 200, f"{service}: {r.status_code} {r.text}"


def test_iam_token_creates_an_apig_app(sim_url, admin):
    tok = iam_token(sim_url)
    r = requests.post(sim_url + APIG_APPS, json={"name": "token_made", "remark": "via token"},
                      headers={"X-Auth-Token": tok}, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "token_made" and body["app_key"] and body["app_secret"]
    s = admin.app("apig", body["id"])
    assert (s["key"], s["secret"], s["project"]) == (body["app_key"], body["app_secret"], PROJECT_ID)


def test_bad_token_is_401_apig_1002(sim_url):
    r = requests.get(sim_url + APIG_APPS, headers={"X-Auth-Token": "MIIinvalid-token"}, timeout=hwsim.HTTP_TIMEOUT)
    assert hwsim.error_of(r) == (401, "APIG.1002"), r.text


def test_token_of_another_project_is_refused(sim_url):
    """A token scoped to the simulator's project must not operate on another project's path."""
    tok = iam_token(sim_url)
    other = "ffffffffffffffffffffffffffffffff"
    r = requests.get(f"{sim_url}/v2/{other}/apigw/instances/{APIG_INSTANCE}/apps",
                     headers={"X-Auth-Token": tok}, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code in (401, 403), r.text


def test_sdk_with_wrong_project_id_in_path_is_refused(sim_url):
    """AK/SK of one account used on a project it does not own."""
    from huaweicloudsdkapig.v2 import ApigClient, ListAppsV2Request
    c = hwsim.build_client(ApigClient, sim_url,
                           BasicCredentials(hwsim.AK, hwsim.SK, "ffffffffffffffffffffffffffffffff"))
    with pytest.raises(ClientRequestException) as ei:
        c.list_apps_v2(ListAppsV2Request(instance_id=APIG_INSTANCE))
    assert ei.value.status_code in (401, 403)


# ---- canonicalisation edge cases: the simulator's verifier must agree with the SDK's signer ----

@pytest.mark.parametrize("query", [
    [("a", "")],                                   # blank value
    [("b", "2"), ("a", "1"), ("a", "0")],          # repeated key, unsorted
    [("k y", "v/a l"), ("é", "ü")],                # space, slash, non-ASCII in keys and values
    [("x", "a&b=c")],                              # reserved characters inside a value
    [("x", "*+!'()~")],                            # sub-delims and the unreserved tilde
    [("x", ["2", "1"])],                           # a list value (multi)
    [("flag", True)],                              # booleans render as true/false
], ids=["blank", "repeated", "encoded", "reserved", "subdelims", "list", "bool"])
def test_query_canonicalisation(sim_url, query):
    r = hwsim.signed(sim_url, "GET", APIG_APPS, query=query)
    assert r.status_code == 200, r.text


def test_query_order_on_the_wire_does_not_matter(sim_url):
    req = hwsim.sign_as_sdk(hwsim.make_sdk_request("GET", sim_url, APIG_APPS, query=[("a", "1"), ("b", "2")]))
    req.uri = APIG_APPS + "?b=2&a=1"
    assert hwsim.send(req).status_code == 200


def test_raw_utf8_body_and_json_charset(sim_url, admin):
    body = json.dumps({"name": "utf8_body", "remark": "中文 ü"}, ensure_ascii=False)
    r = hwsim.signed(sim_url, "POST", APIG_APPS, body=body)
    assert r.status_code == 201, r.text
    assert r.json()["remark"] == "中文 ü"
    r = hwsim.signed(sim_url, "POST", APIG_APPS, body=json.dumps({"name": "charset_json"}),
                     content_type="application/json;charset=utf8")
    assert r.status_code == 201, r.text


def test_lowercase_header_names(sim_url):
    req = hwsim.make_sdk_request("GET", sim_url, APIG_APPS)
    req.header_params = {"x-sdk-date": hwsim.sdk_date(), "content-type": "application/json"}
    r = hwsim.send(hwsim.sign_as_sdk(req))
    assert r.status_code == 200, r.text


def test_expired_token_is_401(sim_url, admin):
    import time
    admin.config({"token_ttl_secs": 1})
    tok = iam_token(sim_url)
    time.sleep(2.2)
    r = requests.get(sim_url + APIG_APPS, headers={"X-Auth-Token": tok}, timeout=hwsim.HTTP_TIMEOUT)
    # reference §4: APIG.1001 = expired token (APIG.1002 = bad token), on every later use too
    assert hwsim.error_of(r) == (401, "APIG.1001"), r.text
    r = requests.get(sim_url + APIG_APPS, headers={"X-Auth-Token": tok}, timeout=hwsim.HTTP_TIMEOUT)
    assert hwsim.error_of(r) == (401, "APIG.1001"), r.text
    # other services: APIG.0301 (sim README)
    r = requests.get(sim_url + LIST_ENDPOINTS["modelarts"][0], headers={"X-Auth-Token": tok},
                     timeout=hwsim.HTTP_TIMEOUT)
    assert hwsim.error_of(r) == (401, "APIG.0301"), r.text
