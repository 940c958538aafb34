//! Lambda function `sync-worker`: DynamoDB stream batches of inbox inserts, and the one-minute
//! schedule that retries due failures. The logic is `shared::worker::lambda`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::WORKER).await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = shared::worker::Budget::until_unix_ms(event.context.deadline, shared::clock::now_ms());
        Ok::<Value, Error>(shared::worker::lambda::handle_invocation(app, event.payload, budget).await)
    }))
    .await
}
