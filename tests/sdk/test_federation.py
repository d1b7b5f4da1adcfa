"""Credentials without long-lived keys, through the official SDK's own code paths:
EnvCredentialProvider with HUAWEICLOUD_SDK_IDP_ID + HUAWEICLOUD_SDK_ID_TOKEN_FILE (FederalAccessor:
POST /v3.0/OS-AUTH/id-token/tokens, then POST /v3.0/OS-CREDENTIAL/securitytokens, then AK/SK
signing with a signed X-Security-Token), its project-id discovery with those temporary
credentials, and PodIdentityCredentialProvider (POST to HC_CONTAINER_CREDENTIALS_FULL_URI).
ID tokens come from the simulator's test issuer (/_sim/testing/id-token)."""

import uuid

import pytest

import hwsim
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.auth.provider import EnvCredentialProvider, PodIdentityCredentialProvider
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.region.region import Region

ISS = "https://issuer.sdk.test"
CLIENT_ID = "appauth"
SUB = "system:serviceaccount:ns1:operator"


@pytest.fixture
def idp(admin):
    """A fresh identity provider trusting the test issuer (the SDK caches project ids per
    idp id + region, so each test gets its own id)."""
    idp_id = "sdk-" + uuid.uuid4().hex[:8]
    admin.identity_provider(idp_id, {
        "issuer": ISS, "client_id": CLIENT_ID, "jwks": admin.jwks(),
        "mappings": [{"sub": "system:serviceaccount:ns1:*", "user": hwsim.IAM_USER}]})
    admin.clear_exchanges()
    return idp_id


