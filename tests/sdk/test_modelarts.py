"""ModelArts app-auth apps and APIs (reference §1, §2). No official SDK implements these
endpoints, so the requests are made by hand and signed with the SDK's own signer
(huaweicloudsdkcore Signer via BasicCredentials.sign_request, see hwsim.sign_as_sdk), exactly as
an SDK client would sign them."""

import pytest

import hwsim
from hwsim import MODELARTS_SERVICE as SVC
from hwsim import PROJECT_ID as P


def ma(sim_url, method, path, query=None, body=None):
    return hwsim.signed(sim_url, method, f"/v1/{P}{path}", query=query, body=body)


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def err(resp, status, code):
    assert hwsim.error_of(resp) == (status, code), f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text}"
    assert resp.json().get("error_msg")


def create_app(sim_url, name, remark=""):
    return ok(ma(sim_url, "POST", "/app-auth/apps", body={"app_name": name, "app_remark": remark}))["app"]


def create_api(sim_url, service=SVC, **body):
    body.setdefault("auth_type", "APP")
    return ok(ma(sim_url, "POST", f"/app-auth/{service}/apis", body=body))["api"]


def apps_body(*ids):
    return {"apps": [{"app_id": i} for i in ids], "workspace_id": "0"}


def is_masked(secret, real):
    return secret != real and "*" in (secret or "")


def test_create_app(sim_url, admin):
    a = create_app(sim_url, "app_c8ae", "remark 1")
    assert a["app_id"] and a["app_name"] == "app_c8ae" and a["app_remark"] == "remark 1"
    assert a["app_key"] and a["app_secret"] and "*" not in a["app_secret"]
    assert a["project_id"] == P and a["user_id"]
    assert a["app_type"] in ("APIG", "DEDICATE_APIG", "APIC")
    assert a["app_codes"] == [] and a["bounded_api_count"] == 0
    assert isinstance(a["created_at"], int) and isinstance(a["updated_at"], int)
    assert a["created_at"] > 1_500_000_000_000, "epoch milliseconds"
    s = admin.app("modelarts", a["app_id"])
    assert (s["project"], s["name"], s["key"], s["secret"]) == (P, "app_c8ae", a["app_key"], a["app_secret"])
    assert s["instance"] == "0", "the workspace is the instance; workspace_id defaults to 0"
    assert s.get("remark", "remark 1") == "remark 1"


def test_create_app_requires_a_name(sim_url, admin):
    # The code for a missing name is not in the reference: check the status and the code family.
    r = ma(sim_url, "POST", "/app-auth/apps", body={"app_remark": "no name"})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"].startswith("ModelArts.")
    assert admin.apps("modelarts") == []


def test_exists_by_name(sim_url):
    create_app(sim_url, "exists_app")
    assert ok(ma(sim_url, "GET", "/app-auth/apps/exists_app/exists")) == {"exists": True}
    assert ok(ma(sim_url, "GET", "/app-auth/apps/exists_ap/exists")) == {"exists": False}
    assert ok(ma(sim_url, "GET", "/app-auth/apps/no%20such%20app/exists",
                 query=[("workspace_id", "0")])) == {"exists": False}


@pytest.mark.parametrize("name", ["app with space", "a+b", "中文应用", "a~b.c-d_e", "a'b(c)!*", "a%b"])
def test_exists_with_a_name_needing_path_encoding(sim_url, name):
    from urllib.parse import quote
    create_app(sim_url, name)
    # the SDK quotes path parameters with safe='' (Client._parse_path_params)
    assert ok(ma(sim_url, "GET", f"/app-auth/apps/{quote(name, safe='')}/exists")) == {"exists": True}
    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("app_name", name)]))
    assert [a["app_name"] for a in r["apps"]] == [name]


