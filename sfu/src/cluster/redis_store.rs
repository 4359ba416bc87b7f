//! The [`ClusterStore`] of a cluster: Redis 7 or Valkey through the `redis` crate's async
//! connection manager, which reconnects by itself after the server restarts.
//!
//! Keys (all under `sfu:`): `node:<id>` a hash with the node's record and a TTL, `nodes` the
//! set of node ids (pruned when their record has expired), `room:<name>` a hash `{node,
//! epoch}`, `epoch` the counter every placement increments, `recent:<id>` a sorted set of a
//! node's recent placements, `since` when this store began holding the cluster.
//!
//! A Redis that restarted empty has forgotten every room's owner. For the first
//! [`PlacementRule::warm_up`] after `since` it places no new room (only owners it knows again),
//! so every live node re-claims its rooms first ([`ClusterStore::claim`], every heartbeat)
//! and a room never starts a second copy elsewhere. Placement, claim and release are each one Lua script, so each is
//! atomic and one round trip. The scripts touch keys they compute (`node:<id>`), which a single
//! Redis or Valkey allows; Redis Cluster would not.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};
use tokio::sync::Mutex;

use super::store::{
    ClusterStore, NodeRecord, NodeState, Placement, PlacementRule, StoreError, StoreFuture,
};

/// Prefix of every key.
const PREFIX: &str = "sfu:";

/// How long one store operation may take before it counts as failed: a join waits at most
/// this long for its placement.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// KEYS[1] the room; ARGV: asking node, ceiling, room weight, recent window (ms), prefix,
/// warm-up (ms). Answers {node, url, epoch, placed}; placed 2: the store is warming up.
const PLACE: &str = r#"
local prefix = ARGV[5]
local asking = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', prefix .. 'since', now, 'NX')
local owner = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if owner[1] then
  local rec = redis.call('HMGET', prefix .. 'node:' .. owner[1], 'url', 'state')
  if rec[1] then
    if owner[1] ~= asking then
      return {owner[1], rec[1], tonumber(owner[2]), 0}
    end
    if rec[2] == 'serving' then
      local epoch = redis.call('INCR', prefix .. 'epoch')
      redis.call('HSET', KEYS[1], 'node', asking, 'epoch', epoch)
      return {asking, rec[1], epoch, 0}
    end
  end
end
if now - tonumber(redis.call('GET', prefix .. 'since')) < tonumber(ARGV[6]) then
  return {'', '', 0, 2}
end
local window = tonumber(ARGV[4])
local best, best_url, best_score = nil, nil, nil
for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  local f = redis.call('HMGET', prefix .. 'node:' .. id, 'state', 'load', 'rooms', 'url')
  if not f[1] then
    redis.call('SREM', prefix .. 'nodes', id)
  elseif f[1] == 'serving' then
    local load = tonumber(f[2]) or 0
    if load < tonumber(ARGV[2]) then
      local recent = prefix .. 'recent:' .. id
      redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - window)
      local score = load + tonumber(ARGV[3]) * ((tonumber(f[3]) or 0) + redis.call('ZCARD', recent))
      if best == nil or score < best_score or (score == best_score and id < best) then
        best, best_url, best_score = id, f[4], score
      end
    end
  end
end
if best == nil then return false end
local epoch = redis.call('INCR', prefix .. 'epoch')
redis.call('HSET', KEYS[1], 'node', best, 'epoch', epoch)
redis.call('ZADD', prefix .. 'recent:' .. best, now, epoch)
redis.call('PEXPIRE', prefix .. 'recent:' .. best, window)
return {best, best_url, epoch, 1}
"#;

/// KEYS[1] the room; ARGV[1] the prefix. The live owner as {node, url, epoch}, or nil.
const OWNER: &str = r#"
local owner = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if not owner[1] then return false end
local url = redis.call('HGET', ARGV[1] .. 'node:' .. owner[1], 'url')
if not url then return false end
return {owner[1], url, tonumber(owner[2])}
"#;

