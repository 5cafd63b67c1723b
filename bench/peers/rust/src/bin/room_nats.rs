//! Three of these make the fair peer of commlab's federated room: a tokio
//! room (`commlab_peers::room`) linked to the others through NATS with
//! `async-nats`, echo off. `--nats URL --server-id ID`.

use commlab_peers::required_arg as arg;

#[tokio::main]
async fn main() {
    let (url, id) = (arg("--nats"), arg("--server-id"));
    let client = async_nats::ConnectOptions::new()
        .no_echo()
        .name(format!("tokio room {id}"))
        .connect(url)
        .await
        .expect("connect to NATS");
    let listener = commlab_peers::listen().await;
    commlab_peers::room::serve(listener, format!("@{id}"), Some(client)).await;
}