def test_list_masks_secret_unless_plaintext_flag(sim_url):
    a = create_app(sim_url, "list_one")
    b = create_app(sim_url, "list_two")
    r = ok(ma(sim_url, "GET", "/app-auth/apps"))
    assert r["total_count"] == 2 and r["count"] == 2
    by_id = {x["app_id"]: x for x in r["apps"]}
    assert set(by_id) == {a["app_id"], b["app_id"]}
    for src in (a, b):
        got = by_id[src["app_id"]]
        assert got["app_key"] == src["app_key"] and got["app_name"] == src["app_name"]
        assert is_masked(got["app_secret"], src["app_secret"]), got["app_secret"]

    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("iphertext_enabled", True)]))
    plain = {x["app_id"]: x["app_secret"] for x in r["apps"]}
    assert plain == {a["app_id"]: a["app_secret"], b["app_id"]: b["app_secret"]}

    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("app_name", "list_one"), ("iphertext_enabled", True)]))
    assert [x["app_id"] for x in r["apps"]] == [a["app_id"]] and r["total_count"] == 1

    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("limit", 1), ("offset", 1)]))
    assert r["total_count"] == 2 and r["count"] == 1 and len(r["apps"]) == 1


def test_show_masks_secret_unless_plaintext_flag(sim_url):
    a = create_app(sim_url, "show_app")
    s = ok(ma(sim_url, "GET", f"/app-auth/apps/{a['app_id']}"))["app"]
    assert (s["app_id"], s["app_name"], s["app_key"]) == (a["app_id"], "show_app", a["app_key"])
    assert is_masked(s["app_secret"], a["app_secret"])
    s = ok(ma(sim_url, "GET", f"/app-auth/apps/{a['app_id']}", query=[("iphertext_enabled", "true")]))["app"]
    assert s["app_secret"] == a["app_secret"]


def test_show_missing_is_modelarts_6404(sim_url):
    err(ma(sim_url, "GET", "/app-auth/apps/logic-app-00000000-0000-0000-0000-000000000000"), 404, "ModelArts.6404")


def test_reset_secret(sim_url, admin):
    a = create_app(sim_url, "reset_app")
    r = ok(ma(sim_url, "PUT", f"/app-auth/apps/{a['app_id']}/app-secret", body={"app_name": "reset_app"}))["app"]
    assert r["app_id"] == a["app_id"] and r["app_key"] == a["app_key"]
    assert r["app_secret"] and "*" not in r["app_secret"] and r["app_secret"] != a["app_secret"]
    assert admin.app("modelarts", a["app_id"])["secret"] == r["app_secret"]
    s = ok(ma(sim_url, "GET", f"/app-auth/apps/{a['app_id']}", query=[("iphertext_enabled", True)]))["app"]
    assert s["app_secret"] == r["app_secret"]
    err(ma(sim_url, "PUT", "/app-auth/apps/missing-app/app-secret", body={"app_name": "x"}), 404, "ModelArts.6404")


def test_app_codes(sim_url, admin):
    a = create_app(sim_url, "code_app")
    r = ok(ma(sim_url, "POST", f"/app-auth/apps/{a['app_id']}/app-code", body={"app_name": "code_app"}))["app"]
    assert r["app_id"] == a["app_id"] and len(r["app_codes"]) == 1 and r["app_codes"][0]
    code = r["app_codes"][0]
    assert admin.app("modelarts", a["app_id"]).get("app_codes") == [code]
    r2 = ok(ma(sim_url, "PUT", f"/app-auth/apps/{a['app_id']}/app-code/{code}", body={"app_name": "code_app"}))["app"]
    assert len(r2["app_codes"]) == 1 and r2["app_codes"][0] != code
    s = ok(ma(sim_url, "GET", f"/app-auth/apps/{a['app_id']}"))["app"]
    assert s["app_codes"] == r2["app_codes"]
    err(ma(sim_url, "POST", "/app-auth/apps/missing-app/app-code", body={"app_name": "x"}), 404, "ModelArts.6404")


