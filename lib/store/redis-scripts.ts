/**
 * Every Lua script the package sends to Redis, in one place. Each touches only keys of one hash slot, so
 * it runs on Redis Cluster too: a session's blob `sess:<id>` and its records `…{sess:<id>}` share a slot.
 */

/** Compare-and-delete: a lock or claim is given back only by its holder. */
export const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Compare-and-set of a token record stored as `<v>:<json>`. ARGV: expected version ('' = must not exist),
 * value, ttl ms. Returns 1 when written.
 */
export const PUT_RECORD = `
local cur = redis.call('get', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif not cur or string.match(cur, '^(%d+):') ~= ARGV[1] then
  return 0
end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/**
 * Admission of a signed-in session blob: written only while its token record exists, and the record then
 * lives at least as long. KEYS: blob, record. ARGV: blob JSON, ttl seconds. Returns 1 when written.
 */
export const ADMIT_SESSION = `
if redis.call('exists', KEYS[2]) == 0 then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
local ms = tonumber(ARGV[2]) * 1000
if redis.call('pttl', KEYS[2]) < ms then redis.call('pexpire', KEYS[2], ms) end
return 1`;

/** Extends a key's life to at least ARGV[1] ms when it exists; returns 1 when it exists. */
export const EXTEND = `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[1]) then redis.call('pexpire', KEYS[1], ARGV[1]) end
return 1`;

/** SADD, then extends the set's life to at least ARGV[2] ms. */
export const ADD_MEMBER = `
redis.call('sadd', KEYS[1], ARGV[1])
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[2]) then redis.call('pexpire', KEYS[1], ARGV[2]) end
return 1`;

/** GET as a script: never answered from the client-side cache, so it reads what the master has now. */
export const GET = "return redis.call('get', KEYS[1])";

/** INFO replication of the node that holds KEYS[1] (the script runs where the key lives). */
export const INFO_REPLICATION = "return redis.call('info', 'replication')";
