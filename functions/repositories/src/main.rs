//! Lambda function `repositories`: registered repositories, release commits and code mappings,
//! behind the admin API (bearer token).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    // Push subscriptions deliver to URLs built from it: fail at start, not on first registration.
    shared::config::required_env("BRIDGE_PUBLIC_URL")?;
    // Its routes are admin routes: without the admin token every request would be refused.
    shared::config::required_env(shared::app::ADMIN_TOKEN_SECRET_ENV)?;
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::STANDARD).await?;
    run(shared::functions::HttpFunction::Repositories.router(app)).await
}
