//! Lambda function `reconcile`: on its schedule, one reconciliation pass over every integration
//! within the invocation's time (a pass cut short goes on from its cursor next time). The logic
//! is `shared::reconcile`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init_lambda();
    let app = shared::App::aws_from_env(shared::config::SdkTimeouts::WORKER).await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = shared::worker::Budget::until_unix_ms(event.context.deadline, shared::clock::now_ms());
        let reports = shared::reconcile::pass_all(app, budget).await;
        // What the alarm "reconciliation not completing" watches.
        let complete = reports.iter().all(|(_, report)| report.complete);
        shared::metrics::count(if complete {
            shared::metrics::RECONCILE_COMPLETED
        } else {
            shared::metrics::RECONCILE_INCOMPLETE
        });
        let summary: Vec<Value> = reports
            .iter()
            .map(|(id, report)| json!({"integration": id, "complete": report.complete, "error": report.error}))
            .collect();
        Ok::<Value, Error>(json!({"integrations": summary}))
    }))
    .await
}
