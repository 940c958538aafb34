//! Lambda function `repositories`: registered repositories, release commits and code mappings,
//! behind the admin API (bearer token).

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::functions::admin_app().await?;
    run(shared::functions::HttpFunction::Repositories.router(app)).await
}
