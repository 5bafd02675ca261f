//! The fence for connections that are not request and reply: a subscriber, whose every
//! (un)subscription names a channel the namespace rule checks before it is sent, and a plain
//! reply-at-a-time socket to one node.

use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Msg, RedisResult};

use super::Fence;

/// A subscriber connection: SUBSCRIBE and PSUBSCRIBE pass the fence first.
pub struct FencedPubSub {
    pubsub: PubSub,
    fence: Fence,
}

/// The sending half of a `FencedPubSub`.
pub struct FencedSink {
    sink: PubSubSink,
    fence: Fence,
}

async fn admit(fence: &Fence, verb: &[u8], channel: &[u8]) -> RedisResult<()> {
    fence.admit_own(&[verb.to_vec(), channel.to_vec()]).await?;
    Ok(())
}

impl FencedPubSub {
    pub(in crate::redis) fn new(pubsub: PubSub, fence: Fence) -> Self {
        FencedPubSub { pubsub, fence }
    }

    pub async fn subscribe(&mut self, channel: &[u8]) -> RedisResult<()> {
        admit(&self.fence, b"SUBSCRIBE", channel).await?;
        self.pubsub.subscribe(channel).await
    }

    pub async fn psubscribe(&mut self, pattern: &[u8]) -> RedisResult<()> {
        admit(&self.fence, b"PSUBSCRIBE", pattern).await?;
        self.pubsub.psubscribe(pattern).await
    }

    /// Messages as they arrive.
    pub fn on_message(&mut self) -> impl futures_util::Stream<Item = Msg> + '_ {
        self.pubsub.on_message()
    }

    pub fn split(self) -> (FencedSink, PubSubStream) {
        let (sink, stream) = self.pubsub.split();
        (
            FencedSink {
                sink,
                fence: self.fence,
            },
            stream,
        )
    }
}

impl FencedSink {
    pub async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        admit(&self.fence, b"SUBSCRIBE", channel.as_bytes()).await?;
        self.sink.subscribe(channel).await
    }

    pub async fn psubscribe(&mut self, pattern: &str) -> RedisResult<()> {
        admit(&self.fence, b"PSUBSCRIBE", pattern.as_bytes()).await?;
        self.sink.psubscribe(pattern).await
    }

    pub async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        self.sink.unsubscribe(channel).await
    }

    pub async fn punsubscribe(&mut self, pattern: &str) -> RedisResult<()> {
        self.sink.punsubscribe(pattern).await
    }
}

/// One plain conversation with one server, a reply at a time (see `transport::Socket`): every
/// command the caller sends passes the fence first. SUBSCRIBE and its kin are what such a
/// connection is for.
pub struct RawConn {
    socket: crate::redis::transport::Socket,
    fence: Fence,
}

impl RawConn {
    pub(in crate::redis) fn new(socket: crate::redis::transport::Socket, fence: Fence) -> Self {
        RawConn { socket, fence }
    }

    /// Sends a command once the fence admits it (a refusal is an error, and nothing is sent).
    pub async fn send(&mut self, args: &[Vec<u8>]) -> RedisResult<()> {
        self.fence.admit_own(args).await?;
        self.socket.write(args).await
    }

    /// The next reply or pushed message, whole; a timeout error when it is not all here
    /// `within` from now.
    pub async fn next(&mut self, within: std::time::Duration) -> RedisResult<redis::Value> {
        self.socket.next(within).await
    }
}
