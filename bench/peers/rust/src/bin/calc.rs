//! The REST calc on axum: `GET /api/{op}/{a}/{b}` with the class's JSON keys.

#[tokio::main]
async fn main() {
    let listener = commlab_peers::listen().await;
    axum::serve(listener, commlab_peers::calc_router())
        .await
        .expect("serve");
}