def test_create_api_auth_type_apig_is_app_and_name_is_cloud_chosen(sim_url, admin):
    api = create_api(sim_url, auth_type="APIG", support_app_code=True, api_method="GET", api_remark="test",
                     workspace_id="0", api_path="/v1/infers/" + SVC)
    assert api["api_id"] and api["api_name"], "api_name absent -> the cloud chooses one"
    assert api["auth_type"] == "APP"
    assert api["service_id"] == SVC and api["api_method"] == "GET" and api["support_app_code"] is True
    assert api["api_remark"] == "test"
    named = create_api(sim_url, api_name="my_api_1")
    assert named["api_name"] == "my_api_1" and named["api_method"] == "ANY" and named["auth_type"] == "APP"
    st = {x["id"]: x for x in admin.apis()}
    assert st[api["api_id"]]["serviceId"] == SVC and st[api["api_id"]]["project"] == P
    assert st[api["api_id"]]["name"] == api["api_name"] and st[api["api_id"]]["boundAppIds"] == []
    assert st[named["api_id"]]["name"] == "my_api_1"


def test_list_apis_of_a_service(sim_url):
    a1 = create_api(sim_url, api_name="api_one")
    a2 = create_api(sim_url, api_name="api_two")
    create_api(sim_url, service="other-service-0000", api_name="elsewhere")
    r = ok(ma(sim_url, "GET", f"/services/{SVC}/app-auth-apis"))
    assert {x["api_id"] for x in r["apis"]} == {a1["api_id"], a2["api_id"]}
    assert r["total_count"] == 2 and r["count"] == 2


def test_bind_list_unbind_and_delete(sim_url, admin):
    app = create_app(sim_url, "bound_app")
    api = create_api(sim_url, api_name="bind_api")
    path = f"/services/{SVC}/app-auth-apis/{api['api_id']}/app-auth-api"

    r = ok(ma(sim_url, "POST", path, body=apps_body(app["app_id"], "logic-app-unknown")))
    results = {x["app_id"]: x for x in r["auth_result"]}
    assert results[app["app_id"]]["success"] is True and results[app["app_id"]]["auth_id"]
    assert results[app["app_id"]]["api_id"] == api["api_id"]
    assert not results[app["app_id"]].get("reason")
    assert results["logic-app-unknown"]["success"] is False and results["logic-app-unknown"]["reason"]
    assert not results["logic-app-unknown"].get("auth_id")

    st = {x["id"]: x for x in admin.apis()}
    assert st[api["api_id"]]["boundAppIds"] == [app["app_id"]]

    auths = ok(ma(sim_url, "GET", f"/services/{SVC}/app-auth-apis/{api['api_id']}/api-auths"))
    assert [x["app_id"] for x in auths["auths"]] == [app["app_id"]] and auths["total_count"] == 1

    mine = ok(ma(sim_url, "GET", f"/app-auth/apps/{app['app_id']}/auth-apis"))
    assert [x["api_id"] for x in mine["apis"]] == [api["api_id"]] and mine["total_count"] == 1
    shown = ok(ma(sim_url, "GET", f"/app-auth/apps/{app['app_id']}"))["app"]
    assert shown["bounded_api_count"] == 1

    svc = ok(ma(sim_url, "GET", f"/services/{SVC}/api-auths"))
    assert "enable_app_auth" in svc and "app_auth_api" in svc

    # a bound app cannot be deleted
    err(ma(sim_url, "DELETE", f"/app-auth/apps/{app['app_id']}"), 400, "ModelArts.6402")
    assert len(admin.apps("modelarts")) == 1

    un = ok(ma(sim_url, "DELETE", path, query=[("workspace_id", "0")], body=apps_body(app["app_id"])))
    assert [(x["app_id"], x["success"]) for x in un["unauth_result"]] == [(app["app_id"], True)]
    st = {x["id"]: x for x in admin.apis()}
    assert st[api["api_id"]]["boundAppIds"] == []
    assert ok(ma(sim_url, "GET", f"/app-auth/apps/{app['app_id']}/auth-apis"))["apis"] == []

    ok(ma(sim_url, "DELETE", f"/app-auth/apps/{app['app_id']}"))
    assert admin.apps("modelarts") == []
    err(ma(sim_url, "GET", f"/app-auth/apps/{app['app_id']}"), 404, "ModelArts.6404")


