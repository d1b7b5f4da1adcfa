"""ROMA Connect integration applications through the official SDK (huaweicloudsdkroma.v2),
reference §5. The create response carries no secret; the secret is read with
CheckRomaAppSecret (GET .../apps/{id}/secret)."""

import pytest

import hwsim
from hwsim import ROMA_INSTANCE as INST
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkroma.v2 import (
    AppCodeCreate, CheckRomaAppDetailsRequest, CheckRomaAppSecretRequest, CreateAppCodeAutoV2Request,
    CreateAppCodeV2Request, CreateAppReq, CreateRomaAppRequest, DeleteAppCodeV2Request, DeleteRomaAppRequest,
    ListAppCodesV2Request, ListRomaAppRequest, ResetRomaAppSecretRequest, ShowDetailsOfAppCodeV2Request,
    ShowDetailsOfAppV2Request, UpdateAppReq, UpdateAppSecretReq, UpdateRomaAppRequest, ValidateRomaAppRequest,
)

NOT_FOUND = (404, "ROMA.00100404")
APP_CODE = "Ro+/" + "m" * 60 + "=="


def create(roma, name, **kw):
    return roma.create_roma_app(CreateRomaAppRequest(instance_id=INST, body=CreateAppReq(name=name, **kw)))


def secret_of(roma, app_id):
    return roma.check_roma_app_secret(CheckRomaAppSecretRequest(instance_id=INST, app_id=app_id))


def raises(fn, status, code):
    with pytest.raises(ClientRequestException) as ei:
        fn()
    e = ei.value
    assert (e.status_code, e.error_code) == (status, code), f"{e.status_code} {e.error_code} {e.error_msg}"
    assert e.error_msg
    assert e.request_id, "responses carry X-Request-Id (the SDK reports it)"
    return e


def test_create_returns_requested_key_and_no_secret(roma, admin):
    r = create(roma, "roma_app.1", remark="example", key="JNs1VK3vLdTT9Djd", secret="TEI95R8RZ2pIf8UM")
    assert r.status_code == 201
    assert r.id and r.name == "roma_app.1" and r.remark == "example"
    assert r.key == "JNs1VK3vLdTT9Djd", "create answers with the requested key (seed 003's example is a slip)"
    raw = r.to_json_object()
    assert "secret" not in raw and "app_secret" not in raw, f"ROMA create must not carry the secret: {raw}"
    assert r.owner is True
    assert r.favorite is False
    assert r.roles and set(r.roles) <= {"read", "access", "delete", "modify", "admin"}
    assert r.created_user is not None and r.created_user.user_id
    assert r.create_time and r.update_time
    s = admin.app("roma", r.id)
    assert (s["project"], s["instance"], s["name"], s["key"], s["secret"]) == \
        (hwsim.PROJECT_ID, INST, "roma_app.1", "JNs1VK3vLdTT9Djd", "TEI95R8RZ2pIf8UM")


def test_create_without_key_generates_key_and_secret(roma, admin):
    r = create(roma, "generated")
    assert r.key
    sec = secret_of(roma, r.id)
    assert sec.status_code == 200
    assert sec.id == r.id and sec.secret and sec.secret != r.key
    s = admin.app("roma", r.id)
    assert (s["key"], s["secret"]) == (r.key, sec.secret)


def test_check_secret_reads_the_requested_secret(roma):
    r = create(roma, "with_secret", key="key-abc.123@x", secret="s3cr3t!@#$%+=.-/")
    sec = secret_of(roma, r.id)
    assert (sec.id, sec.secret) == (r.id, "s3cr3t!@#$%+=.-/")


