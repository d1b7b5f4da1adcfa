//! Every app of a service instance or workspace, page by page: what drift is read from, one
//! list per instance instead of one read per app.

use std::future::Future;

use super::app::CloudApp;
use super::target::Target;
use crate::cloud::apig::ListFilter;
use crate::cloud::{CloudClient, CloudError};

/// Pages of `size` from `fetch(offset, size)` (each answers its items and the total), until
/// the total is reached, a page comes back empty, or `max_pages` were read.
async fn pages<T, C, F, Fut>(size: i64, max_pages: usize, mut fetch: F) -> Result<C, CloudError>
where
    C: Default + Extend<T>,
    F: FnMut(i64, i64) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, i64), CloudError>>,
{
    let mut all = C::default();
    let mut offset = 0i64;
    for _ in 0..max_pages {
        let (items, total) = fetch(offset, size).await?;
        let n = items.len() as i64;
        all.extend(items);
        offset += n;
        if n == 0 || offset >= total {
            break;
        }
    }
    Ok(all)
}

/// Bounds the listing of one instance (APIG: 500 per page, a million apps).
const MAX_PAGES: usize = 2000;

impl Target {
    /// Every app of this instance or workspace, each as `keep` makes it as its page arrives
    /// (a page's apps, secrets and all, are dropped before the next page is read).
    /// Collected straight into `C` (a map, for the drift listing: no list of every app first).
    pub async fn list_all<U, C>(
        &self,
        client: &CloudClient,
        keep: impl Fn(CloudApp) -> U,
    ) -> Result<C, CloudError>
    where
        C: Default + Extend<U>,
    {
        let keep = &keep;
        Ok(match self {
            Target::Apig { instance } => {
                let apig = client.apig(instance);
                pages(500, MAX_PAGES, |offset, limit| {
                    let apig = &apig;
                    async move {
                        let page = apig
                            .list(&ListFilter {
                                offset,
                                limit,
                                ..Default::default()
                            })
                            .await?;
                        Ok((
                            page.apps.into_iter().map(Into::into).map(keep).collect(),
                            page.total,
                        ))
                    }
                })
                .await?
            }
            Target::ModelArts { workspace } => {
                let mut all = C::default();
                all.extend(
                    client
                        .modelarts(workspace)
                        .list_apps(None, false)
                        .await?
                        .into_iter()
                        .map(Into::into)
                        .map(keep),
                );
                all
            }
            Target::DataArts {
                workspace,
                dlm_type,
            } => {
                let dataarts = client.dataarts(workspace, Self::dlm(*dlm_type));
                pages(100, MAX_PAGES, |offset, limit| {
                    let dataarts = &dataarts;
                    async move {
                        let page = dataarts.list(None, offset, limit).await?;
                        Ok((
                            page.apps.into_iter().map(Into::into).map(keep).collect(),
                            page.total,
                        ))
                    }
                })
                .await?
            }
            Target::Roma { instance, .. } => {
                let roma = client.roma(instance);
                pages(500, MAX_PAGES, |offset, limit| {
                    let roma = &roma;
                    async move {
                        let page = roma.list(None, offset, limit).await?;
                        Ok((
                            page.apps.into_iter().map(Into::into).map(keep).collect(),
                            page.total,
                        ))
                    }
                })
                .await?
            }
        })
    }

    /// Apps per page of [`Target::list_all`] (what one listing call returns at most).
    pub fn listing_page(&self) -> usize {
        match self {
            Target::Apig { .. } | Target::Roma { .. } => 500,
            Target::ModelArts { .. } => 1000,
            Target::DataArts { .. } => 100,
        }
    }

    /// What a listing of this target is shared by: the service and its instance or workspace
    /// (ROMA's favorite is a setting of each app, not a place).
    pub fn listing_key(&self) -> String {
        match self {
            Target::DataArts {
                workspace,
                dlm_type,
            } => format!("dataarts/{workspace}/{}", Self::dlm(*dlm_type)),
            other => format!("{}/{}", other.service().as_str(), other.instance()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_stop_at_the_total_at_an_empty_page_and_at_the_bound() {
        let items: Vec<i64> = (0..7).collect();
        let fetch = |total: i64| {
            let items = items.clone();
            move |offset: i64, size: i64| {
                let items = items.clone();
                async move {
                    let page: Vec<i64> = items
                        .iter()
                        .copied()
                        .skip(offset as usize)
                        .take(size as usize)
                        .collect();
                    Ok::<_, CloudError>((page, total))
                }
            }
        };
        assert_eq!(
            pages::<_, Vec<_>, _, _>(3, 10, fetch(7)).await.unwrap(),
            items,
            "to the total"
        );
        assert_eq!(
            pages::<_, Vec<_>, _, _>(3, 10, fetch(100)).await.unwrap(),
            items,
            "a total that overstates: stops at the empty page"
        );
        assert_eq!(
            pages::<_, Vec<_>, _, _>(3, 2, fetch(7)).await.unwrap(),
            items[..6].to_vec(),
            "at most the bound"
        );
    }
}
