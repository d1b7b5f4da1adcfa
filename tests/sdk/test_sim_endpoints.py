"""The simulator's own test endpoints (SPEC §7) as seen through the official SDKs: per-operation
counts, fault injection (status, error code, throttling with Retry-After, latency, commit-then-
drop), reset, and the binary's fixed command-line interface."""

import time

import pytest
import requests

import hwsim
from hwsim import APIG_INSTANCE as INST
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException, SdkException, ServerResponseException,
)
from huaweicloudsdkapig.v2 import (
    ApigClient, AppCreate, CreateAnAppV2Request, DeleteAppV2Request, ListAppsV2Request, ShowDetailsOfAppV2Request,
)


def create(apig, name):
    return apig.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(name=name)))


def test_state_shape(apig, admin):
    create(apig, "shape_app")
    st = admin.state()
    assert set(st) >= {"apps", "apis"}
    [a] = st["apps"]
    assert set(a) >= {"service", "project", "instance", "id", "name", "key", "secret"}
    assert a["service"] == "apig"


def test_counts_per_operation(apig, roma, dataarts, admin):
    from huaweicloudsdkroma.v2 import CheckRomaAppSecretRequest, CreateAppReq, CreateRomaAppRequest
    from huaweicloudsdkdataartsstudio.v1 import ListAppsRequest

    assert admin.counts().get("apig.create", 0) == 0
    c = create(apig, "counted")
    apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id))
    apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=c.id))
    r = roma.create_roma_app(CreateRomaAppRequest(instance_id=hwsim.ROMA_INSTANCE, body=CreateAppReq(name="cnt")))
    roma.check_roma_app_secret(CheckRomaAppSecretRequest(instance_id=hwsim.ROMA_INSTANCE, app_id=r.id))
    dataarts.list_apps(ListAppsRequest(workspace=hwsim.DATAARTS_WORKSPACE))
    counts = admin.counts()
    expected = {"apig.create": 1, "apig.list": 2, "apig.show": 1, "apig.delete": 1,
                "roma.create": 1, "roma.get_secret": 1, "dataarts.list": 1}
    assert {k: counts.get(k) for k in expected} == expected, counts
    # failed (unauthenticated) calls are not cloud operations
    hwsim.signed(admin.url, "GET", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps",
                 sk="wrong")
    assert admin.counts().get("apig.list") == 2
    admin.reset()
    assert admin.counts().get("apig.create", 0) == 0


def test_fault_status_and_error_code_then_recovery(apig, admin):
    admin.fault(service="apig", op="create", status=500, error_code="APIG.9999", times=1)
    with pytest.raises(ServerResponseException) as ei:
        create(apig, "faulted")
    assert (ei.value.status_code, ei.value.error_code) == (500, "APIG.9999")
    assert admin.apps("apig") == [], "a failed create must not commit"
    r = create(apig, "faulted")  # times=1: the next call goes through
    assert r.name == "faulted"


def test_fault_only_hits_its_operation(apig, admin):
    admin.fault(service="apig", op="delete", status=500, error_code="APIG.9999")
    c = create(apig, "other_ops_fine")
    apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    with pytest.raises(ServerResponseException):
        apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=c.id))
    admin.clear_faults()
    assert apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=c.id)).status_code == 204