def test_update_bindings(sim_url, admin):
    a, b = create_app(sim_url, "ua"), create_app(sim_url, "ub")
    api = create_api(sim_url, api_name="upd_api")
    path = f"/services/{SVC}/app-auth-apis/{api['api_id']}/app-auth-api"
    ok(ma(sim_url, "POST", path, body=apps_body(a["app_id"])))
    r = ok(ma(sim_url, "PUT", path, body=apps_body(b["app_id"])))
    assert [(x["app_id"], x["success"]) for x in r["auth_result"]] == [(b["app_id"], True)]
    bound = {x["id"]: x for x in admin.apis()}[api["api_id"]]["boundAppIds"]
    assert b["app_id"] in bound


def test_create_and_bind_in_one_call(sim_url, admin):
    app = create_app(sim_url, "cab_app")
    r = ok(ma(sim_url, "POST", f"/services/{SVC}/app-auth-api",
              body={"apps": [{"app_id": app["app_id"]}], "workspace_id": "0"}))
    api = r["api"]
    assert api["api_id"] and api["service_id"] == SVC and api["auth_type"] == "APP"
    assert [(x["app_id"], x["success"]) for x in r["auth_result"]] == [(app["app_id"], True)]
    assert {x["id"]: x for x in admin.apis()}[api["api_id"]]["boundAppIds"] == [app["app_id"]]


def test_delete_api(sim_url, admin):
    api = create_api(sim_url, api_name="del_api")
    r = ma(sim_url, "DELETE", f"/services/{SVC}/app-auth-apis/{api['api_id']}", query=[("workspace_id", "0")])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert admin.apis() == []
    assert ok(ma(sim_url, "GET", f"/services/{SVC}/app-auth-apis"))["apis"] == []
    err(ma(sim_url, "DELETE", f"/services/{SVC}/app-auth-apis/{api['api_id']}"), 404, "ModelArts.6405")
    err(ma(sim_url, "POST", f"/services/{SVC}/app-auth-apis/{api['api_id']}/app-auth-api", body=apps_body("x")),
        404, "ModelArts.6405")


def test_quota_is_five_apps(sim_url, admin):
    for i in range(5):
        create_app(sim_url, f"q{i}")
    err(ma(sim_url, "POST", "/app-auth/apps", body={"app_name": "q5"}), 400, "ModelArts.6403")
    assert len(admin.apps("modelarts")) == 5
    admin.config({"modelarts_quota": 6})
    create_app(sim_url, "q5")
    err(ma(sim_url, "POST", "/app-auth/apps", body={"app_name": "q6"}), 400, "ModelArts.6403")


def test_duplicate_names_allowed_by_default_rejected_when_unique(sim_url, admin):
    a = create_app(sim_url, "twin")
    b = create_app(sim_url, "twin")
    assert a["app_id"] != b["app_id"]
    admin.reset()
    admin.config({"unique_names": {"modelarts": True}})
    create_app(sim_url, "single")
    err(ma(sim_url, "POST", "/app-auth/apps", body={"app_name": "single"}), 400, "ModelArts.6401")


def test_unsigned_request_is_401(sim_url):
    import requests
    r = requests.get(f"{sim_url}/v1/{P}/app-auth/apps", timeout=hwsim.HTTP_TIMEOUT)
    assert r.status_code == 401


def test_only_app_auth_apis_can_be_bound(sim_url, admin):
    app = create_app(sim_url, "for_none_api")
    api = create_api(sim_url, auth_type="NONE", api_name="open_api")
    assert api["auth_type"] == "NONE"
    r = ma(sim_url, "POST", f"/services/{SVC}/app-auth-apis/{api['api_id']}/app-auth-api", body=apps_body(app["app_id"]))
    assert r.status_code == 400 and r.json()["error_code"].startswith("ModelArts."), r.text
    assert {x["id"]: x for x in admin.apis()}[api["api_id"]]["boundAppIds"] == []


def test_unknown_service_when_services_are_configured(sim_url, admin):
    admin.config({"modelarts_services": [SVC]})
    create_api(sim_url, api_name="live_one")
    r = ma(sim_url, "POST", "/app-auth/no-such-service/apis", body={"auth_type": "APP"})
    assert r.status_code == 404 and r.json()["error_code"].startswith("ModelArts."), r.text
    assert len(admin.apis()) == 1


