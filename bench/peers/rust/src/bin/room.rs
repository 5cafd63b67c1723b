//! A chat room on tokio, as the ecosystem writes one (see `commlab_peers::room`).

#[tokio::main]
async fn main() {
    let listener = commlab_peers::listen().await;
    commlab_peers::room::serve(listener, String::new(), None).await;
}
