//! The README's walk-through (`demo`) runs as printed against the local server.

use bridge_tests::demo::Demo;
use bridge_tests::server::{ADMIN_TOKEN, Backend, start};

#[tokio::test]
async fn the_demo_walks_the_whole_flow() {
    let server = start(Backend::Local).await;
    let demo = Demo {
        bridge: server.url(""),
        admin_token: ADMIN_TOKEN.into(),
        ado: &server.ado,
        sentry: &server.sentry,
        client: reqwest::Client::new(),
    };
    demo.run().await.unwrap();
}
