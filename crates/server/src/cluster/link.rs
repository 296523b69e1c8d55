//! The connection to Redis: commands through the `redis` crate's tokio connection manager
//! (which reconnects by itself), a subscription on the events channel, and the one flag the
//! rest of cluster mode reads to know whether to use Redis at all. While the flag is down
//! nothing waits on Redis: each instance serves on its own state, and the supervisor
//! reconnects and resynchronises when Redis answers again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Cluster, ClusterError, channel};

/// How long one command may take before the instance stops waiting for it and treats Redis
/// as away. Redis on the same network answers in well under a millisecond; a lease or a
/// lock that waits longer than this is worse than serving on local state.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// How often a connected instance checks that Redis still answers (a subscription alone
/// does not notice a silent network).
const PING_EVERY: Duration = Duration::from_millis(1000);

/// The longest pause between reconnection attempts.
const RETRY_MAX: Duration = Duration::from_millis(1000);

pub struct Link {
    client: redis::Client,
    manager: ConnectionManager,
    up: AtomicBool,
    /// When the status last changed, in epoch milliseconds.
    since_ms: AtomicI64,
    connects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// `url` without its password, for logs.
pub fn redacted(url: &str) -> String {
    match redis::IntoConnectionInfo::into_connection_info(url) {
        Ok(info) => format!("{}", info.addr()),
        Err(_) => "(unparsable url)".into(),
    }
}

impl Link {
    pub fn new(url: &str) -> Result<Link, ClusterError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RETRY_MAX);
        // Lazy: a Redis that is down at start-up must not stop the instance from serving.
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Link {
            client,
            manager,
            up: AtomicBool::new(false),
            since_ms: AtomicI64::new(now_ms()),
            connects: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    #[inline]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn since_ms(&self) -> i64 {
        self.since_ms.load(Ordering::Relaxed)
    }

    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs one command, giving up after [`COMMAND_TIMEOUT`].
    pub async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, ClusterError> {
        let mut conn = self.manager.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ClusterError::Timeout(COMMAND_TIMEOUT.as_millis() as u64)),
        }
    }

    /// Runs a pipeline, giving up after [`COMMAND_TIMEOUT`].
    pub async fn run_pipe<T: redis::FromRedisValue>(
        &self,
        pipe: redis::Pipeline,
    ) -> Result<T, ClusterError> {
        let mut conn = self.manager.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ClusterError::Timeout(COMMAND_TIMEOUT.as_millis() as u64)),
        }
    }

    /// Records that Redis did not answer: the instance serves on local state until the
    /// supervisor sees Redis again.
    pub fn failed(&self, e: &ClusterError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        if self.up.swap(false, Ordering::AcqRel) {
            self.since_ms.store(now_ms(), Ordering::Relaxed);
            tracing::warn!("cluster: redis is unreachable ({e}); serving on local state");
        }
    }

    fn connected(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            self.since_ms.store(now_ms(), Ordering::Relaxed);
            self.connects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("cluster: connected to redis");
        }
    }

    async fn ping(&self) -> Result<(), ClusterError> {
        self.run::<String>(redis::cmd("PING")).await.map(|_| ())
    }
}

/// Keeps the subscription open while the instance lives: connects, subscribes, brings the
/// shared state up to date, applies the others' events as they come, and on any loss
/// starts over after a short pause.
pub async fn supervise(cluster: &'static Cluster) {
    let link = &cluster.link;
    let mut pause = Duration::from_millis(50);
    loop {
        match subscribe(link).await {
            Ok(mut stream) => {
                pause = Duration::from_millis(50);
                link.connected();
                cluster.resync().await;
                cluster.catch_up().await;
                let mut tick = tokio::time::interval(PING_EVERY);
                tick.tick().await;
                loop {
                    tokio::select! {
                            msg = stream.next() => match msg {
                                Some(m) => cluster.receive(m.get_payload_bytes()),
                                None => {
                                    link.failed(&ClusterError::Down);
                                    break;
                                }
                            },
                            _ = tick.tick() => match link.ping().await {
                                Ok(()) if !link.is_up() => {
                                    // A command failed while the subscription stayed: Redis is
                                    // back, and what was dropped meanwhile is published again.
                                    link.connected();
                                    cluster.resync().await;
                    cluster.catch_up().await;
                                }
                                Ok(()) => {}
                                Err(e) => {
                                    link.failed(&e);
                                    break;
                                }
                            },
                        }
                }
            }
            Err(e) => link.failed(&e),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

async fn subscribe(link: &Link) -> Result<redis::aio::PubSubStream, ClusterError> {
    let timeout = |_| ClusterError::Timeout(COMMAND_TIMEOUT.as_millis() as u64);
    let mut pubsub = tokio::time::timeout(COMMAND_TIMEOUT, link.client.get_async_pubsub())
        .await
        .map_err(timeout)??;
    tokio::time::timeout(COMMAND_TIMEOUT, pubsub.subscribe(channel()))
        .await
        .map_err(timeout)??;
    link.ping().await?;
    Ok(pubsub.into_on_message())
}

fn now_ms() -> i64 {
    crate::routing::epoch_ms(switchyard_hub::clock::now())
}
