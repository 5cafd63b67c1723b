//! The NATS client protocol, sans-IO: the broker link of the federated
//! chat room (issue 16). [`OpDecoder`] decodes the server's operations
//! from a stream cut anywhere, with every line and payload bounded;
//! [`NatsClient`] is one connection as a [`Session`](crate::Session):
//! `CONNECT` with `echo:false`, `SUB`, `UNSUB`, `PUB`, `PING`/`PONG` both
//! ways, and a dead link found through `poll_timeout`. [`BrokerLink`]
//! is the layer that gives any [`Federated`] service such a link, with
//! reconnection.

mod client;
mod link;
mod proto;

pub use client::{
    NatsClient, NatsError, NatsEvent, SendError, CONNECT_TIMEOUT, MAX_OUTBOX, PING_INTERVAL,
    PONG_TIMEOUT,
};
pub use link::{
    BrokerLink, Federated, LinkError, LinkEvent, Linked, Publish, BACKOFF_MAX, BACKOFF_START,
    LINK_BACKLOG,
};
pub use proto::{
    encode_connect, encode_pub, encode_sub, encode_unsub, valid_subject, Message, OpDecoder,
    ProtoError, ServerInfo, ServerOp, DEFAULT_MAX_PAYLOAD, MAX_CONTROL_LINE,
};
