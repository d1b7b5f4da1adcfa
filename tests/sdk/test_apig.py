"""APIG dedicated gateway apps through the official SDK (huaweicloudsdkapig.v2), reference §4."""

import datetime as dt

import pytest

import hwsim
from hwsim import APIG_INSTANCE as INST
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkapig.v2 import (
    ApigClient, AppCodeCreate, AppCreate, AppResetCreate, CheckAppV2Request, CreateAnAppV2Request,
    CreateAppCodeAutoV2Request, CreateAppCodeV2Request, DeleteAppCodeV2Request, DeleteAppV2Request,
    ListAppCodesV2Request, ListAppsV2Request, ResettingAppSecretV2Request, ShowDetailsOfAppCodeV2Request,
    ShowDetailsOfAppV2Request, UpdateAppV2Request,
)

APP_CODE = "Ab+/" + "x" * 60 + "=="  # 66 chars: starts with a letter; allowed A-Za-z0-9+_!@#$%-/=


def create(apig, name, **kw):
    return apig.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(name=name, **kw)))


def raises(fn, status, code):
    with pytest.raises(ClientRequestException) as ei:
        fn()
    e = ei.value
    assert (e.status_code, e.error_code) == (status, code), f"{e.status_code} {e.error_code} {e.error_msg}"
    assert e.error_msg, "error_msg must be present"
    assert e.request_id, "responses carry X-Request-Id (the SDK reports it)"
    return e


def test_create_returns_generated_key_and_secret(apig, admin):
    r = create(apig, "demo_app", remark="Demo app")
    assert r.status_code == 201
    assert r.id and r.name == "demo_app" and r.remark == "Demo app"
    assert r.status == 1
    assert r.app_key and r.app_secret and r.app_key != r.app_secret
    assert "*" not in r.app_secret, "create must return the unmasked secret (SPEC §7)"
    assert r.creator == "USER"
    assert r.app_type == "apig"
    # Times are strings the SDK parses into datetimes (python-dateutil is installed).
    assert isinstance(r.register_time, dt.datetime), r.register_time
    assert isinstance(r.update_time, dt.datetime), r.update_time
    raw = r.to_json_object()
    assert isinstance(raw["status"], int) and isinstance(raw["register_time"], str)
    # The simulator's state agrees with what the SDK returned.
    s = admin.app("apig", r.id)
    assert (s["project"], s["instance"], s["name"], s["key"], s["secret"]) == \
        (hwsim.PROJECT_ID, INST, "demo_app", r.app_key, r.app_secret)
    assert s.get("remark", "Demo app") == "Demo app"


def test_create_with_custom_key_and_secret_returns_them_exactly(apig, admin):
    key, secret = "my-custom_key-0001", "Sec_ret-!@#$%0001"
    r = create(apig, "custom_app", app_key=key, app_secret=secret)
    assert r.status_code == 201
    assert (r.app_key, r.app_secret) == (key, secret)
    show = apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=r.id))
    assert (show.app_key, show.app_secret) == (key, secret)
    s = admin.app("apig", r.id)
    assert (s["key"], s["secret"]) == (key, secret)


def test_show_details(apig):
    c = create(apig, "show_me", remark="r1")
    r = apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark, r.app_key, r.app_secret, r.status) == \
        (c.id, "show_me", "r1", c.app_key, c.app_secret, 1)


