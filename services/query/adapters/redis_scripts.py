"""The Lua scripts of the Redis read model: each one runs atomically inside Redis.

Reads resolve the active generation inside the script, so a query never straddles a swap;
the commit checks every sequence before writing anything, so it is all or nothing.
"""

from __future__ import annotations

__all__ = ["COMMIT", "GRID", "LIST_GRIDS", "ROVER", "SWAP"]

# Positions are decimal strings without leading zeros; compare them as such (they may not
# fit a Lua double exactly).
_GREATER = """
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
"""

# KEYS[1] active-generation key. ARGV: generation, prefix, must_be_active (0/1), checkpoint
# position, recorded_at_ms, events, update count, then each update as
# grid_id, sequence, flags (1 new grid, 2 new rover), rover_id, #grid pairs, #rover pairs,
# #obstacles, grid field/value pairs, rover field/value pairs, obstacle members.
COMMIT = (
    _GREATER
    + """
local active = redis.call('GET', KEYS[1])
if ARGV[3] == '1' and active ~= ARGV[1] then return {'GEN', active or ''} end
local p = ARGV[2]
local n = tonumber(ARGV[7])
local starts, seen = {}, {}
local i = 8
for r = 1, n do
  local g, seq = ARGV[i], tonumber(ARGV[i + 1])
  local current = seen[g]
  if current == nil then
    current = tonumber(redis.call('HGET', p .. 'grid:' .. g, 'version') or '0')
  end
  if seq ~= current + 1 then return {'CONFLICT', g, tostring(current)} end
  seen[g] = seq
  starts[r] = i
  i = i + 7 + 2 * tonumber(ARGV[i + 4]) + 2 * tonumber(ARGV[i + 5]) + tonumber(ARGV[i + 6])
end
for r = 1, n do
  local j = starts[r]
  local g, flags, rover = ARGV[j], tonumber(ARGV[j + 2]), ARGV[j + 3]
  local ng, nr, no = tonumber(ARGV[j + 4]), tonumber(ARGV[j + 5]), tonumber(ARGV[j + 6])
  local gk = p .. 'grid:' .. g
  j = j + 7
  redis.call('HSET', gk, unpack(ARGV, j, j + 2 * ng - 1))
  j = j + 2 * ng
  if flags % 2 == 1 then
    redis.call('ZADD', p .. 'grids', 0, g)
    local o = j + 2 * nr
    while o < j + 2 * nr + no do
      local upto = math.min(o + 999, j + 2 * nr + no - 1)
      redis.call('SADD', gk .. ':obstacles', unpack(ARGV, o, upto))
      o = upto + 1
    end
  end
  if rover ~= '' then
    redis.call('HSET', gk .. ':rover:' .. rover, unpack(ARGV, j, j + 2 * nr - 1))
    if flags >= 2 and redis.call('ZADD', gk .. ':rovers', 'NX', 0, rover) == 1 then
      redis.call('HINCRBY', gk, 'rover_count', 1)
    end
  end
end
local ck = p .. 'checkpoint'
local stored = redis.call('HGET', ck, 'position')
if not stored or greater(ARGV[4], stored) then
  redis.call('HSET', ck, 'position', ARGV[4], 'recorded_at_ms', ARGV[5], 'events', ARGV[6])
end
return {'OK'}
"""
)

# KEYS[1] active-generation key. ARGV: generation to activate, key base ("<prefix>:g").
SWAP = (
    _GREATER
    + """
local active = redis.call('GET', KEYS[1])
if active then
  local theirs = redis.call('HGET', ARGV[2] .. active .. ':checkpoint', 'position')
  local mine = redis.call('HGET', ARGV[2] .. ARGV[1] .. ':checkpoint', 'position')
  if theirs and (not mine or greater(theirs, mine)) then return false end
end
redis.call('SET', KEYS[1], ARGV[1])
return active or ''
"""
)

# KEYS[1] active-generation key. ARGV: key base, grid id.
# Returns {grid fields, obstacles, rover ids, rover fields...} or nil.
GRID = """
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local gk = ARGV[1] .. gen .. ':grid:' .. ARGV[2]
local fields = redis.call('HGETALL', gk)
if #fields == 0 then return false end
local ids = redis.call('ZRANGE', gk .. ':rovers', 0, -1)
local out = {fields, redis.call('SMEMBERS', gk .. ':obstacles'), ids}
for k = 1, #ids do out[k + 3] = redis.call('HGETALL', gk .. ':rover:' .. ids[k]) end
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
