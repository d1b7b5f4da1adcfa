"""DataArts Studio DataService apps through the official SDK (huaweicloudsdkdataartsstudio.v1),
reference §3. Every call carries the `workspace` header (and here `Dlm-Type`); not found is HTTP
400 DLM.4063."""

import pytest

import hwsim
from hwsim import DATAARTS_WORKSPACE as WS
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdataartsstudio.v1 import (
    AppRequestDTO, AppUpdateDTO, CreateAppRequest, DeleteAppRequest, ListAppsRequest, ShowAppInfoRequest,
    UpdateAppRequest,
)

DLM = "SHARED"
NOT_FOUND = (400, "DLM.4063")


def create(da, name, description=None, ws=WS, app_type="APP"):
    return da.create_app(CreateAppRequest(workspace=ws, dlm_type=DLM, body=AppRequestDTO(
        app_type=app_type, name=name, description=description)))


def show(da, app_id, ws=WS):
    return da.show_app_info(ShowAppInfoRequest(workspace=ws, dlm_type=DLM, app_id=app_id))


def raises(fn, status, code):
    with pytest.raises(ClientRequestException) as ei:
        fn()
    e = ei.value
    assert (e.status_code, e.error_code) == (status, code), f"{e.status_code} {e.error_code} {e.error_msg}"
    assert e.error_msg
    assert e.request_id, "responses carry X-Request-Id (the SDK reports it)"
    return e


def test_create(dataarts, admin):
    r = create(dataarts, "app_test_001", "This is the app's description.")
    assert r.status_code == 200
    assert r.id and r.name == "app_test_001" and r.description == "This is the app's description."
    assert r.app_key and r.app_secret and "*" not in r.app_secret
    assert r.app_type == "APP"
    raw = r.to_json_object()
    assert isinstance(raw["register_time"], int) and isinstance(raw["update_time"], int)
    assert raw["register_time"] > 1_500_000_000_000, "epoch milliseconds"
    assert r.create_user
    s = admin.app("dataarts", r.id)
    assert (s["project"], s["instance"], s["name"], s["key"], s["secret"]) == \
        (hwsim.PROJECT_ID, WS, "app_test_001", r.app_key, r.app_secret)


def test_show(dataarts):
    c = create(dataarts, "show_app", "d1")
    r = show(dataarts, c.id)
    assert r.status_code == 200
    assert (r.id, r.name, r.description, r.app_key, r.app_secret, r.app_type) == \
        (c.id, "show_app", "d1", c.app_key, c.app_secret, "APP")


def test_list_fuzzy_name_and_paging(dataarts):
    ids = {n: create(dataarts, n).id for n in ("svc_reader", "svc_writer", "admin_tool")}
    r = dataarts.list_apps(ListAppsRequest(workspace=WS, dlm_type=DLM))
    assert r.status_code == 200
    assert r.total == 3 and {a.id: a.name for a in r.apps} == {v: k for k, v in ids.items()}
    r = dataarts.list_apps(ListAppsRequest(workspace=WS, dlm_type=DLM, name="svc_"))
    assert sorted(a.name for a in r.apps) == ["svc_reader", "svc_writer"] and r.total == 2
    r = dataarts.list_apps(ListAppsRequest(workspace=WS, dlm_type=DLM, name="writ"))
    assert [a.name for a in r.apps] == ["svc_writer"]
    p1 = dataarts.list_apps(ListAppsRequest(workspace=WS, dlm_type=DLM, limit=2, offset=0))
    p2 = dataarts.list_apps(ListAppsRequest(workspace=WS, dlm_type=DLM, limit=2, offset=2))
    assert (p1.total, len(p1.apps), p2.total, len(p2.apps)) == (3, 2, 3, 1)
    assert {a.id for a in p1.apps + p2.apps} == set(ids.values())


def test_update(dataarts, admin):
    c = create(dataarts, "before", "old")
    r = dataarts.update_app(UpdateAppRequest(workspace=WS, dlm_type=DLM, app_id=c.id,
                                             body=AppUpdateDTO(name="after", description="new")))
    assert r.status_code == 200
    assert (r.id, r.name, r.description, r.app_key, r.app_secret) == (c.id, "after", "new", c.app_key, c.app_secret)
    s = show(dataarts, c.id)
    assert (s.name, s.description) == ("after", "new")
    assert admin.app("dataarts", c.id)["name"] == "after"


def test_delete(dataarts, admin):
    c = create(dataarts, "gone")
    d = dataarts.delete_app(DeleteAppRequest(workspace=WS, dlm_type=DLM, app_id=c.id))
    assert d.status_code == 204
    assert admin.apps("dataarts") == []
    raises(lambda: show(dataarts, c.id), *NOT_FOUND)
    raises(lambda: dataarts.delete_app(DeleteAppRequest(workspace=WS, dlm_type=DLM, app_id=c.id)), *NOT_FOUND)
    raises(lambda: dataarts.update_app(UpdateAppRequest(workspace=WS, dlm_type=DLM, app_id=c.id,
                                                        body=AppUpdateDTO(name="x"))), *NOT_FOUND)


def test_show_missing_is_400_dlm_4063(dataarts):
    raises(lambda: show(dataarts, "00000000000000000000000000000000"), *NOT_FOUND)


def test_missing_workspace_header_is_dlm_4001(dataarts, admin):
    raises(lambda: dataarts.create_app(CreateAppRequest(body=AppRequestDTO(app_type="APP", name="no_ws"))),
           400, "DLM.4001")
    raises(lambda: dataarts.list_apps(ListAppsRequest()), 400, "DLM.4001")
    assert admin.apps("dataarts") == []


def test_workspaces_are_separate(dataarts):
    c = create(dataarts, "ws_a_app")
    other = "ffffffffffffffffffffffffffff0002"
    raises(lambda: show(dataarts, c.id, ws=other), *NOT_FOUND)
    assert dataarts.list_apps(ListAppsRequest(workspace=other, dlm_type=DLM)).apps == []


def test_duplicate_names_allowed_by_default(dataarts, admin):
    a = create(dataarts, "same_name")
    b = create(dataarts, "same_name")
    assert a.id != b.id and a.app_key != b.app_key
    assert sorted(x["id"] for x in admin.apps("dataarts")) == sorted([a.id, b.id])


def test_duplicate_name_rejected_when_unique_names_on(dataarts, admin):
    admin.config({"unique_names": {"dataarts": True}})
    create(dataarts, "uniq_name")
    raises(lambda: create(dataarts, "uniq_name"), 400, "DLM.4011")
    assert len(admin.apps("dataarts")) == 1
    # uniqueness is per workspace
    create(dataarts, "uniq_name", ws="ffffffffffffffffffffffffffff0003")
