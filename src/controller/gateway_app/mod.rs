//! The GatewayApp reconciler: what is a GatewayApp's own for the shared driver, over the pure
//! steps in `secret`, `marker`, `status`, `plan`, `naming` and the service-neutral `backend`.

mod claim;
mod create;
mod delete;
mod deliver;
mod key_refusal;
mod known_secret;
mod maintain;
mod recreate;
mod rotation;

use claim::*;
pub(crate) use claim::{claim_of, trim_cached};
use create::*;
use deliver::*;
use maintain::*;
use recreate::*;
use rotation::*;

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use rand::RngCore;
use serde_json::{Value, json};

use super::audit::{self, Mutation};
use super::common::{Error, Result};
use super::driver::{self, Location, Managed};
use super::pending::{self, marker_of, write_marker};
use super::{Context, account_use, plan, waits};

use super::secret::{self as secret_step, Existing};
use super::status::{Outcome, Reason};
use super::writes::SecretApply;
use crate::api::{
    CredentialsMode, DeletionPolicy, GatewayApp, GatewayAppStatus, RotationStatus, annotations,
};
use crate::backend::{ChosenCredentials, CloudApp, Target};
use crate::cloud::{CloudClient, ErrorCategory, SecretString};
use crate::naming;

impl Managed for GatewayApp {
    driver::managed_fields!(GatewayAppStatus);
    const WHAT: &'static str = "app";
    fn work_queue(ctx: &Context) -> &super::work_queue::WorkQueue {
        &ctx.work_queues.gateway_apps
    }
    fn location(&self) -> Location {
        let st = status(self);
        Location {
            project: st.project,
            region: st.region,
            instance: st.instance,
        }
    }
    fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
    async fn apply(&self, ctx: &Context) -> Result<Action> {
        apply(self, ctx).await
    }
    async fn delete_in_cloud(&self, ctx: &Context) -> Result<()> {
        delete::delete_in_cloud(self, ctx).await
    }
}

fn secrets(app: &GatewayApp, ctx: &Context) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default())
}

async fn get_secret(app: &GatewayApp, ctx: &Context, name: &str) -> Result<Option<Secret>> {
    Ok(secrets(app, ctx).get_opt(name).await?)
}

fn status(app: &GatewayApp) -> GatewayAppStatus {
    app.status.clone().unwrap_or_default()
}

/// The app id this object is bound to: status, or the mirrored annotation (an object restored
/// from a backup or from Git finds its app that way).
fn known_app_id(app: &GatewayApp) -> Option<String> {
    known_app_id_ref(app).map(str::to_string)
}

/// `known_app_id` without copying.
fn known_app_id_ref(app: &GatewayApp) -> Option<&str> {
    app.status
        .as_ref()
        .and_then(|s| s.app_id.as_deref())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            app.annotations()
                .get(annotations::APP_ID)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
        })
}

/// The cloud name: never recomputed once in use.
fn cloud_name(app: &GatewayApp, ctx: &Context) -> String {
    status(app)
        .app_name
        .or_else(|| marker_of(app).map(|m| m.name))
        .or_else(|| app.spec.app_name.clone())
        .unwrap_or_else(|| {
            naming::default_app_name(
                &ctx.settings.cluster_name,
                &app.namespace().unwrap_or_default(),
                &app.name_any(),
            )
        })
}

struct Delivered {
    app_id: String,
    app_name: String,
    secret_name: String,
    /// A rotation completed in this reconcile (recorded only after the Secret was written).
    rotated: Option<RotationStatus>,
}