/// KEYS: the rooms; ARGV[1] the node, ARGV[2] the prefix, ARGV[3..] each room's epoch.
/// Returns the 1-based indexes of the rooms another node owns with a higher epoch.
const CLAIM: &str = r#"
local fenced = {}
local top = 0
for i, key in ipairs(KEYS) do
  local mine = tonumber(ARGV[i + 2])
  local cur = redis.call('HMGET', key, 'node', 'epoch')
  if cur[1] == ARGV[1] then
  elseif cur[1] and tonumber(cur[2]) > mine then
    table.insert(fenced, i)
  else
    redis.call('HSET', key, 'node', ARGV[1], 'epoch', mine)
    if mine > top then top = mine end
  end
end
local epoch = tonumber(redis.call('GET', ARGV[2] .. 'epoch') or '0')
if top > epoch then redis.call('SET', ARGV[2] .. 'epoch', top) end
return fenced
"#;

/// KEYS[1] the room; ARGV: node, epoch.
const RELEASE: &str = r#"
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 0
"#;

/// ARGV[1] the prefix. Every live record as {id, url, media, state, load, rooms, participants}.
const NODES: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'nodes')) do
  local f = redis.call('HMGET', ARGV[1] .. 'node:' .. id, 'url', 'media', 'state', 'load', 'rooms', 'participants')
  if f[1] then
    table.insert(out, {id, f[1], f[2] or '', f[3] or 'draining', f[4] or '0', f[5] or '0', f[6] or '0'})
  else
    redis.call('SREM', ARGV[1] .. 'nodes', id)
  end
end
return out
"#;

/// Node records: the record, its expiry, the node in the set of nodes, and the moment this
/// store started holding the cluster (`since`, set once; a Redis that restarted empty starts
/// it again). KEYS[1] the record; ARGV: ttl (ms), prefix, id, then field/value pairs.
const PUBLISH: &str = r#"
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', ARGV[2] .. 'nodes', ARGV[3])
local t = redis.call('TIME')
redis.call('SET', ARGV[2] .. 'since', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 'NX')
return 0
"#;

/// A cluster store on one Redis (or Valkey) server.
#[derive(Debug)]
pub struct RedisStore {
    client: Client,
    /// Made on first use, so a server starts while Redis is still down; once made it
    /// reconnects by itself.
    connection: Mutex<Option<ConnectionManager>>,
    publish: Script,
    place: Script,
    owner: Script,
    claim: Script,
    release: Script,
    nodes: Script,
}

