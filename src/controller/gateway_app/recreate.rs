//! An app the cloud says is gone: believed only when confirmed, then created again in the full
//! create order.

use super::*;

/// The cloud said app `old_id` is gone (`e`). A not-found code the reference confirms is
/// believed; any other is checked with a second, different read first, and only an app that
/// read does not find either is created again.
pub(super) async fn recreate_if_gone(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    old_id: &str,
    e: crate::cloud::CloudError,
) -> Result<Delivered> {
    if !e.is_confirmed_not_found() {
        let name = cloud_name(app, ctx);
        if target
            .still_exists(client, old_id, &name)
            .await
            .map_err(Error::cloud)?
        {
            return Err(Error::failed(
                Reason::CloudUnavailable,
                format!(
                    "the cloud answered that app {old_id} is gone ({}), but a second read still finds it; nothing is recreated",
                    e.code().unwrap_or("no code")
                ),
            ));
        }
    }
    recreate(app, ctx, client, target, old_id).await
}

/// The app is confirmed gone: forget the id and create it again, in the full create order.
pub(super) async fn recreate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    old_id: &str,
) -> Result<Delivered> {
    ctx.warning(
        app,
        "Recreating",
        "Drift",
        format!(
            "app {old_id} no longer exists in the cloud; creating it again with new credentials"
        ),
    )
    .await;
    let name = cloud_name(app, ctx);
    write_marker(app, ctx, &name).await?;
    let mut forget_id = serde_json::Map::new();
    forget_id.insert(annotations::APP_ID.into(), Value::Null);
    let mut fresh = driver::annotate(app, ctx, forget_id).await?;
    // Status still holds the old id; the create path must not see it.
    fresh.status = Some(GatewayAppStatus {
        app_id: None,
        ..status(app)
    });
    create_or_recover(&fresh, ctx, client, target).await
}
