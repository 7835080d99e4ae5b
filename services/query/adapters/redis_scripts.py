"""The Lua scripts of the Redis read model: each one runs atomically inside Redis.

Reads resolve the active generation inside the script, so a query never straddles a swap;
the commit checks every sequence before writing anything, so it is all or nothing.
"""

from __future__ import annotations

__all__ = [
    "APPLY",
    "COMMIT",
    "GREATER",
    "GRID",
    "GRID_DETAILS_MANY",
    "GRID_IN",
    "LEASE_ACQUIRE",
    "LEASE_RELEASE",
    "LEASE_RENEW",
    "LIST_GRIDS",
    "REFUSED",
    "REPLACE_GRID",
    "ROVER",
    "SWAP",
]

# Positions are decimal strings without leading zeros; compare them as such (they may not
# fit a Lua double exactly). A checkpoint only moves forward (``advance``).
GREATER = """
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function advance(ck, position, recorded_at_ms, events)
  local stored = redis.call('HGET', ck, 'position')
  if not stored or greater(position, stored) then
    redis.call('HSET', ck, 'position', position, 'recorded_at_ms', recorded_at_ms, 'events', events)
  end
end
"""

# One update (see COMMIT) applied to a grid whose hash is ``gk``: the one place that says how
# an update lands in the keys (COMMIT, REPLACE_GRID and the cluster layout's scripts apply
# updates so). ``index`` is the generation's grid index (nil: the caller adds new grids).
APPLY = """
local function apply_grid(gk, u, index)
  local g, flags, rover = u[1], u[3], u[4]
  redis.call('HSET', gk, unpack(u[5]))
  if flags % 2 == 1 then
    if index then redis.call('ZADD', index, 0, g) end
    local obstacles = u[7]
    for o = 1, #obstacles, 1000 do
      redis.call('SADD', gk .. ':obstacles', unpack(obstacles, o, math.min(o + 999, #obstacles)))
    end
  end
  if rover ~= '' then
    redis.call('HSET', gk .. ':rover:' .. rover, unpack(u[6]))
    if flags >= 2 and redis.call('ZADD', gk .. ':rovers', 'NX', 0, rover) == 1 then
      redis.call('HINCRBY', gk, 'rover_count', 1)
    end
  end
end
local function apply(p, u) apply_grid(p .. 'grid:' .. u[1], u, p .. 'grids') end
"""

# Why a commit must not write (nil when it may): the lease is not the writer's (``fence``
# given), the generation is not active (``must_be_active`` '1'), or the commit counter is
# below ``not_before`` (Redis lost writes). The one place these checks are written.
REFUSED = """
local function refused(active_key, commits_key, lease_key, gen, must_be_active, not_before, fence)
  if fence ~= '' then
    local holder = redis.call('GET', lease_key)
    if holder ~= fence then return {'LEASE', holder or ''} end
  end
  local active = redis.call('GET', active_key)
  if must_be_active == '1' and active ~= gen then return {'GEN', active or ''} end
  local count = tonumber(redis.call('GET', commits_key) or '0')
  if not_before ~= '' and count < tonumber(not_before) then return {'REWOUND', count} end
  return nil
end
"""

# KEYS[1] active-generation key, KEYS[2] commit counter, KEYS[3] the projector's lease. ARGV:
# generation, prefix, must_be_active (0/1), checkpoint position, recorded_at_ms, events, the
# updates as one JSON array (one argument, so the client packs a batch cheaply), not_before (a
# commit count the writer has seen, '' for none: a counter below it means Redis lost writes),
# fence (the lease value the writer holds, '' for no check), then grid id / serialised
# GridDetails pairs (binary) of the grids the batch touched. Each update is [grid_id,
# sequence, flags (1 new grid, 2 new rover), rover_id, [grid field, value, ...],
# [rover field, value, ...], [obstacle members]].
COMMIT = (
    GREATER
    + APPLY
    + REFUSED
    + """
local refusal = refused(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[8], ARGV[9])
if refusal then return refusal end
local p = ARGV[2]
local updates = cjson.decode(ARGV[7])
local seen = {}
for r = 1, #updates do
  local g, seq = updates[r][1], updates[r][2]
  local current = seen[g]
  if current == nil then
    current = tonumber(redis.call('HGET', p .. 'grid:' .. g, 'version') or '0')
  end
  if seq ~= current + 1 then return {'CONFLICT', g, tostring(current)} end
  seen[g] = seq
end
for r = 1, #updates do apply(p, updates[r]) end
for d = 10, #ARGV, 2 do
  redis.call('SET', p .. 'grid:' .. ARGV[d] .. ':details', ARGV[d + 1])
end
advance(p .. 'checkpoint', ARGV[4], ARGV[5], ARGV[6])
return {'OK', redis.call('INCR', KEYS[2])}
"""
)

