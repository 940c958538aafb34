//! Lambda function `integrations`: the integrations admin routes, behind the stack's admin HTTP API (bearer token).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::functions::admin_app().await?;
    run(shared::functions::HttpFunction::Integrations.router(app)).await
}