@pytest.fixture
def federated_env(monkeypatch, tmp_path, admin, idp, sim_url):
    """The SDK's federation environment; returns a function writing the token file."""
    token_file = tmp_path / "id-token"

    def write(token):
        token_file.write_text(token)

    write(admin.mint(ISS, CLIENT_ID, SUB))
    monkeypatch.setenv("HUAWEICLOUD_SDK_IDP_ID", idp)
    monkeypatch.setenv("HUAWEICLOUD_SDK_ID_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim_url)
    return write


def apig_client(sim_url, creds, region=False):
    from huaweicloudsdkapig.v2 import ApigClient
    if not region:
        return hwsim.build_client(ApigClient, sim_url, credentials=creds)
    return (ApigClient.new_builder()
            .with_http_config(hwsim.http_config())
            .with_credentials(creds)
            .with_region(Region(hwsim.REGION, sim_url))
            .with_http_handler(HttpHandler().add_request_handler(hwsim.loopback_guard))
            .build())


def list_apps(client):
    from huaweicloudsdkapig.v2 import ListAppsV2Request
    return client.list_apps_v2(ListAppsV2Request(instance_id=hwsim.APIG_INSTANCE))


def test_env_federation_signs_apig_calls_with_temporary_credentials(
        monkeypatch, sim_url, admin, idp, federated_env):
    from huaweicloudsdkapig.v2 import AppCreate, CreateAnAppV2Request
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", hwsim.PROJECT_ID)
    creds = EnvCredentialProvider.get_basic().get_credentials()
    assert creds.idp_id == idp and creds.ak is None
    client = apig_client(sim_url, creds)
    created = client.create_an_app_v2(CreateAnAppV2Request(
        instance_id=hwsim.APIG_INSTANCE, body=AppCreate(name="federated_app")))
    assert created.status_code == 201
    assert creds.ak.startswith("HWSIMTMP") and creds.security_token
    assert admin.app("apig", created.id)["user_name"] == hwsim.IAM_USER
    assert list_apps(client).total == 1

    records = admin.exchanges()
    kinds = [(r["kind"], r["outcome"]) for r in records]
    # The SDK asks for 6 h; without a cap that outlives its 40-minute refresh margin, so one
    # exchange serves both calls.
    assert kinds == [("id_token", "ok"), ("security_token", "ok")], records
    assert records[0]["idp_id"] == idp and records[0]["sub"] == SUB
    assert records[0]["aud"] == [CLIENT_ID]
    counts = admin.counts()
    assert counts.get("iam.id_token") == 1 and counts.get("iam.security_token") == 1
    assert not any(k.endswith(".security_token_expired") for k in counts), counts


def test_sdk_discovers_the_project_id_with_federated_credentials(sim_url, admin, idp, federated_env):
    """No HUAWEICLOUD_SDK_PROJECT_ID: the SDK exchanges the ID token, then asks
    GET /v3/projects?name={region} signed with the temporary credentials."""
    creds = EnvCredentialProvider.get_basic().get_credentials()
    assert creds.project_id is None
    client = apig_client(sim_url, creds, region=True)
    assert creds.project_id == hwsim.PROJECT_ID
    assert list_apps(client).status_code == 200
    counts = admin.counts()
    assert counts.get("iam.projects") == 1 and counts.get("apig.list") == 1
    BasicCredentials._CACHE.pop(idp + hwsim.REGION, None)


def test_short_credentials_are_refreshed_and_the_token_file_reread(
        monkeypatch, sim_url, admin, idp, federated_env):
    """Credentials shorter than the SDK's 40-minute margin are renewed before every call, each
    time from the token file as it is then (kubelet rotates projected tokens)."""
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", hwsim.PROJECT_ID)
    admin.config({"temporary_credential_max_secs": 900})
    client = apig_client(sim_url, EnvCredentialProvider.get_basic().get_credentials())
    assert list_apps(client).status_code == 200
    federated_env(admin.mint(ISS, CLIENT_ID, "system:serviceaccount:ns1:rotated"))
    assert list_apps(client).status_code == 200
    subs = [r["sub"] for r in admin.exchanges() if r["kind"] == "id_token"]
    assert subs == [SUB, "system:serviceaccount:ns1:rotated"]


def test_a_refused_id_token_surfaces_as_the_sdk_error(monkeypatch, sim_url, admin, idp, federated_env):
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", hwsim.PROJECT_ID)
    token = admin.mint(ISS, "someone-else", SUB)
    federated_env(token)
    client = apig_client(sim_url, EnvCredentialProvider.get_basic().get_credentials())
    with pytest.raises(ClientRequestException) as e:
        list_apps(client)
    assert e.value.status_code == 401
    assert e.value.error_code == "IAM.0001"
    assert f"audience does not include the client id {CLIENT_ID}" in e.value.error_msg
    assert token not in e.value.error_msg
    records = admin.exchanges()
    assert [(r["kind"], r["outcome"], r["code"]) for r in records] == [("id_token", "refused", "IAM.0001")]
    assert admin.counts().get("apig.list") is None, "no service call was made"


def test_an_unmapped_subject_is_forbidden(monkeypatch, sim_url, admin, idp, federated_env):
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", hwsim.PROJECT_ID)
    federated_env(admin.mint(ISS, CLIENT_ID, "system:serviceaccount:other:op"))
    client = apig_client(sim_url, EnvCredentialProvider.get_basic().get_credentials())
    with pytest.raises(ClientRequestException) as e:
        list_apps(client)
    assert (e.value.status_code, e.value.error_code) == (403, "IAM.0003")


def test_iam_client_lists_projects_through_federation(monkeypatch, sim_url, admin, idp, federated_env):
    from huaweicloudsdkiam.v3 import IamClient, KeystoneListProjectsRequest
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", hwsim.PROJECT_ID)
    iam = hwsim.build_client(IamClient, sim_url, credentials=EnvCredentialProvider.get_basic().get_credentials())
    r = iam.keystone_list_projects(KeystoneListProjectsRequest(name=hwsim.REGION))
    assert [p.id for p in r.projects] == [hwsim.PROJECT_ID]


def test_pod_identity_provider(monkeypatch, tmp_path, sim_url, admin):
    """PodIdentityCredentialProvider: POST {} with Authorization: <token file contents>."""
    admin.pod_identity({"issuer": ISS, "jwks": admin.jwks(), "associations": [
        {"namespace": "ns1", "service_account": "sa1", "user": hwsim.IAM_USER}]})
    admin.clear_exchanges()
    token_file = tmp_path / "token"
    token_file.write_text(admin.mint(ISS, ["service.cce.pods"], "system:serviceaccount:ns1:sa1") + "\n")
    monkeypatch.setenv("HC_CONTAINER_CREDENTIALS_FULL_URI", sim_url + "/cce-pod-identity/v1/credentials")
    monkeypatch.setenv("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    creds = PodIdentityCredentialProvider.get_basic().get_credentials()
    assert creds.ak.startswith("HWSIMTMP") and creds.security_token
    client = apig_client(sim_url, creds, region=True)  # project id discovered with these keys
    assert creds.project_id == hwsim.PROJECT_ID
    assert list_apps(client).status_code == 200
    records = admin.exchanges()
    assert [(r["kind"], r["outcome"], r["sub"]) for r in records] == [
        ("pod_identity", "ok", "system:serviceaccount:ns1:sa1")]
    BasicCredentials._CACHE.pop(creds.ak + hwsim.REGION, None)

    # A token for another ServiceAccount: the provider raises the SDK's error.
    token_file.write_text(admin.mint(ISS, ["service.cce.pods"], "system:serviceaccount:ns1:other"))
    from huaweicloudsdkcore.exceptions.exceptions import SdkException
    with pytest.raises(SdkException) as e:
        PodIdentityCredentialProvider.get_basic().get_credentials()
    assert "403" in str(e.value)
    admin.pod_identity(None)
