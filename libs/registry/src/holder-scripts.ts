/**
 * Lua scripts of the holder entries (issue 15; docs/registry.md "Holders"). Every script touches the
 * keys of ONE agent's hash tag (`{agent:<id>}`), so it runs in one Cluster slot.
 *
 *   <p>:{agent:<id>}:holders  HASH  replicaId -> "<epoch>:<expiresAtMs>" (Redis clock). Hash fields
 *                                    carry no TTL before Redis 7.4, so each value names its own
 *                                    expiry; readers skip expired fields, claims prune them, and
 *                                    the key itself gets PEXPIRE = lease at every claim/refresh (so
 *                                    it outlives none of its fields by more than a lease).
 *   <p>:{agent:<id>}:owner    HASH  {replica, epoch}: the legacy single-owner entry, kept as the
 *                                    LATEST holder (single-owner replicas read and write it).
 *
 * A live owner entry naming a replica that has no field in `holders` was written by a replica
 * running the single-owner code: readers count it as a holder.
 */
import { LuaScript } from './redis-store';

const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** parse(v) -> epoch (string), expiresAt (number) of a holder field value. */
const PARSE = `
local function parse(v)
  if not v then return nil, 0 end
  local e, x = string.match(v, '^(%d+):(%d+)$')
  return e, tonumber(x) or 0
end`;

/** KEYS: epoch, holders, owner. ARGV: replica, leaseMs, minEpoch. Returns the new epoch. */
export const CLAIM_HOLDER = new LuaScript('claim_holder', 3, `${NOW_MS}${PARSE}
local e = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3]) or 0
if e <= floor then
  e = floor + 1
  redis.call('SET', KEYS[1], e)
end
local lease = tonumber(ARGV[2])
local kv = redis.call('HGETALL', KEYS[2])
for i = 1, #kv, 2 do
  local _, x = parse(kv[i + 1])
  if x <= now then redis.call('HDEL', KEYS[2], kv[i]) end
end
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d:%d', e, now + lease))
redis.call('PEXPIRE', KEYS[2], lease)
redis.call('HSET', KEYS[3], 'replica', ARGV[1], 'epoch', e)
redis.call('PEXPIRE', KEYS[3], lease)
return e`);

/**
 * KEYS: holders, owner. ARGV: replica, epoch. Drops the replica's entry when its epoch is ARGV[2];
 * when the owner entry was that holder, the latest remaining live holder becomes the owner entry
 * (with that holder's remaining lease), or the owner entry is deleted. Returns 1 released, 0 not.
 */
export const RELEASE_HOLDER = new LuaScript('release_holder', 2, `${NOW_MS}${PARSE}
local released = 0
local e = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if e == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  released = 1
end
local o = redis.call('HMGET', KEYS[2], 'replica', 'epoch')
if o[1] == ARGV[1] and o[2] == ARGV[2] then
  released = 1
  local best, bestE, bestX = nil, -1, 0
  local kv = redis.call('HGETALL', KEYS[1])
  for i = 1, #kv, 2 do
    local he, hx = parse(kv[i + 1])
    if he and hx > now and tonumber(he) > bestE then best, bestE, bestX = kv[i], tonumber(he), hx end
  end
  if best then
    redis.call('HSET', KEYS[2], 'replica', best, 'epoch', bestE)
    redis.call('PEXPIRE', KEYS[2], bestX - now)
  else
    redis.call('DEL', KEYS[2])
  end
end
return released`);

/**
 * KEYS: holders, owner. ARGV: replica, epoch, leaseMs.
 * Returns {status, links, first}: status 1 refreshed, 0 missing (no live entry, or an older epoch:
 * Redis lost data), -1 lost (this replica's entry carries a newer epoch); links = live holders of
 * the agent (legacy owner included); first = 1 when this replica sorts first among them.
 * A refresh also refreshes the owner entry when it names this holder, and writes it when absent
 * (the latest holder died): single-owner replicas keep finding the agent.
 */
export const REFRESH_HOLDER = new LuaScript('refresh_holder', 2, `${NOW_MS}${PARSE}
local lease = tonumber(ARGV[3])
local status = 0
local e, x = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if e and x > now then
  if e == ARGV[2] then
    status = 1
    redis.call('HSET', KEYS[1], ARGV[1], string.format('%s:%d', e, now + lease))
    redis.call('PEXPIRE', KEYS[1], lease)
  elseif tonumber(e) > tonumber(ARGV[2]) then
    status = -1
  end
end
local o = redis.call('HMGET', KEYS[2], 'replica', 'epoch')
if status == 1 then
  if not o[1] then
    redis.call('HSET', KEYS[2], 'replica', ARGV[1], 'epoch', ARGV[2])
    redis.call('PEXPIRE', KEYS[2], lease)
    o = {ARGV[1], ARGV[2]}
  elseif o[1] == ARGV[1] and o[2] == ARGV[2] then
    redis.call('PEXPIRE', KEYS[2], lease)
  end
end
local seen, n, first = {}, 0, 1
local kv = redis.call('HGETALL', KEYS[1])
for i = 1, #kv, 2 do
  local _, hx = parse(kv[i + 1])
  if hx > now then
    seen[kv[i]] = true
    n = n + 1
    if kv[i] < ARGV[1] then first = 0 end
  end
end
if o[1] and not seen[o[1]] then
  n = n + 1
  if o[1] < ARGV[1] then first = 0 end
end
return {status, n, first}`);

/**
 * KEYS: holders, owner. Returns {replica, epoch, replica, epoch, ...} of the live holders, the
 * owner entry merged in (its replica once, with the higher epoch).
 */
export const LIST_HOLDERS = new LuaScript('list_holders', 2, `${NOW_MS}${PARSE}
local out, at = {}, {}
local kv = redis.call('HGETALL', KEYS[1])
for i = 1, #kv, 2 do
  local e, x = parse(kv[i + 1])
  if e and x > now then
    out[#out + 1] = kv[i]
    out[#out + 1] = e
    at[kv[i]] = #out
  end
end
local o = redis.call('HMGET', KEYS[2], 'replica', 'epoch')
if o[1] and o[2] then
  local j = at[o[1]]
  if j == nil then
    out[#out + 1] = o[1]
    out[#out + 1] = o[2]
  elseif tonumber(o[2]) > tonumber(out[j]) then
    out[j] = o[2]
  end
end
return out`);
