//! Lambda function `integrations`: the admin API behind a function URL (`AuthType: AWS_IAM`).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    // Webhook URLs handed to Azure DevOps are built from it: fail at start, not on first create.
    shared::config::required_env("BRIDGE_PUBLIC_URL")?;
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::STANDARD).await?;
    run(shared::functions::HttpFunction::Integrations.router(app)).await
}