impl RedisStore {
    /// A store on `url` (`redis://host:port/db`, `rediss://` for TLS). Fails only on a URL
    /// that cannot be parsed; nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, String> {
        let client = Client::open(url).map_err(|error| format!("redis_url: {error}"))?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
            publish: Script::new(PUBLISH),
            place: Script::new(PLACE),
            owner: Script::new(OWNER),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
            nodes: Script::new(NODES),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let made = tokio::time::timeout(OPERATION_TIMEOUT, self.client.get_connection_manager())
            .await
            .map_err(|_| StoreError::Unavailable("connect timed out".to_owned()))?
            .map_err(unavailable)?;
        *slot = Some(made.clone());
        Ok(made)
    }

    /// Runs `operation` on the connection within [`OPERATION_TIMEOUT`].
    async fn run<T>(
        &self,
        operation: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        tokio::time::timeout(OPERATION_TIMEOUT, operation(&mut connection))
            .await
            .map_err(|_| StoreError::Unavailable("operation timed out".to_owned()))?
            .map_err(unavailable)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn node_key(node: &str) -> String {
    format!("{PREFIX}node:{node}")
}

fn room_key(room: &str) -> String {
    format!("{PREFIX}room:{room}")
}

impl ClusterStore for RedisStore {
    fn publish<'a>(&'a self, record: &'a NodeRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            let mut invocation = self.publish.prepare_invoke();
            invocation
                .key(node_key(&record.id))
                .arg(ttl_ms)
                .arg(PREFIX)
                .arg(&record.id);
            for (field, value) in [
                ("url", record.url.clone()),
                ("media", record.media.join(",")),
                ("state", record.state.as_str().to_owned()),
                ("load", format!("{:.4}", record.load)),
                ("rooms", record.rooms.to_string()),
                ("participants", record.participants.to_string()),
            ] {
                invocation.arg(field).arg(value);
            }
            self.run(async |connection| invocation.invoke_async::<()>(connection).await)
                .await
        })
    }

    fn retire<'a>(&'a self, node: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .del(node_key(node))
                .ignore()
                .srem(format!("{PREFIX}nodes"), node)
                .ignore();
            self.run(async |connection| pipe.query_async::<()>(connection).await)
                .await
        })
    }

    fn place<'a>(
        &'a self,
        room: &'a str,
        asking: &'a str,
        rule: PlacementRule,
    ) -> StoreFuture<'a, Placement> {
        Box::pin(async move {
            let recent_ms = u64::try_from(rule.recent.as_millis()).unwrap_or(u64::MAX);
            let mut invocation = self.place.prepare_invoke();
            invocation
                .key(room_key(room))
                .arg(asking)
                .arg(rule.ceiling)
                .arg(rule.room_weight)
                .arg(recent_ms)
                .arg(PREFIX)
                .arg(u64::try_from(rule.warm_up.as_millis()).unwrap_or(u64::MAX));
            let answer: Option<(String, String, u64, u64)> = self
                .run(async |connection| invocation.invoke_async(connection).await)
                .await?;
            let (node_id, url, epoch, placed) = answer.ok_or(StoreError::NoServingNode)?;
            if placed == 2 {
                return Err(StoreError::WarmingUp);
            }
            Ok(Placement {
                node_id,
                url,
                epoch,
                placed: placed == 1,
            })
        })
    }

    fn owner<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<Placement>> {
        Box::pin(async move {
            let mut invocation = self.owner.prepare_invoke();
            invocation.key(room_key(room)).arg(PREFIX);
            let answer: Option<(String, String, u64)> = self
                .run(async |connection| invocation.invoke_async(connection).await)
                .await?;
            Ok(answer.map(|(node_id, url, epoch)| Placement {
                node_id,
                url,
                epoch,
                placed: false,
            }))
        })
    }

    fn claim<'a>(
        &'a self,
        node: &'a str,
        rooms: &'a [(String, u64)],
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            if rooms.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = self.claim.prepare_invoke();
            invocation.arg(node).arg(PREFIX);
            for (room, epoch) in rooms {
                invocation.key(room_key(room)).arg(*epoch);
            }
            let fenced: Vec<usize> = self
                .run(async |connection| invocation.invoke_async(connection).await)
                .await?;
            Ok(fenced
                .into_iter()
                .filter_map(|index| rooms.get(index.checked_sub(1)?))
                .map(|(room, _)| room.clone())
                .collect())
        })
    }

    fn release<'a>(&'a self, room: &'a str, node: &'a str, epoch: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut invocation = self.release.prepare_invoke();
            invocation.key(room_key(room)).arg(node).arg(epoch);
            self.run(async |connection| invocation.invoke_async::<()>(connection).await)
                .await
        })
    }

    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>> {
        Box::pin(async move {
            let mut invocation = self.nodes.prepare_invoke();
            invocation.arg(PREFIX);
            type Row = (String, String, String, String, String, String, String);
            let rows: Vec<Row> = self
                .run(async |connection| invocation.invoke_async(connection).await)
                .await?;
            Ok(rows
                .into_iter()
                .map(
                    |(id, url, media, state, load, rooms, participants)| NodeRecord {
                        id,
                        url,
                        media: media
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        state: NodeState::from_word(&state),
                        load: load.parse().unwrap_or(0.0),
                        rooms: rooms.parse().unwrap_or(0),
                        participants: participants.parse().unwrap_or(0),
                    },
                )
                .collect())
        })
    }
}
