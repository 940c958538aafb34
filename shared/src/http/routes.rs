//! A router that remembers which method and path each of its routes serves, so the routes of
//! every function can be listed: the AWS form's front is checked against that list, and a route
//! can never exist in `bridge-local` while no deployed function serves it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};

/// One route: a method and an axum path pattern (`/integrations/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

/// An axum [`Router`] plus the list of its routes.
pub struct Routes<S = ()> {
    router: Router<S>,
    listed: Vec<Route>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            listed: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &'static str, method_router: MethodRouter<S>) -> Self {
        self.listed.push(Route { method, path });
        self.router = self.router.route(path, method_router);
        self
    }

    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::GET, path, routing::get(handler))
    }

    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::POST, path, routing::post(handler))
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::DELETE, path, routing::delete(handler))
    }

    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.listed.extend(other.listed);
        self
    }

    /// Changes the router without adding routes (layers, for instance).
    pub fn map_router(mut self, change: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = change(self.router);
        self
    }

    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            listed: self.listed,
        }
    }

    pub fn listed(&self) -> &[Route] {
        &self.listed
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_route_it_serves_including_merged_ones() {
        let routes: Routes = Routes::new()
            .get("/a", || async { "a" })
            .post("/a", || async { "posted" })
            .merge(Routes::new().delete("/b/{id}", || async { "gone" }));
        let listed: Vec<(Method, &str)> = routes.listed().iter().map(|r| (r.method.clone(), r.path)).collect();
        assert_eq!(
            listed,
            vec![(Method::GET, "/a"), (Method::POST, "/a"), (Method::DELETE, "/b/{id}")]
        );
    }
}