/// Where the app must be: resolves the target and account, creates or maintains the app
/// (delivering the Secret), releases an account Secret the object moved away from, then writes
/// status (by server-side apply, only when it changed) and one merge patch for the app-id
/// mirror and clearing the markers.
async fn apply(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    let target = Target::from_spec(&app.spec).ok_or_else(|| {
        Error::failed(
            Reason::InvalidSpec,
            "spec: exactly one of apig, modelarts, dataarts or roma must be set",
        )
    })?;
    // Templates are checked (rendered with placeholders) before anything reaches the cloud, so a
    // bad one creates nothing there.
    crate::controller::secret_template::check(app).map_err(template_failed)?;
    let account = account_use::resolve(app, ctx).await?;
    account_use::check_unchanged(app, &account, Some(target.instance()))?;
    let client = ctx.cloud.client(&account);
    let uid = app.uid().unwrap_or_default();

    let delivered = match known_app_id(app) {
        Some(id) => maintain(app, ctx, &client, &target, &id).await?,
        None => {
            let made = create_or_recover(app, ctx, &client, &target).await?;
            // The create (or the adoption) sent this generation's description.
            ctx.memory
                .with(&uid, |m| m.set_pushed(app.metadata.generation));
            made
        }
    };
    let st = status(app);
    let new_status = GatewayAppStatus {
        service: Some(target.service().as_str().to_string()),
        app_id: Some(delivered.app_id.clone()),
        app_name: Some(delivered.app_name.clone()),
        project: Some(account.project_id.clone()),
        region: Some(account.region.clone()),
        instance: Some(target.instance().to_string()),
        secret_name: Some(delivered.secret_name.clone()),
        rotation: delivered
            .rotated
            .clone()
            .map(Box::new)
            .or(st.rotation.clone()),
        account_secret: app.spec.account_ref.as_ref().map(|r| r.name.clone()),
        ..st.clone()
    };
    // The account used before a ref change, released before the status forgets it.
    account_use::release_previous(app, ctx).await?;
    let fresh = st.app_id.is_none();
    let rotated = delivered.rotated.is_some();
    driver::write_status(
        app,
        ctx,
        Some(new_status),
        &Outcome::available(format!(
            "app {} delivered into Secret {}",
            delivered.app_id, delivered.secret_name
        )),
    )
    .await?;
    let mirror = ctx.settings.mirror_app_id
        && (fresh
            || rotated
            || app.annotations().get(annotations::APP_ID) != Some(&delivered.app_id)
            || app.annotations().contains_key(annotations::PENDING));
    // A restore whose app now carries this object's fingerprint: its marker names this object
    // from now on, so that a restore of this object finds the app in turn. Once, on that path.
    let marker_moved = marker_of(app)
        .filter(|m| m.written_on_other(&uid).is_some() && target.can_update())
        .map(|m| crate::controller::marker::PendingMarker {
            object: Some(uid.clone()),
            ..m
        });
    // `rotating` goes once the rotation is recorded (set in this very reconcile, or earlier).
    if mirror
        || rotated
        || marker_moved.is_some()
        || app.annotations().contains_key(annotations::ROTATING)
    {
        // The pending marker stays (with the id in status it is inert): it is what a restored
        // copy of this object finds its app by. The optional mirror replaces it.
        let mut annots = serde_json::Map::new();
        annots.insert(annotations::ROTATING.into(), Value::Null);
        if let Some(moved) = &marker_moved {
            annots.insert(annotations::PENDING.into(), json!(moved.to_annotation()));
        }
        if mirror {
            annots.insert(annotations::APP_ID.into(), json!(delivered.app_id));
            annots.insert(annotations::PENDING.into(), Value::Null);
        }
        driver::annotate(app, ctx, annots).await?;
    }
    // A service that cannot reset has no rotation to schedule (it warns at its resyncs).
    let rotation_at = next_rotation(app, delivered.rotated.as_ref()).filter(|_| target.can_reset());
    Ok(
        match requeue_after(ctx.settings.resync, rotation_at, Utc::now()) {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        },
    )
}

/// A reconcile of its own before the next resync (the resync sweep brings every object back
/// once a period): when a rotation falls due sooner, at least a second away so that a due
/// rotation is not spun on.
fn requeue_after(
    resync: Duration,
    rotation_at: Option<chrono::DateTime<Utc>>,
    now: chrono::DateTime<Utc>,
) -> Option<Duration> {
    let at = rotation_at?;
    let after = (at - now)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_secs(1));
    (after < resync).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_of_its_own_only_for_a_rotation_due_before_the_resync() {
        let now = Utc::now();
        let resync = Duration::from_secs(600);
        let secs = chrono::Duration::seconds;
        let cases = [
            ("no rotation: the sweep's resync", None, None),
            ("rotation after the resync", Some(now + secs(900)), None),
            (
                "rotation before the resync",
                Some(now + secs(60)),
                Some(Duration::from_secs(60)),
            ),
            (
                "rotation overdue",
                Some(now - secs(60)),
                Some(Duration::from_secs(1)),
            ),
        ];
        for (name, at, want) in cases {
            assert_eq!(requeue_after(resync, at, now), want, "{name}");
        }
    }
}