def test_list_filters_and_paging(apig):
    ids = {}
    for n in ("alpha_one", "alpha_two", "beta_one"):
        ids[n] = create(apig, n).id

    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    assert r.status_code == 200
    assert r.total == 3 and r.size == 3
    assert sorted(a.name for a in r.apps) == ["alpha_one", "alpha_two", "beta_one"]
    for a in r.apps:
        assert a.id == ids[a.name] and a.app_key and a.status == 1
        assert a.bind_num == 0

    # name without precise_search: not exact (fuzzy)
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, name="alpha"))
    assert sorted(a.name for a in r.apps) == ["alpha_one", "alpha_two"] and r.total == 2
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, name="_one"))
    assert sorted(a.name for a in r.apps) == ["alpha_one", "beta_one"]

    # precise_search=name: exact
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, name="alpha_one", precise_search="name"))
    assert [a.name for a in r.apps] == ["alpha_one"] and r.total == 1
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, name="alpha", precise_search="name"))
    assert r.apps == [] and r.total == 0 and r.size == 0

    # id filter
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, id=ids["beta_one"]))
    assert [a.id for a in r.apps] == [ids["beta_one"]]

    # app_key filter
    key = apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=ids["alpha_two"])).app_key
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, app_key=key))
    assert [a.id for a in r.apps] == [ids["alpha_two"]]

    # paging: total is the full count, size the page
    p1 = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, limit=2, offset=0))
    p2 = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, limit=2, offset=2))
    assert (p1.total, p1.size, len(p1.apps)) == (3, 2, 2)
    assert (p2.total, p2.size, len(p2.apps)) == (3, 1, 1)
    assert {a.id for a in p1.apps + p2.apps} == set(ids.values())


def test_list_is_scoped_to_the_instance(apig):
    create(apig, "in_inst_a")
    other = "0000000000000000000000000000beef"
    apig.create_an_app_v2(CreateAnAppV2Request(instance_id=other, body=AppCreate(name="in_inst_b")))
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST))
    assert [a.name for a in r.apps] == ["in_inst_a"]
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=other))
    assert [a.name for a in r.apps] == ["in_inst_b"]


def test_update_changes_name_and_remark_keeps_credentials(apig, admin):
    c = create(apig, "before_update", remark="old")
    u = apig.update_app_v2(UpdateAppV2Request(instance_id=INST, app_id=c.id,
                                              body=AppCreate(name="after_update", remark="new")))
    assert u.status_code == 200
    assert (u.id, u.name, u.remark, u.app_key, u.app_secret) == (c.id, "after_update", "new", c.app_key, c.app_secret)
    s = apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id))
    assert (s.name, s.remark) == ("after_update", "new")
    assert admin.app("apig", c.id)["name"] == "after_update"


def test_update_to_a_taken_name_is_rejected(apig):
    create(apig, "taken_name")
    c = create(apig, "free_name")
    raises(lambda: apig.update_app_v2(UpdateAppV2Request(instance_id=INST, app_id=c.id,
                                                         body=AppCreate(name="taken_name"))), 400, "APIG.3203")


def test_reset_secret_generated_and_custom(apig, admin):
    c = create(apig, "reset_me")
    r = apig.resetting_app_secret_v2(ResettingAppSecretV2Request(instance_id=INST, app_id=c.id, body=AppResetCreate()))
    assert r.status_code == 200
    assert r.id == c.id and r.app_key == c.app_key
    assert r.app_secret and r.app_secret != c.app_secret and "*" not in r.app_secret
    assert admin.app("apig", c.id)["secret"] == r.app_secret
    show = apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id))
    assert show.app_secret == r.app_secret

    r2 = apig.resetting_app_secret_v2(ResettingAppSecretV2Request(
        instance_id=INST, app_id=c.id, body=AppResetCreate(app_secret="Custom_Secret-0001")))
    assert r2.app_secret == "Custom_Secret-0001"
    assert admin.app("apig", c.id)["secret"] == "Custom_Secret-0001"


def test_reset_secret_of_missing_app_is_404(apig):
    raises(lambda: apig.resetting_app_secret_v2(ResettingAppSecretV2Request(
        instance_id=INST, app_id="00000000000000000000000000000000", body=AppResetCreate())), 404, "APIG.3004")


def test_delete(apig, admin):
    c = create(apig, "delete_me")
    d = apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=c.id))
    assert d.status_code == 204
    assert admin.apps("apig") == []
    raises(lambda: apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id)),
           404, "APIG.3004")
    raises(lambda: apig.delete_app_v2(DeleteAppV2Request(instance_id=INST, app_id=c.id)), 404, "APIG.3004")


