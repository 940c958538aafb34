//! Lambda function `webhook-intake`: `POST /hooks/azure-devops/{integration_id}` behind the HTTP API.

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::STANDARD).await?;
    run(shared::functions::HttpFunction::WebhookIntake.router(app)).await
}
