//! Lambda function `work-items`: the Sentry app's webhook URL host (function URL, AuthType NONE:
//! every request is authenticated by its Sentry signature).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::SENTRY_FACING).await?;
    run(shared::functions::HttpFunction::WorkItems.router(app)).await
}