def test_list_fuzzy_name_and_paging(roma):
    ids = {n: create(roma, n).id for n in ("orders_in", "orders_out", "billing")}
    r = roma.list_roma_app(ListRomaAppRequest(instance_id=INST))
    assert r.status_code == 200
    assert r.total == 3 and r.size == 3
    assert {a.id: a.name for a in r.apps} == {v: k for k, v in ids.items()}
    assert all("secret" not in a for a in r.to_json_object()["apps"])

    r = roma.list_roma_app(ListRomaAppRequest(instance_id=INST, name="orders"))
    assert sorted(a.name for a in r.apps) == ["orders_in", "orders_out"] and r.total == 2
    r = roma.list_roma_app(ListRomaAppRequest(instance_id=INST, name="ers_o"))
    assert [a.name for a in r.apps] == ["orders_out"]

    p1 = roma.list_roma_app(ListRomaAppRequest(instance_id=INST, limit=2, offset=0))
    p2 = roma.list_roma_app(ListRomaAppRequest(instance_id=INST, limit=2, offset=2))
    assert (p1.total, p1.size, p2.total, p2.size) == (3, 2, 3, 1)
    assert {a.id for a in p1.apps + p2.apps} == set(ids.values())


def test_validate_is_exact(roma):
    c = create(roma, "exact_app", remark="rm", key="exact-key-0001")
    r = roma.validate_roma_app(ValidateRomaAppRequest(instance_id=INST, name="exact_app"))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark) == (c.id, "exact_app", "rm")
    r = roma.validate_roma_app(ValidateRomaAppRequest(instance_id=INST, key="exact-key-0001"))
    assert r.id == c.id
    r = roma.validate_roma_app(ValidateRomaAppRequest(instance_id=INST, id=c.id))
    assert r.name == "exact_app"
    raises(lambda: roma.validate_roma_app(ValidateRomaAppRequest(instance_id=INST, name="exact")), *NOT_FOUND)
    raises(lambda: roma.validate_roma_app(ValidateRomaAppRequest(instance_id=INST, name="exact_app_2")), *NOT_FOUND)


def test_show_details(roma):
    c = create(roma, "detail_app", remark="d", key="detail-key-01", favorite=True)
    r = roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=INST, app_id=c.id))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark, r.key, r.favorite) == (c.id, "detail_app", "d", "detail-key-01", True)
    assert "secret" not in r.to_json_object()
    raises(lambda: roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=INST, app_id="nope")),
           *NOT_FOUND)


def test_reset_secret(roma, admin):
    c = create(roma, "reset_app", secret="Original-Secret1")
    r = roma.reset_roma_app_secret(ResetRomaAppSecretRequest(instance_id=INST, app_id=c.id, body=UpdateAppSecretReq()))
    assert r.status_code == 200
    assert r.id == c.id and r.secret and r.secret != "Original-Secret1"
    assert secret_of(roma, c.id).secret == r.secret
    assert admin.app("roma", c.id)["secret"] == r.secret

    r = roma.reset_roma_app_secret(ResetRomaAppSecretRequest(
        instance_id=INST, app_id=c.id, body=UpdateAppSecretReq(secret="Chosen.Secret=2")))
    assert r.secret == "Chosen.Secret=2"
    assert secret_of(roma, c.id).secret == "Chosen.Secret=2"
    # the key never changes on reset
    assert roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=INST, app_id=c.id)).key == c.key


def test_update(roma, admin):
    c = create(roma, "upd_app", remark="old", key="upd-key-0001", secret="Upd-Secret-0001")
    r = roma.update_roma_app(UpdateRomaAppRequest(instance_id=INST, app_id=c.id,
                                                  body=UpdateAppReq(name="upd app (2)", remark="new", favorite=True)))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark, r.favorite, r.key) == (c.id, "upd app (2)", "new", True, "upd-key-0001")
    shown = roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=INST, app_id=c.id))
    assert (shown.name, shown.remark, shown.favorite) == ("upd app (2)", "new", True)
    assert secret_of(roma, c.id).secret == "Upd-Secret-0001"
    assert admin.app("roma", c.id)["name"] == "upd app (2)"


