//! A layer on the kube client that counts its calls to the apiserver by verb and final response
//! code, for `appauth_kube_requests_total`. It sits outside kube's own retry layer: a call that
//! was throttled (429) or refused (503, 504) and then retried counts once, with the code it
//! finally got; the attempts in between are not counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::metrics::Metrics;

/// Wraps a client service so that each request is counted once its answer (or failure) is known.
#[derive(Clone)]
pub struct CountRequests(pub Arc<Metrics>);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Answer<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let verb = verb(req.method(), req.uri().query());
        let metrics = self.metrics.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let result = answer.await;
            let code = result.as_ref().map_or(0, |r| r.status().as_u16());
            metrics.kube_request(verb, code);
            result
        })
    }
}

/// The request's verb: its HTTP method, and WATCH for a GET with `watch=true` (reads and lists
/// are both GET here).
fn verb(method: &http::Method, query: Option<&str>) -> &'static str {
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    match method.as_str() {
        "GET" if watch => "WATCH",
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn verbs() {
        for (method, query, want) in [
            (Method::GET, None, "GET"),
            (Method::GET, Some("labelSelector=a%3Db&watch=true"), "WATCH"),
            (Method::GET, Some("watch=1&resourceVersion=5"), "WATCH"),
            (Method::GET, Some("watchy=true"), "GET"),
            (Method::PATCH, Some("fieldManager=x"), "PATCH"),
            (Method::POST, None, "POST"),
            (Method::DELETE, None, "DELETE"),
            (Method::PUT, None, "PUT"),
            (Method::OPTIONS, None, "OTHER"),
        ] {
            assert_eq!(verb(&method, query), want, "{method} {query:?}");
        }
    }
}
