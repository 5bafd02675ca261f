//! The fence for connections that are not request and reply: a subscriber, whose every
//! (un)subscription names a channel the namespace rule checks before it is sent.

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
