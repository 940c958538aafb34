//! Lambda function `webhook-intake`: `POST /hooks/azure-devops/{integration_id}` behind the HTTP API.

use lambda_http::{Error, run, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = shared::App::aws_from_env().await?;
    run(shared::http::finish(shared::intake::router(app))).await
}
