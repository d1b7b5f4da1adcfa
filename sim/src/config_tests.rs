//! Configuration patches and account ids.
use super::*;

#[test]
fn patch_merges_partially() {
    let mut cfg = Config::default();
    cfg.apply_patch(&serde_json::json!({"unique_names": {"dataarts": true}, "modelarts_quota": 2}))
        .expect("patch");
    assert!(cfg.unique_names.dataarts);
    assert!(cfg.unique_names.apig);
    assert_eq!(cfg.modelarts_quota, 2);
    assert_eq!(cfg.apig_quota, 10_000);
}

#[test]
fn patch_rejects_unknown_keys_atomically() {
    let mut cfg = Config::default();
    let err = cfg
        .apply_patch(&serde_json::json!({"modelarts_quota": 1, "bogus": 1}))
        .expect_err("unknown key");
    assert!(err.contains("bogus"));
    assert_eq!(cfg.modelarts_quota, 5);
}

#[test]
fn federation_settings_patch_and_clear() {
    let mut cfg = Config::default();
    cfg.apply_patch(&serde_json::json!({
        "temporary_credential_max_secs": 20, "metadata_agency": "hwsim-user"}))
        .expect("patch");
    assert_eq!(cfg.temporary_credential_max_secs, Some(20));
    assert_eq!(cfg.metadata_agency.as_deref(), Some("hwsim-user"));
    cfg.apply_patch(&serde_json::json!({
        "temporary_credential_max_secs": null, "metadata_agency": null}))
        .expect("clear");
    assert_eq!(cfg, Config::default());
    for bad in [
        serde_json::json!({"temporary_credential_max_secs": -1}),
        serde_json::json!({"metadata_agency": ""}),
        serde_json::json!({"metadata_agency": 3}),
    ] {
        assert!(cfg.apply_patch(&bad).is_err(), "{bad}");
    }
}

#[test]
fn config_files_are_partial_and_checked() {
    let cfg: Config = serde_json::from_value(serde_json::json!({
        "temporary_credential_max_secs": 30,
        "identity_providers": [{"id": "k8s", "issuer": "https://i", "client_id": "c",
            "jwks": {"keys": []}, "mappings": [{"sub": "a*", "user": "hwsim-user"}]}]}))
    .expect("partial config");
    assert_eq!(cfg.accounts, Config::default().accounts);
    cfg.validate().expect("valid");
    let mut twice = cfg.clone();
    twice
        .identity_providers
        .push(cfg.identity_providers[0].clone());
    assert!(twice.validate().expect_err("duplicate").contains("twice"));
    assert!(serde_json::from_value::<Config>(serde_json::json!({"bogus": 1})).is_err());
}

#[test]
fn account_ids_are_stable() {
    let a = Account::default();
    assert_eq!(a.user_id(), Account::default().user_id());
    assert_eq!(a.user_id().len(), 32);
    assert_ne!(a.user_id(), a.domain_id());
}