def test_fault_throttling_with_retry_after(sim_url, apig, admin):
    admin.fault(service="apig", op="list", status=429, error_code="APIG.1101", retry_after=7, times=2)
    # The SDK's urllib3 Retry has status_forcelist=[429]: with retry_times=0 a 429 surfaces as a
    # RetryError that the SDK turns into ClientRequestException(429, error_code "429"), body unread.
    with pytest.raises(ClientRequestException) as ei:
        apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    assert ei.value.status_code == 429
    r = hwsim.signed(sim_url, "GET", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps")
    assert r.status_code == 429 and r.headers.get("Retry-After") == "7"
    assert hwsim.error_of(r) == (429, "APIG.1101")
    assert apig.list_apps_v2(ListAppsV2Request(instance_id=INST)).status_code == 200


def test_fault_latency(apig, admin):
    admin.fault(service="apig", op="list", latency_ms=400, times=1)
    t0 = time.monotonic()
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.38


def test_fault_drop_after_commit(apig, admin):
    admin.fault(service="apig", op="create", drop_after_commit=True, times=1)
    with pytest.raises(SdkException) as ei:
        create(apig, "committed_then_dropped")
    assert not isinstance(ei.value, ClientRequestException), "the connection must drop, not answer"
    [a] = admin.apps("apig")
    assert a["name"] == "committed_then_dropped", "the create was committed before the drop"
    # a retry of the create now finds the name taken: the operator must adopt instead
    with pytest.raises(ClientRequestException) as ei:
        create(apig, "committed_then_dropped")
    assert ei.value.error_code == "APIG.3203"


def test_fault_probability_zero_never_fires(apig, admin):
    admin.fault(service="apig", op="list", status=500, error_code="APIG.9999", probability=0.0)
    for _ in range(5):
        assert apig.list_apps_v2(ListAppsV2Request(instance_id=INST)).status_code == 200


def test_reset_clears_apps_apis_faults_and_counts(sim_url, apig, admin):
    create(apig, "before_reset")
    hwsim.signed(sim_url, "POST", f"/v1/{hwsim.PROJECT_ID}/app-auth/{hwsim.MODELARTS_SERVICE}/apis",
                 body={"auth_type": "APP"})
    assert admin.apps() and admin.apis()
    admin.fault(service="apig", op="list", status=500, error_code="APIG.9999")
    admin.reset()
    assert admin.apps() == [] and admin.apis() == []
    assert admin.counts() == {}
    assert apig.list_apps_v2(ListAppsV2Request(instance_id=INST)).total == 0  # fault gone


def test_unique_names_can_be_turned_off_for_apig(apig, admin):
    admin.config({"unique_names": {"apig": False}})
    a, b = create(apig, "twin_apig"), create(apig, "twin_apig")
    assert a.id != b.id


def test_binary_flags_set_the_account():
    """`hwcloud-sim --listen ... --access-key --secret-key --project-id --iam-*` (SPEC §7)."""
    ak, sk, pid = "FLAGAK00000000000001", "flag-secret-key-000000000000000000000001", "11111111111111111111111111111111"
    proc = hwsim.SimProcess(["--access-key", ak, "--secret-key", sk, "--project-id", pid,
                             "--iam-domain", "flag-domain", "--iam-user", "flag-user",
                             "--iam-password", "flag-password"])
    try:
        ok = hwsim.build_client(ApigClient, proc.url, BasicCredentials(ak, sk, pid))
        assert ok.list_apps_v2(ListAppsV2Request(instance_id=INST)).status_code == 200
        default = hwsim.build_client(ApigClient, proc.url)
        with pytest.raises(ClientRequestException) as ei:
            default.list_apps_v2(ListAppsV2Request(instance_id=INST))
        assert ei.value.status_code == 401
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "flag-user", "password": "flag-password", "domain": {"name": "flag-domain"}}}},
            "scope": {"project": {"id": pid}}}}
        r = requests.post(f"{proc.url}/v3/auth/tokens", json=body, timeout=hwsim.HTTP_TIMEOUT)
        assert r.status_code == 201, r.text
        assert r.json()["token"]["project"]["id"] == pid
    finally:
        proc.stop()


def test_binary_env_fallbacks_set_the_account():
    ak, sk, pid = "ENVAK000000000000001", "env-secret-key-0000000000000000000000001", "22222222222222222222222222222222"
    proc = hwsim.SimProcess(env={"HWCLOUD_SIM_ACCESS_KEY": ak, "HWCLOUD_SIM_SECRET_KEY": sk,
                                 "HWCLOUD_SIM_PROJECT_ID": pid})
    try:
        c = hwsim.build_client(ApigClient, proc.url, BasicCredentials(ak, sk, pid))
        assert c.list_apps_v2(ListAppsV2Request(instance_id=INST)).status_code == 200
    finally:
        proc.stop()


def _unique(prefix):
    import uuid
    return prefix + uuid.uuid4().hex[:12].upper()


