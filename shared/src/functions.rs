//! The HTTP functions of the deployed stack and the routes each one serves. `bridge-local`
//! serves all of them on one listener ([`crate::local::routes`]); each Lambda binary serves its
//! own, plus `GET /healthz`.

use std::sync::Arc;

use axum::Router;

use crate::App;
use crate::http::{self, Routes};

/// A Lambda function behind an HTTP endpoint (API Gateway or a function URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpFunction {
    /// `webhook-intake`: Azure DevOps service hooks, behind the HTTP API.
    WebhookIntake,
    /// `work-items`: the Sentry app's webhook URL host (function URL, `AuthType: NONE`).
    WorkItems,
    /// `integrations`: the admin API (function URL, `AuthType: AWS_IAM`).
    Integrations,
    /// `repositories`: repositories, release commits, code mappings (function URL, `AuthType: AWS_IAM`).
    Repositories,
}

impl HttpFunction {
    pub const ALL: [HttpFunction; 4] = [
        Self::WebhookIntake,
        Self::WorkItems,
        Self::Integrations,
        Self::Repositories,
    ];

    /// The binary's (and the template's `BuildProperties.Binary`) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebhookIntake => "webhook-intake",
            Self::WorkItems => "work-items",
            Self::Integrations => "integrations",
            Self::Repositories => "repositories",
        }
    }

    /// The routes the function's own code serves (without `/healthz`).
    pub fn own_routes(self, app: Arc<App>) -> Routes {
        match self {
            Self::WebhookIntake => crate::intake::routes(app),
            Self::WorkItems => crate::work_items::routes(app),
            Self::Integrations => crate::integrations::routes(app),
            Self::Repositories => crate::repositories::routes(app),
        }
    }

    /// Everything the deployed function serves: its routes and `GET /healthz`.
    pub fn routes(self, app: Arc<App>) -> Routes {
        http::health_routes().merge(self.own_routes(app))
    }

    /// The router the Lambda binary runs.
    pub fn router(self, app: Arc<App>) -> Router {
        http::finish(self.routes(app).into_router())
    }
}

/// The app of a function that serves admin routes (`integrations`, `repositories`): it needs the
/// public URL (webhook URLs are built from it) and the admin token, and fails at start without
/// them rather than on its first request.
pub async fn admin_app() -> Result<Arc<App>, crate::config::ConfigError> {
    crate::config::required_env("BRIDGE_PUBLIC_URL")?;
    crate::config::required_env(crate::app::ADMIN_TOKEN_SECRET_ENV)?;
    App::aws_from_env(crate::config::SdkTimeouts::STANDARD).await
}
