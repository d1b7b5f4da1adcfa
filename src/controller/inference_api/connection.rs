//! The optional connection Secret (predict_url and api_id for consumers): written, restored
//! when edited (its watch brings the object back), and deleted when renamed or dropped.

use super::*;

/// A connection Secret this object wrote and no longer names (renamed or dropped from the spec).
pub(super) async fn delete_connection_secret(
    api: &InferenceApi,
    ctx: &Context,
    name: &str,
) -> Result<()> {
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    if let Some(old) = secrets.get_opt(name).await?
        && old.annotations().get(annotations::OWNER_UID) == api.uid().as_ref()
    {
        ctx.delete_secret(&api.namespace().unwrap_or_default(), name)
            .await?;
    }
    Ok(())
}

/// The optional connection Secret: predict_url and api_id for consumers.
pub(super) async fn write_connection_secret(
    api: &InferenceApi,
    ctx: &Context,
    name: &str,
    info: &InferenceApiInfo,
) -> Result<String> {
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default());
    let uid = api.uid().unwrap_or_default();
    if let Some(existing) = secrets.get_opt(name).await? {
        let ours = existing.annotations().get(annotations::OWNER_UID) == Some(&uid);
        if !ours {
            return Err(Error::failed(
                Reason::SecretConflict,
                format!("Secret {name} exists and is not managed by this InferenceApi"),
            ));
        }
        let data = existing.data.clone().unwrap_or_default();
        let same = |k: &str, v: &str| data.get(k).map(|b| b.0.as_slice()) == Some(v.as_bytes());
        let wants_ref = api.spec.deletion_policy == DeletionPolicy::Delete;
        let has_ref = existing.owner_references().iter().any(|r| r.uid == uid);
        if same("api_id", &info.api_id)
            && same(
                "predict_url",
                info.predict_url.as_deref().unwrap_or_default(),
            )
            && wants_ref == has_ref
            && existing.labels().get(OWNER_KIND_LABEL).map(String::as_str) == Some("InferenceApi")
            && crate::controller::shard::carries(
                Some(existing.labels()),
                api.labels(),
                &ctx.settings.shard_keys(),
            )
            && existing
                .annotations()
                .get(crate::controller::secret::OWNER_NAME)
                == Some(&api.name_any())
        {
            return Ok(name.to_string());
        }
    }
    let mut data = std::collections::BTreeMap::new();
    data.insert(
        "api_id".to_string(),
        ByteString(info.api_id.as_bytes().to_vec()),
    );
    data.insert(
        "predict_url".to_string(),
        ByteString(info.predict_url.clone().unwrap_or_default().into_bytes()),
    );
    let owner_references = (api.spec.deletion_policy == DeletionPolicy::Delete).then(|| {
        vec![OwnerReference {
            api_version: "appauth.hwcloud.dev/v1alpha1".into(),
            kind: "InferenceApi".into(),
            name: api.name_any(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    });
    let mut labels: std::collections::BTreeMap<String, String> = [
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (OWNER_KIND_LABEL.to_string(), "InferenceApi".to_string()),
    ]
    .into();
    crate::controller::shard::label(&mut labels, api.labels(), &ctx.settings.shard_keys());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: api.namespace(),
            labels: Some(labels),
            annotations: Some(
                [
                    (annotations::OWNER_UID.to_string(), uid),
                    (
                        crate::controller::secret::OWNER_NAME.to_string(),
                        api.name_any(),
                    ),
                ]
                .into(),
            ),
            owner_references,
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    };
    ctx.apply_secret(
        &api.namespace().unwrap_or_default(),
        &secret,
        crate::controller::writes::SecretApply::Force,
    )
    .await?;
    Ok(name.to_string())
}