def test_second_account_is_isolated(sim_url, apig, admin):
    """POST /_sim/accounts adds an account (accounts survive /_sim/reset, hence unique keys)."""
    ak, sk, pid = _unique("ACCTAK"), _unique("acct-sk-"), _unique("p") + "0" * 19
    domain, user, pw = _unique("dom-"), "acct-user", "acct-password"
    r = admin.account(access_key=ak, secret_key=sk, project_id=pid, domain=domain, user=user, password=pw)
    assert r.status_code == 201, r.text
    assert "secret_key" not in r.json() and "password" not in r.json()

    other = hwsim.build_client(ApigClient, sim_url, BasicCredentials(ak, sk, pid))
    mine = create(apig, "default_account_app")
    theirs = other.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(name="other_account_app")))
    assert admin.app("apig", theirs.id)["project"] == pid
    assert admin.app("apig", mine.id)["project"] == hwsim.PROJECT_ID
    assert [a.id for a in apig.list_apps_v2(ListAppsV2Request(instance_id=INST)).apps] == [mine.id]
    assert [a.id for a in other.list_apps_v2(ListAppsV2Request(instance_id=INST)).apps] == [theirs.id]
    # the default account cannot reach the other project, nor see its app
    cross = hwsim.build_client(ApigClient, sim_url, BasicCredentials(hwsim.AK, hwsim.SK, pid))
    with pytest.raises(ClientRequestException) as ei:
        cross.list_apps_v2(ListAppsV2Request(instance_id=INST))
    assert ei.value.status_code in (401, 403)
    with pytest.raises(ClientRequestException) as ei:
        apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=theirs.id))
    assert (ei.value.status_code, ei.value.error_code) == (404, "APIG.3004")
    # the same name in another project is not a duplicate
    other.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(name="default_account_app")))
    # its IAM user gets a token scoped to its own project
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": pw, "domain": {"name": domain}}}}, "scope": {"project": {"id": pid}}}}
    t = requests.post(f"{sim_url}/v3/auth/tokens", json=body, timeout=hwsim.HTTP_TIMEOUT)
    assert t.status_code == 201, t.text
    assert t.json()["token"]["project"]["id"] == pid
    assert t.json()["token"]["user"]["name"] == user
    # a duplicate access key is refused
    assert admin.account(access_key=ak, secret_key="x", project_id=pid,
                         domain=_unique("d-"), user="u").status_code == 409


def test_temporary_credentials_need_their_security_token(sim_url, admin):
    ak, sk, pid, tok = _unique("STSAK"), _unique("sts-sk-"), _unique("s") + "0" * 19, _unique("sts-token-")
    r = admin.account(access_key=ak, secret_key=sk, project_id=pid, security_token=tok,
                      domain=_unique("sts-dom-"), user="sts-user")
    assert r.status_code == 201, r.text
    good = hwsim.build_client(ApigClient, sim_url, BasicCredentials(ak, sk, pid).with_security_token(tok))
    assert good.list_apps_v2(ListAppsV2Request(instance_id=INST)).status_code == 200
    for creds in (BasicCredentials(ak, sk, pid), BasicCredentials(ak, sk, pid).with_security_token("wrong")):
        c = hwsim.build_client(ApigClient, sim_url, creds)
        with pytest.raises(ClientRequestException) as ei:
            c.list_apps_v2(ListAppsV2Request(instance_id=INST))
        assert (ei.value.status_code, ei.value.error_code) == (401, "APIG.0301")
    # The SDK signs X-Security-Token; the right value sent outside SignedHeaders is refused.
    path = f"/v2/{pid}/apigw/instances/{INST}/apps"
    signed = hwsim.sign_as_sdk(hwsim.make_sdk_request("GET", sim_url, path),
                               ak=ak, sk=sk, project_id=pid)
    assert "x-security-token" not in signed.header_params["Authorization"]
    signed.header_params["X-Security-Token"] = tok
    r = hwsim.send(signed)
    assert hwsim.error_of(r) == (401, "APIG.0301"), r.text
    # ... and signed as the SDK does it, it is accepted.
    req = hwsim.make_sdk_request("GET", sim_url, path)
    req = BasicCredentials(ak, sk, pid).with_security_token(tok).sign_request(req)
    assert "x-security-token" in req.header_params["Authorization"]
    assert hwsim.send(req).status_code == 200