# KEYS[1] active-generation key, KEYS[2] commit counter. ARGV: generation, its prefix, the
# grid id, the version the grid must still be at, the updates (COMMIT's JSON: the grid's events
# from its first), the serialised GridDetails of the result. Deletes every key of the grid,
# then applies the updates: the grid's entry becomes exactly their fold, in one step. Returns
# {'OK', commit count}, {'GEN', active} or {'CONFLICT', grid id, version}.
REPLACE_GRID = (
    APPLY
    + """
local active = redis.call('GET', KEYS[1])
if active ~= ARGV[1] then return {'GEN', active or ''} end
local p, g = ARGV[2], ARGV[3]
local gk = p .. 'grid:' .. g
local current = redis.call('HGET', gk, 'version') or '0'
if current ~= ARGV[4] then return {'CONFLICT', g, current} end
local rovers = redis.call('ZRANGE', gk .. ':rovers', 0, -1)
for k = 1, #rovers do redis.call('DEL', gk .. ':rover:' .. rovers[k]) end
redis.call('DEL', gk, gk .. ':obstacles', gk .. ':rovers', gk .. ':details')
redis.call('ZREM', p .. 'grids', g)
local updates = cjson.decode(ARGV[5])
for r = 1, #updates do apply(p, updates[r]) end
if #updates > 0 then redis.call('SET', gk .. ':details', ARGV[6]) end
return {'OK', redis.call('INCR', KEYS[2])}
"""
)

# KEYS[1] active-generation key, KEYS[2] the checkpoint of the generation the caller found
# active (any key when none), KEYS[3] the checkpoint of the generation to activate. ARGV: that
# generation, the one found active ('' for none). Activates it unless the active one moved
# on since (returns {'MOVED'}: read it again) or is further along (false). Returns the
# generation it replaced ('' for none).
SWAP = (
    GREATER
    + """
local active = redis.call('GET', KEYS[1]) or ''
if active ~= ARGV[2] then return {'MOVED'} end
if active ~= '' then
  local theirs = redis.call('HGET', KEYS[2], 'position')
  local mine = redis.call('HGET', KEYS[3], 'position')
  if theirs and (not mine or greater(theirs, mine)) then return false end
end
redis.call('SET', KEYS[1], ARGV[1])
return active
"""
)

_GRID_BODY = """
local fields = redis.call('HGETALL', gk)
if #fields == 0 then return false end
local ids = redis.call('ZRANGE', gk .. ':rovers', 0, -1)
local out = {fields, redis.call('SMEMBERS', gk .. ':obstacles'), ids}
for k = 1, #ids do out[k + 3] = redis.call('HGETALL', gk .. ':rover:' .. ids[k]) end
return out
"""

# KEYS[1] active-generation key. ARGV: key base, grid id.
# Returns {grid fields, obstacles, rover ids, rover fields...} or nil.
GRID = (
    """
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local gk = ARGV[1] .. gen .. ':grid:' .. ARGV[2]
"""
    + _GRID_BODY
)

# No keys (the projector reads the generation it writes). ARGV: generation prefix, grid id.
# Returns what GRID returns.
GRID_IN = (
    """
local gk = ARGV[1] .. 'grid:' .. ARGV[2]
"""
    + _GRID_BODY
)

# KEYS[1] active-generation key. ARGV: key base, grid id.
# Returns {version, serialised GridDetails} or nil when the grid has no stored details.
GRID_DETAILS = """
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local gk = ARGV[1] .. gen .. ':grid:' .. ARGV[2]
local details = redis.call('GET', gk .. ':details')
if not details then return false end
return {redis.call('HGET', gk, 'version'), details}
"""

# KEYS[1] active-generation key. ARGV: key base, then grid ids. One reply per grid id:
# {version, serialised GridDetails}, or false where GRID_DETAILS answers nil. Read together,
# so concurrent GetGridDetails calls share one round trip (RedisReadModel.grid_document).
GRID_DETAILS_MANY = """
local gen = redis.call('GET', KEYS[1])
local out = {}
for i = 2, #ARGV do
  local found = false
  if gen then
    local gk = ARGV[1] .. gen .. ':grid:' .. ARGV[i]
    local details = redis.call('GET', gk .. ':details')
    if details then found = {redis.call('HGET', gk, 'version'), details} end
  end
  out[i - 1] = found
end
return out
"""

# KEYS[1] active-generation key. ARGV: key base, grid id, rover id.
# Returns {grid version, rover fields} or nil for an unknown grid.
ROVER = """
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local gk = ARGV[1] .. gen .. ':grid:' .. ARGV[2]
local version = redis.call('HGET', gk, 'version')
if not version or redis.call('HEXISTS', gk, 'grid_id') == 0 then return false end
return {version, redis.call('HGETALL', gk .. ':rover:' .. ARGV[3])}
"""

# KEYS[1] active-generation key. ARGV: key base, after (exclusive, '' = from the start), limit.
LIST_GRIDS = """
local gen = redis.call('GET', KEYS[1])
if not gen then return {} end
local p = ARGV[1] .. gen .. ':'
local start = '-'
if ARGV[2] ~= '' then start = '(' .. ARGV[2] end
local ids = redis.call('ZRANGE', p .. 'grids', start, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for k = 1, #ids do out[k] = redis.call('HGETALL', p .. 'grid:' .. ids[k]) end
return out
"""

# KEYS[1] lease key. ARGV: our value, ttl in ms, a value to replace (its holder is gone; ''
# for none). Returns {1, our value} when we hold it now, else {0, the holder's value}.
LEASE_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if not current or current == ARGV[1] or current == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1]}
end
return {0, current}
"""

# KEYS[1] lease key. ARGV: our value, ttl in ms. 1 when renewed, 0 when not ours any more.
LEASE_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lease key. ARGV: our value. Deletes the lease only while it is ours.
LEASE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