def test_workspaces(sim_url, admin):
    a = ok(ma(sim_url, "POST", "/app-auth/apps", body={"app_name": "ws_app", "workspace_id": "ws-a"}))["app"]
    assert admin.app("modelarts", a["app_id"])["instance"] == "ws-a"
    assert ok(ma(sim_url, "GET", "/app-auth/apps/ws_app/exists", query=[("workspace_id", "ws-a")])) == {"exists": True}
    assert ok(ma(sim_url, "GET", "/app-auth/apps/ws_app/exists", query=[("workspace_id", "ws-b")])) == {"exists": False}
    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("workspace_id", "ws-b")]))
    assert r["apps"] == [] and r["total_count"] == 0
    r = ok(ma(sim_url, "GET", "/app-auth/apps", query=[("workspace_id", "ws-a")]))
    assert [x["app_id"] for x in r["apps"]] == [a["app_id"]]


def test_counts_name_every_operation(sim_url, admin):
    """/_sim/counts keys the operator's cost tests rely on (one per ModelArts operation)."""
    a = create_app(sim_url, "counted_app")
    aid = a["app_id"]
    ma(sim_url, "GET", "/app-auth/apps")
    ma(sim_url, "GET", f"/app-auth/apps/{aid}")
    ma(sim_url, "GET", "/app-auth/apps/counted_app/exists")
    ma(sim_url, "PUT", f"/app-auth/apps/{aid}/app-secret", body={"app_name": "counted_app"})
    code = ok(ma(sim_url, "POST", f"/app-auth/apps/{aid}/app-code", body={"app_name": "counted_app"}))["app"]["app_codes"][0]
    ma(sim_url, "PUT", f"/app-auth/apps/{aid}/app-code/{code}", body={"app_name": "counted_app"})
    api = create_api(sim_url, api_name="counted_api")
    path = f"/services/{SVC}/app-auth-apis/{api['api_id']}/app-auth-api"
    ok(ma(sim_url, "POST", path, body=apps_body(aid)))
    ok(ma(sim_url, "PUT", path, body=apps_body(aid)))
    ok(ma(sim_url, "GET", f"/services/{SVC}/app-auth-apis/{api['api_id']}/api-auths"))
    ok(ma(sim_url, "GET", f"/app-auth/apps/{aid}/auth-apis"))
    ok(ma(sim_url, "GET", f"/services/{SVC}/api-auths"))
    ok(ma(sim_url, "GET", f"/services/{SVC}/app-auth-apis"))
    ok(ma(sim_url, "DELETE", path, body=apps_body(aid)))
    ok(ma(sim_url, "POST", f"/services/{SVC}/app-auth-api", body=apps_body(aid)))
    ma(sim_url, "DELETE", f"/services/{SVC}/app-auth-apis/{api['api_id']}")
    counts = {k: v for k, v in admin.counts().items() if k.startswith("modelarts.")}
    expected = {f"modelarts.{op}": 1 for op in (
        "create", "list", "show", "exists", "reset_secret", "create_app_code", "reset_app_code", "create_api",
        "bind", "update_bindings", "list_bindings", "list_app_apis", "service_auths", "list_apis", "unbind",
        "create_and_bind_api", "delete_api")}
    assert counts == expected


def test_app_code_limit_is_five(sim_url):
    a = create_app(sim_url, "five_codes")
    for i in range(5):
        r = ok(ma(sim_url, "POST", f"/app-auth/apps/{a['app_id']}/app-code", body={"app_name": "five_codes"}))
        assert len(r["app"]["app_codes"]) == i + 1
    r = ma(sim_url, "POST", f"/app-auth/apps/{a['app_id']}/app-code", body={"app_name": "five_codes"})
    # UNCONFIRMED code (sim README), distinct from the apps quota (ModelArts.6403)
    err(r, 400, "ModelArts.6406")
    assert r.json()["error_msg"] == "The number of AppCodes of the app exceeds the quota (5)", r.text
    assert len(ok(ma(sim_url, "GET", f"/app-auth/apps/{a['app_id']}"))["app"]["app_codes"]) == 5