def test_counts_name_every_app_operation(apig, roma, dataarts, admin):
    """/_sim/counts keys for every APIG, ROMA and DataArts operation the SDKs call here."""
    from huaweicloudsdkapig.v2 import (
        AppCodeCreate, AppResetCreate, CheckAppV2Request, CreateAppCodeAutoV2Request, CreateAppCodeV2Request,
        DeleteAppCodeV2Request, ListAppCodesV2Request, ResettingAppSecretV2Request,
        ShowDetailsOfAppCodeV2Request, UpdateAppV2Request,
    )
    from huaweicloudsdkroma.v2 import (
        CheckRomaAppDetailsRequest, CheckRomaAppSecretRequest, CreateAppReq, CreateRomaAppRequest,
        DeleteRomaAppRequest, ListRomaAppRequest, ResetRomaAppSecretRequest, ShowDetailsOfAppV2Request,
        UpdateAppReq, UpdateAppSecretReq, UpdateRomaAppRequest, ValidateRomaAppRequest,
    )
    from huaweicloudsdkdataartsstudio.v1 import (
        AppRequestDTO, AppUpdateDTO, CreateAppRequest, DeleteAppRequest, ListAppsRequest, ShowAppInfoRequest,
        UpdateAppRequest,
    )
    a = create(apig, "cnt_apig")
    apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=a.id))
    apig.update_app_v2(UpdateAppV2Request(instance_id=INST, app_id=a.id, body=AppCreate(name="cnt_apig2")))
    apig.resetting_app_secret_v2(ResettingAppSecretV2Request(instance_id=INST, app_id=a.id, body=AppResetCreate()))
    apig.check_app_v2(CheckAppV2Request(instance_id=INST, app_id=a.id))
    c = apig.create_app_code_v2(CreateAppCodeV2Request(instance_id=INST, app_id=a.id,
                                                       body=AppCodeCreate(app_code="C" * 64)))
    apig.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=INST, app_id=a.id))
    apig.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=a.id))
    apig.show_details_of_app_code_v2(ShowDetailsOfAppCodeV2Request(instance_id=INST, app_id=a.id, app_code_id=c.id))
    apig.delete_app_code_v2(DeleteAppCodeV2Request(instance_id=INST, app_id=a.id, app_code_id=c.id))
    apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=a.id))

    RI = hwsim.ROMA_INSTANCE
    r = roma.create_roma_app(CreateRomaAppRequest(instance_id=RI, body=CreateAppReq(name="cnt_roma")))
    roma.list_roma_app(ListRomaAppRequest(instance_id=RI))
    roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=RI, app_id=r.id))
    roma.validate_roma_app(ValidateRomaAppRequest(instance_id=RI, name="cnt_roma"))
    roma.check_roma_app_secret(CheckRomaAppSecretRequest(instance_id=RI, app_id=r.id))
    roma.reset_roma_app_secret(ResetRomaAppSecretRequest(instance_id=RI, app_id=r.id, body=UpdateAppSecretReq()))
    roma.update_roma_app(UpdateRomaAppRequest(instance_id=RI, app_id=r.id, body=UpdateAppReq(name="cnt_roma2")))
    roma.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=RI, app_id=r.id))
    roma.delete_roma_app(DeleteRomaAppRequest(instance_id=RI, app_id=r.id))

    W = hwsim.DATAARTS_WORKSPACE
    d = dataarts.create_app(CreateAppRequest(workspace=W, body=AppRequestDTO(app_type="APP", name="cnt_da")))
    dataarts.list_apps(ListAppsRequest(workspace=W))
    dataarts.show_app_info(ShowAppInfoRequest(workspace=W, app_id=d.id))
    dataarts.update_app(UpdateAppRequest(workspace=W, app_id=d.id, body=AppUpdateDTO(name="cnt_da2")))
    dataarts.delete_app(DeleteAppRequest(workspace=W, app_id=d.id))

    expected = {f"apig.{op}": 1 for op in (
        "create", "list", "show", "update", "reset_secret", "validate", "create_app_code", "generate_app_code",
        "list_app_codes", "show_app_code", "delete_app_code", "delete")}
    expected.update({f"roma.{op}": 1 for op in (
        "create", "list", "show", "validate", "get_secret", "reset_secret", "update", "apic_show", "delete")})
    expected.update({f"dataarts.{op}": 1 for op in ("create", "list", "show", "update", "delete")})
    counts = {k: v for k, v in admin.counts().items() if k.split(".")[0] in ("apig", "roma", "dataarts")}
    assert counts == expected
