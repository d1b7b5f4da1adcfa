"""IAM through the official SDK (huaweicloudsdkiam.v3), reference §8: password tokens, token
validation, project listing, and the SDK's own project-id discovery against the simulator."""

import datetime as dt

import pytest
import requests
from dateutil.parser import isoparse

import hwsim
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkiam.v3 import (
    AuthScope, AuthScopeDomain, AuthScopeProject, KeystoneCreateUserTokenByPasswordRequest,
    KeystoneCreateUserTokenByPasswordRequestBody, KeystoneListAuthDomainsRequest, KeystoneListAuthProjectsRequest,
    KeystoneListProjectsRequest, KeystoneValidateTokenRequest,
    PwdAuth, PwdIdentity, PwdPassword, PwdPasswordUser, PwdPasswordUserDomain,
)


def token_request(password=hwsim.IAM_PASSWORD, user=hwsim.IAM_USER, domain=hwsim.IAM_DOMAIN,
                  project=AuthScopeProject(name=hwsim.REGION), scope=None, nocatalog="true"):
    return KeystoneCreateUserTokenByPasswordRequest(
        nocatalog=nocatalog,
        body=KeystoneCreateUserTokenByPasswordRequestBody(auth=PwdAuth(
            identity=PwdIdentity(methods=["password"], password=PwdPassword(user=PwdPasswordUser(
                domain=PwdPasswordUserDomain(name=domain), name=user, password=password))),
            scope=scope or AuthScope(project=project))))


def get_token(iam):
    return iam.keystone_create_user_token_by_password(token_request()).x_subject_token


def utc(s):
    t = isoparse(s)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def test_password_token(iam, admin):
    r = iam.keystone_create_user_token_by_password(token_request())
    assert r.status_code == 201
    assert r.x_subject_token and len(r.x_subject_token) >= 16
    t = r.token
    now = dt.datetime.now(dt.timezone.utc)
    expires = utc(t.expires_at)
    assert now + dt.timedelta(hours=1) < expires <= now + dt.timedelta(hours=24, minutes=5), t.expires_at
    if t.issued_at:
        assert abs((utc(t.issued_at) - now).total_seconds()) < 300
    assert t.methods == ["password"]
    assert t.user.name == hwsim.IAM_USER and t.user.id
    assert t.user.domain.name == hwsim.IAM_DOMAIN and t.user.domain.id
    assert t.project.id == hwsim.PROJECT_ID and t.project.name == hwsim.REGION
    assert admin.counts().get("iam.token") == 1


def test_password_token_scoped_by_project_id(iam):
    r = iam.keystone_create_user_token_by_password(token_request(project=AuthScopeProject(id=hwsim.PROJECT_ID)))
    assert r.token.project.id == hwsim.PROJECT_ID and r.token.project.name == hwsim.REGION


@pytest.mark.parametrize("what", ["password", "user", "domain"])
def test_wrong_credentials_are_401(iam, what):
    kw = {what: "wrong-" + what}
    with pytest.raises(ClientRequestException) as ei:
        iam.keystone_create_user_token_by_password(token_request(**kw))
    assert ei.value.status_code == 401, f"{ei.value.status_code} {ei.value.error_code} {ei.value.error_msg}"
    # Keystone's error body {"error": {"code": 401, "message": ..., "title": ...}}, which the SDK
    # reads into error_code / error_msg.
    assert str(ei.value.error_code) in ("401", "IAM.0101", "IAM.0102") and ei.value.error_msg