def test_delete(roma, admin):
    c = create(roma, "del_app")
    d = roma.delete_roma_app(DeleteRomaAppRequest(instance_id=INST, app_id=c.id))
    assert d.status_code == 200
    assert admin.apps("roma") == []
    raises(lambda: roma.check_roma_app_details(CheckRomaAppDetailsRequest(instance_id=INST, app_id=c.id)), *NOT_FOUND)
    raises(lambda: secret_of(roma, c.id), *NOT_FOUND)
    raises(lambda: roma.delete_roma_app(DeleteRomaAppRequest(instance_id=INST, app_id=c.id)), *NOT_FOUND)
    raises(lambda: roma.reset_roma_app_secret(ResetRomaAppSecretRequest(
        instance_id=INST, app_id=c.id, body=UpdateAppSecretReq())), *NOT_FOUND)


def test_apic_view_of_the_app(roma):
    c = create(roma, "apic_view", remark="v", key="apic-key-0001", secret="Apic-Secret-001")
    r = roma.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id=c.id))
    assert r.status_code == 200
    assert (r.id, r.name, r.remark, r.app_key, r.app_secret, r.status) == \
        (c.id, "apic_view", "v", "apic-key-0001", "Apic-Secret-001", 1)
    assert r.app_type in ("apig", "roma")
    # The APIC endpoints are ROMA's API gateway (the APIG engine): APIG-style codes.
    raises(lambda: roma.show_details_of_app_v2(ShowDetailsOfAppV2Request(instance_id=INST, app_id="nope")),
           404, "APIG.3004")


def test_apic_app_codes(roma, admin):
    c = create(roma, "apic_codes")
    made = roma.create_app_code_v2(CreateAppCodeV2Request(instance_id=INST, app_id=c.id,
                                                          body=AppCodeCreate(app_code=APP_CODE)))
    assert made.status_code == 201
    assert (made.app_code, made.app_id) == (APP_CODE, c.id) and made.id
    auto = roma.create_app_code_auto_v2(CreateAppCodeAutoV2Request(instance_id=INST, app_id=c.id))
    assert auto.status_code == 201 and auto.app_code and auto.id != made.id
    listed = roma.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=c.id))
    assert listed.total == 2 and {x.app_code for x in listed.app_codes} == {APP_CODE, auto.app_code}
    shown = roma.show_details_of_app_code_v2(ShowDetailsOfAppCodeV2Request(
        instance_id=INST, app_id=c.id, app_code_id=made.id))
    assert shown.app_code == APP_CODE
    assert sorted(admin.app("roma", c.id).get("app_codes") or []) == sorted([APP_CODE, auto.app_code])
    d = roma.delete_app_code_v2(DeleteAppCodeV2Request(instance_id=INST, app_id=c.id, app_code_id=made.id))
    assert d.status_code == 204
    listed = roma.list_app_codes_v2(ListAppCodesV2Request(instance_id=INST, app_id=c.id))
    assert [x.id for x in listed.app_codes] == [auto.id]


def test_duplicate_name_is_roma_00100409(roma):
    create(roma, "dup")
    raises(lambda: create(roma, "dup"), 400, "ROMA.00100409")


def test_duplicate_key_is_roma_00100410(roma):
    create(roma, "k1", key="same-key-0001")
    raises(lambda: create(roma, "k2", key="same-key-0001"), 400, "ROMA.00100410")


@pytest.mark.parametrize("bad", [
    {"name": "bad/name"},           # only letters, digits, - _ . space ( )
    {"name": "x", "key": "bad key!"},  # key: letters, digits, - _ @ .
    {"name": "x", "key": "-starts-bad"},
    {"name": "x", "secret": "bad secret"},  # secret: letters, digits, !@#$%+=.-/
])
def test_invalid_is_roma_00100400(roma, admin, bad):
    raises(lambda: roma.create_roma_app(CreateRomaAppRequest(instance_id=INST, body=CreateAppReq(**bad))),
           400, "ROMA.00100400")
    assert admin.apps("roma") == []
