//! Lambda function `repositories`: registered repositories, release commits and code mappings,
//! behind a function URL (`AuthType: AWS_IAM`).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    // Push subscriptions deliver to URLs built from it: fail at start, not on first registration.
    shared::config::required_env("BRIDGE_PUBLIC_URL")?;
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::STANDARD).await?;
    run(shared::functions::HttpFunction::Repositories.router(app)).await
}