def test_token_request_without_signature_works(sim_url):
    """Obtaining a token needs no AK/SK (the docs' curl example sends none)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": hwsim.IAM_USER, "password": hwsim.IAM_PASSWORD, "domain": {"name": hwsim.IAM_DOMAIN}}}},
        "scope": {"project": {"name": hwsim.REGION}}}}
    r = requests.post(f"{sim_url}/v3/auth/tokens", json=body, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    assert r.headers.get("X-Subject-Token")
    assert r.json()["token"]["project"]["id"] == hwsim.PROJECT_ID


def test_validate_token(iam):
    tok = get_token(iam)
    r = iam.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token=tok, nocatalog="true"))
    assert r.status_code == 200
    assert r.token.user.name == hwsim.IAM_USER and r.token.project.id == hwsim.PROJECT_ID
    assert utc(r.token.expires_at) > dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ClientRequestException) as ei:
        iam.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token="not-a-token"))
    assert ei.value.status_code == 404, "Keystone: an unknown subject token is 404"


def test_list_projects(iam, admin):
    r = iam.keystone_list_projects(KeystoneListProjectsRequest(name=hwsim.REGION))
    assert r.status_code == 200
    assert [(p.id, p.name) for p in r.projects] == [(hwsim.PROJECT_ID, hwsim.REGION)]
    assert admin.counts().get("iam.projects") == 1
    r = iam.keystone_list_projects(KeystoneListProjectsRequest(name="no-such-region-9"))
    assert r.projects == []


def test_sdk_discovers_project_id_through_iam(sim_url, admin):
    """BasicCredentials without a project id plus a Region: the SDK asks IAM
    (GET /v3/projects?name={region}, signed) and then uses the answer in every path."""
    from huaweicloudsdkapig.v2 import ApigClient, ListAppsV2Request
    BasicCredentials._CACHE.pop(hwsim.AK + hwsim.REGION, None)  # the SDK caches per AK+region
    creds = BasicCredentials(hwsim.AK, hwsim.SK).with_iam_endpoint(sim_url)
    client = (ApigClient.new_builder()
              .with_http_config(hwsim.http_config())
              .with_credentials(creds)
              .with_region(Region(hwsim.REGION, sim_url))
              .with_http_handler(HttpHandler().add_request_handler(hwsim.loopback_guard))
              .build())
    assert creds.project_id == hwsim.PROJECT_ID
    r = client.list_apps_v2(ListAppsV2Request(instance_id=hwsim.APIG_INSTANCE))
    assert r.status_code == 200 and r.total == 0
    counts = admin.counts()
    assert counts.get("iam.projects") == 1 and counts.get("apig.list") == 1
    BasicCredentials._CACHE.pop(hwsim.AK + hwsim.REGION, None)


def test_token_with_catalog_parses(iam):
    r = iam.keystone_create_user_token_by_password(token_request(nocatalog=None))
    assert r.status_code == 201 and r.x_subject_token
    assert isinstance(r.token.catalog, list) and isinstance(r.token.roles, list)


def test_domain_scoped_token(iam, sim_url):
    r = iam.keystone_create_user_token_by_password(
        token_request(scope=AuthScope(domain=AuthScopeDomain(name=hwsim.IAM_DOMAIN))))
    assert r.status_code == 201
    assert r.token.domain.name == hwsim.IAM_DOMAIN and r.token.domain.id
    assert r.token.project is None
    # A domain-scoped token does not authorize project-scoped service APIs: APIG answers its
    # bad-token code APIG.1002, the other services APIG.0301 (sim README).
    headers = {"X-Auth-Token": r.x_subject_token}
    apps = f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{hwsim.APIG_INSTANCE}/apps"
    resp = requests.get(sim_url + apps, headers=headers, timeout=hwsim.HTTP_TIMEOUT)
    assert hwsim.error_of(resp) == (401, "APIG.1002"), resp.text
    resp = requests.post(sim_url + apps, json={"name": "domain_token_app"}, headers=headers,
                         timeout=hwsim.HTTP_TIMEOUT)
    assert hwsim.error_of(resp) == (401, "APIG.1002"), resp.text
    for path, extra in (
        (f"/v1/{hwsim.PROJECT_ID}/app-auth/apps", {}),
        (f"/v1/{hwsim.PROJECT_ID}/service/apps", {"workspace": hwsim.DATAARTS_WORKSPACE}),
        (f"/v2/{hwsim.PROJECT_ID}/instances/{hwsim.ROMA_INSTANCE}/apps", {}),
    ):
        resp = requests.get(sim_url + path, headers={**headers, **extra}, timeout=hwsim.HTTP_TIMEOUT)
        assert hwsim.error_of(resp) == (401, "APIG.0301"), f"{path}: {resp.text}"
    # IAM itself accepts the domain-scoped token.
    v = iam.keystone_validate_token(KeystoneValidateTokenRequest(x_subject_token=r.x_subject_token))
    assert v.status_code == 200 and v.token.domain.name == hwsim.IAM_DOMAIN
    resp = requests.get(sim_url + "/v3/auth/domains", headers=headers, timeout=hwsim.HTTP_TIMEOUT)
    assert resp.status_code == 200, resp.text


def test_list_auth_projects_and_domains(iam):
    r = iam.keystone_list_auth_projects(KeystoneListAuthProjectsRequest())
    assert r.status_code == 200
    assert [(p.id, p.name) for p in r.projects] == [(hwsim.PROJECT_ID, hwsim.REGION)]
    d = iam.keystone_list_auth_domains(KeystoneListAuthDomainsRequest())
    assert d.status_code == 200
    assert [x.name for x in d.domains] == [hwsim.IAM_DOMAIN] and d.domains[0].id
    assert r.projects[0].domain_id == d.domains[0].id
