"""The simulator's credential check (SPEC §7): a request under /_sim/gateway/ signed with an app's
key and secret by the SDK's signer (Access = app key) answers 200 while the app exists with that
secret, 401 otherwise. Apps come from each service's create call."""

import pytest

import hwsim
from hwsim import APIG_INSTANCE, DATAARTS_WORKSPACE, PROJECT_ID, ROMA_INSTANCE
from huaweicloudsdkapig.v2 import (
    AppCreate, AppResetCreate, CreateAnAppV2Request, DeleteAppV2Request, ResettingAppSecretV2Request,
)


def gw(sim_url, key, secret, method="GET", path="/_sim/gateway/ping", query=None, body=None):
    # App credentials are signed like any SDK request, without X-Project-Id (the app is not an
    # IAM identity).
    return hwsim.signed(sim_url, method, path, query=query, body=body, ak=key, sk=secret, project_id=None)


def test_apig_app_credentials_reset_and_delete(sim_url, apig):
    app = apig.create_an_app_v2(CreateAnAppV2Request(instance_id=APIG_INSTANCE, body=AppCreate(name="gw_app")))
    ok = gw(sim_url, app.app_key, app.app_secret)
    assert ok.status_code == 200
    assert ok.json().get("app_id", app.id) == app.id
    assert gw(sim_url, app.app_key, app.app_secret, "POST", "/_sim/gateway/v1/infers/x",
              query=[("a", "1 2"), ("b", "/")], body={"input": "ü"}).status_code == 200
    assert gw(sim_url, app.app_key, app.app_secret + "x").status_code == 401
    assert gw(sim_url, "no-such-app-key", app.app_secret).status_code == 401

    new = apig.resetting_app_secret_v2(ResettingAppSecretV2Request(
        instance_id=APIG_INSTANCE, app_id=app.id, body=AppResetCreate()))
    assert gw(sim_url, app.app_key, app.app_secret).status_code == 401, "the old secret must stop working"
    assert gw(sim_url, app.app_key, new.app_secret).status_code == 200

    apig.delete_app_v2(DeleteAppV2Request(instance_id=APIG_INSTANCE, app_id=app.id))
    assert gw(sim_url, app.app_key, new.app_secret).status_code == 401


def test_custom_key_and_secret_work_on_the_gateway(sim_url, apig):
    apig.create_an_app_v2(CreateAnAppV2Request(instance_id=APIG_INSTANCE, body=AppCreate(
        name="gw_custom", app_key="gw-custom-key-01", app_secret="Gw_Custom!@#$%01")))
    assert gw(sim_url, "gw-custom-key-01", "Gw_Custom!@#$%01").status_code == 200


def test_stale_date_on_the_gateway_is_401(sim_url, apig):
    import datetime as dt
    app = apig.create_an_app_v2(CreateAnAppV2Request(instance_id=APIG_INSTANCE, body=AppCreate(name="gw_stale")))
    r = hwsim.signed(sim_url, "GET", "/_sim/gateway/ping", ak=app.app_key, sk=app.app_secret, project_id=None,
                     headers={"X-Sdk-Date": hwsim.sdk_date(dt.timedelta(minutes=-16))})
    assert r.status_code == 401


def test_roma_app_credentials(sim_url, roma):
    from huaweicloudsdkroma.v2 import (
        CheckRomaAppSecretRequest, CreateAppReq, CreateRomaAppRequest, ResetRomaAppSecretRequest,
        UpdateAppSecretReq,
    )
    app = roma.create_roma_app(CreateRomaAppRequest(instance_id=ROMA_INSTANCE, body=CreateAppReq(name="gw_roma")))
    secret = roma.check_roma_app_secret(CheckRomaAppSecretRequest(instance_id=ROMA_INSTANCE, app_id=app.id)).secret
    assert gw(sim_url, app.key, secret).status_code == 200
    new = roma.reset_roma_app_secret(ResetRomaAppSecretRequest(
        instance_id=ROMA_INSTANCE, app_id=app.id, body=UpdateAppSecretReq())).secret
    assert gw(sim_url, app.key, secret).status_code == 401
    assert gw(sim_url, app.key, new).status_code == 200


def test_dataarts_app_credentials(sim_url, dataarts):
    from huaweicloudsdkdataartsstudio.v1 import AppRequestDTO, CreateAppRequest, DeleteAppRequest
    app = dataarts.create_app(CreateAppRequest(workspace=DATAARTS_WORKSPACE, dlm_type="SHARED",
                                               body=AppRequestDTO(app_type="APP", name="gw_dataarts")))
    assert gw(sim_url, app.app_key, app.app_secret).status_code == 200
    dataarts.delete_app(DeleteAppRequest(workspace=DATAARTS_WORKSPACE, dlm_type="SHARED", app_id=app.id))
    assert gw(sim_url, app.app_key, app.app_secret).status_code == 401


def test_modelarts_app_credentials(sim_url):
    r = hwsim.signed(sim_url, "POST", f"/v1/{PROJECT_ID}/app-auth/apps", body={"app_name": "gw_modelarts"})
    assert r.status_code == 200, r.text
    app = r.json()["app"]
    assert gw(sim_url, app["app_key"], app["app_secret"]).status_code == 200
    r = hwsim.signed(sim_url, "PUT", f"/v1/{PROJECT_ID}/app-auth/apps/{app['app_id']}/app-secret",
                     body={"app_name": "gw_modelarts"})
    assert r.status_code == 200, r.text
    assert gw(sim_url, app["app_key"], app["app_secret"]).status_code == 401
    assert gw(sim_url, app["app_key"], r.json()["app"]["app_secret"]).status_code == 200


def test_account_credentials_are_not_app_credentials(sim_url):
    assert gw(sim_url, hwsim.AK, hwsim.SK).status_code == 401


@pytest.mark.parametrize("auth", [None, "SDK-HMAC-SHA256 garbage"])
def test_unsigned_or_malformed_is_401(sim_url, auth):
    import requests
    headers = {"Authorization": auth} if auth else {}
    r = requests.get(f"{sim_url}/_sim/gateway/ping", headers=headers, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 401


def test_app_code_on_the_gateway(sim_url, apig):
    """X-Apig-AppCode (simple authentication, no signature) works while the AppCode exists."""
    import requests
    from huaweicloudsdkapig.v2 import CreateAppCodeAutoV2Request, DeleteAppCodeV2Request
    app = apig.create_an_app_v2(CreateAnAppV2Request(instance_id=APIG_INSTANCE, body=AppCreate(name="gw_code")))
    code = apig.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=APIG_INSTANCE, app_id=app.id))
    url = f"{sim_url}/_sim/gateway/ping"
    r = requests.get(url, headers={"X-Apig-AppCode": code.app_code}, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    apig.delete_app_code_v2(DeleteAppCodeV2Request(instance_id=APIG_INSTANCE, app_id=app.id, app_code_id=code.id))
    r = requests.get(url, headers={"X-Apig-AppCode": code.app_code}, timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 401