def test_check_app_verify(apig):
    c = create(apig, "verify_me", remark="vr")
    r = apig.check_app_v2(CheckAppV2Request(instance_id=INST, app_id=c.id))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark) == (c.id, "verify_me", "vr")
    raises(lambda: apig.check_app_v2(CheckAppV2Request(instance_id=INST, app_id="nonexistent0000")), 404, "APIG.3004")


def test_app_codes(apig, admin):
    c = create(apig, "code_app")
    made = apig.create_app_code_v2(CreateAppCodeV2Request(instance_id=INST, app_id=c.id,
                                                          body=AppCodeCreate(app_code=APP_CODE)))
    assert made.status_code == 201
    assert made.app_code == APP_CODE and made.app_id == c.id and made.id and made.create_time

    auto = apig.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=INST, app_id=c.id))
    assert auto.status_code == 201
    assert auto.app_id == c.id and auto.id and auto.id != made.id
    assert 64 <= len(auto.app_code) <= 180 and auto.app_code != APP_CODE

    listed = apig.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=c.id))
    assert listed.status_code == 200
    assert listed.total == 2 and listed.size == 2
    assert {(x.id, x.app_code) for x in listed.app_codes} == {(made.id, APP_CODE), (auto.id, auto.app_code)}
    page = apig.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=c.id, limit=1, offset=1))
    assert (page.total, page.size, len(page.app_codes)) == (2, 1, 1)

    shown = apig.show_details_of_app_code_v2(ShowDetailsOfAppCodeV2Request(
        instance_id=INST, app_id=c.id, app_code_id=made.id))
    assert (shown.id, shown.app_code, shown.app_id) == (made.id, APP_CODE, c.id)

    state_codes = admin.app("apig", c.id).get("app_codes")
    assert state_codes is not None and sorted(state_codes) == sorted([APP_CODE, auto.app_code])

    d = apig.delete_app_code_v2(DeleteAppCodeV2Request(instance_id=INST, app_id=c.id, app_code_id=made.id))
    assert d.status_code == 204
    raises(lambda: apig.show_details_of_app_code_v2(ShowDetailsOfAppCodeV2Request(
        instance_id=INST, app_id=c.id, app_code_id=made.id)), 404, "APIG.3082")
    raises(lambda: apig.delete_app_code_v2(DeleteAppCodeV2Request(
        instance_id=INST, app_id=c.id, app_code_id=made.id)), 404, "APIG.3082")
    listed = apig.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=c.id))
    assert [x.id for x in listed.app_codes] == [auto.id]


def test_app_code_duplicate_invalid_and_quota(apig):
    c = create(apig, "code_quota")
    apig.create_app_code_v2(CreateAppCodeV2Request(instance_id=INST, app_id=c.id,
                                                   body=AppCodeCreate(app_code=APP_CODE)))
    # too short (64..180) and bad first character
    for bad in ("short_code", "-" + "a" * 70):
        raises(lambda: apig.create_app_code_v2(CreateAppCodeV2Request(
            instance_id=INST, app_id=c.id, body=AppCodeCreate(app_code=bad))), 400, "APIG.2011")
    for _ in range(4):
        apig.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=INST, app_id=c.id))
    # 5 AppCodes per app
    raises(lambda: apig.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=INST, app_id=c.id)),
           403, "APIG.3131")
    # AppCodes of a missing app
    raises(lambda: apig.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id="missing_app_id")),
           404, "APIG.3004")


def test_duplicate_name_is_apig_3203(apig):
    create(apig, "dup_name")
    e = raises(lambda: create(apig, "dup_name"), 400, "APIG.3203")
    assert isinstance(e, ClientRequestException)


