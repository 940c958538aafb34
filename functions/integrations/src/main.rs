//! Lambda function `integrations`: the integrations admin routes, behind the stack's admin HTTP API (bearer token).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    // Webhook URLs handed to Azure DevOps are built from it: fail at start, not on first create.
    shared::config::required_env("BRIDGE_PUBLIC_URL")?;
    // Its routes are admin routes: without the admin token every request would be refused.
    shared::config::required_env(shared::app::ADMIN_TOKEN_SECRET_ENV)?;
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::STANDARD).await?;
    run(shared::functions::HttpFunction::Integrations.router(app)).await
}