def test_duplicate_key_is_apig_3310(apig):
    create(apig, "key_owner", app_key="shared-key-0001")
    raises(lambda: create(apig, "key_thief", app_key="shared-key-0001"), 400, "APIG.3310")


@pytest.mark.parametrize("bad", [
    {"name": "1starts_with_digit"},
    {"name": "ab"},                                   # < 3 chars
    {"name": "a" * 65},                               # > 64 chars
    {"name": "has-hyphen"},                           # only letters, digits, underscore
    {"name": "ok_name", "remark": "r" * 256},         # remark <= 255
    {"name": "ok_name", "app_key": "short"},          # key 8..200
    {"name": "ok_name", "app_key": "_starts_bad_key"},  # key starts with letter/digit
    {"name": "ok_name", "app_secret": "bad secret with spaces"},
])
def test_invalid_parameters_are_apig_2011(apig, admin, bad):
    raises(lambda: apig.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(**bad))),
           400, "APIG.2011")
    assert admin.apps("apig") == []


@pytest.mark.parametrize("body", ["[]", "{", '"a string"', "42", "not json"])
def test_non_object_body_is_apig_2012(sim_url, apig, admin, body):
    c = create(apig, "body_target")
    paths = [
        ("POST", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps"),
        ("PUT", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps/{c.id}"),
        ("PUT", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps/secret/{c.id}"),
        ("POST", f"/v2/{hwsim.PROJECT_ID}/apigw/instances/{INST}/apps/{c.id}/app-codes"),
    ]
    for method, path in paths:
        r = hwsim.signed(sim_url, method, path, body=body)
        assert hwsim.error_of(r) == (400, "APIG.2012"), f"{method} {path}: {r.text}"
        assert "parameterName:body" in r.json()["error_msg"], r.text
    [a] = admin.apps("apig")
    assert a["secret"] == c.app_secret and a["app_codes"] == []


def test_show_missing_is_404_apig_3004(apig):
    raises(lambda: apig.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id="nope0000")),
           404, "APIG.3004")


def test_wrong_secret_key_is_401(sim_url, admin):
    bad = hwsim.build_client(ApigClient, sim_url, BasicCredentials(hwsim.AK, "not-the-secret", hwsim.PROJECT_ID))
    raises(lambda: bad.list_apps_v2(ListAppsV2Request(instance_id=INST)), 401, "APIG.0301")
    unknown = hwsim.build_client(ApigClient, sim_url, BasicCredentials("UNKNOWNAK000", hwsim.SK, hwsim.PROJECT_ID))
    raises(lambda: unknown.create_an_app_v2(CreateAnAppV2Request(instance_id=INST, body=AppCreate(name="never"))),
           401, "APIG.0301")
    assert admin.apps("apig") == []


def test_query_values_needing_encoding_are_verified(apig):
    """Canonical query encoding agrees with the SDK (space, slash, plus, non-ASCII)."""
    create(apig, "plain_name")
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, name="a b/c+d~é", limit=10))
    assert r.apps == [] and r.total == 0


def test_app_quota_is_apig_3103(apig, admin):
    admin.config({"apig_quota": 2})
    create(apig, "quota_one")
    create(apig, "quota_two")
    raises(lambda: create(apig, "quota_three"), 403, "APIG.3103")
    assert len(admin.apps("apig")) == 2


def test_update_requires_a_name(apig):
    c = create(apig, "needs_name")
    raises(lambda: apig.update_app_v2(UpdateAppV2Request(instance_id=INST, app_id=c.id,
                                                         body=AppCreate(remark="no name"))), 400, "APIG.2011")


def test_list_limit_rules(apig):
    for i in range(22):
        create(apig, f"page_app_{i:02d}")
    # limit <= 0 -> 20 (reference §4)
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, limit=0))
    assert (r.total, r.size) == (22, 20)
    # offset < 0 -> 0
    r = apig.list_apps_v2(ListAppsV2Request(instance_id=INST, offset=-3, limit=5))
    assert (r.total, r.size) == (22, 5)
