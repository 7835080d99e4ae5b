"""The Lua scripts of the read model's Redis Cluster layout (redis_keys.KeyLayout tagged).

A script touches one slot only, so each declares every key it touches: a grid's scripts its
hash, fixed keys and rover hashes (all tagged ``{<grid id>}``), the bookkeeping script the
``{meta}`` keys. A batch is committed grid by grid (each atomic), then its checkpoint; how
an update lands in the keys is redis_scripts.APPLY's, and the commit's refusals REFUSED's.
"""

from __future__ import annotations

from services.query.adapters.redis_scripts import APPLY, GREATER, REFUSED

__all__ = ["COMMIT_GRID", "COMMIT_META", "GRID_OF", "REPLACE_GRID_OF", "ROVER_OF"]

# Grid keys: KEYS[1] the hash, KEYS[2..4] obstacles, rovers, details, KEYS[5..] the hashes of
# the rovers it holds (GRID_OF, REPLACE_GRID_OF) or that the updates touch (COMMIT_GRID).
# ARGV[1..] for reads: the rover ids of KEYS[5..]; the script answers {'RETRY'} when the
# grid's rovers are not those any more (a commit came between: read them again).
_ROVERS_ARE = """
local function rovers_are(from)
  local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
  if #ids ~= #ARGV - from + 1 then return false end
  for k = 1, #ids do if ids[k] ~= ARGV[from + k - 1] then return false end end
  return ids
end
"""

# ARGV: the updates of one grid (COMMIT's JSON), its serialised GridDetails after them.
# Returns {'OK'} or {'CONFLICT', grid id, version}; KEYS[5..]: the rovers the updates touch.
COMMIT_GRID = (
    APPLY
    + """
local updates = cjson.decode(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
for r = 1, #updates do
  local expected = current + r
  if updates[r][2] ~= expected then return {'CONFLICT', updates[r][1], tostring(expected - 1)} end
end
for r = 1, #updates do apply_grid(KEYS[1], updates[r], nil) end
redis.call('SET', KEYS[4], ARGV[2])
return {'OK'}
"""
)

# KEYS: active generation, commit counter, the projector's lease, the generation's checkpoint,
# its grid index. ARGV: generation, must_be_active, not_before, fence (see REFUSED), then
# write ('0': only check), position, recorded_at_ms, events, then the ids of new grids.
# Returns a refusal, or {'OK', commit count} (counted up when writing).
COMMIT_META = (
    GREATER
    + REFUSED
    + """
local refusal = refused(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if refusal then return refusal end
if ARGV[5] == '0' then return {'OK', tonumber(redis.call('GET', KEYS[2]) or '0')} end
for i = 9, #ARGV do redis.call('ZADD', KEYS[5], 0, ARGV[i]) end
advance(KEYS[4], ARGV[6], ARGV[7], ARGV[8])
return {'OK', redis.call('INCR', KEYS[2])}
"""
)

# Grid keys (above); ARGV: the rover ids of KEYS[5..]. Returns what redis_scripts.GRID does,
# {'RETRY'} or nil.
GRID_OF = (
    _ROVERS_ARE
    + """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local ids = rovers_are(1)
if not ids then return {'RETRY'} end
local out = {fields, redis.call('SMEMBERS', KEYS[2]), ids}
for k = 1, #ids do out[k + 3] = redis.call('HGETALL', KEYS[k + 4]) end
return out
"""
)

# KEYS[1] a grid's hash, KEYS[2] a rover's. Returns what redis_scripts.ROVER does.
ROVER_OF = """
local version = redis.call('HGET', KEYS[1], 'version')
if not version or redis.call('HEXISTS', KEYS[1], 'grid_id') == 0 then return false end
return {version, redis.call('HGETALL', KEYS[2])}
"""

# Grid keys (above: KEYS[5..] the rovers it holds, then those the updates touch). ARGV: the
# version the grid must still be at, the updates (the grid's events from its first), its
# serialised GridDetails, the number of rovers it holds, their ids. Deletes the grid's keys,
# then applies the updates. Returns {'OK'}, {'RETRY'} or {'CONFLICT', grid id, version}.
REPLACE_GRID_OF = (
    APPLY
    + _ROVERS_ARE
    + """
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then return {'CONFLICT', '', current} end
local held = tonumber(ARGV[4])
if not rovers_are(5) then return {'RETRY'} end
for k = 1, held do redis.call('DEL', KEYS[k + 4]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local updates = cjson.decode(ARGV[2])
for r = 1, #updates do apply_grid(KEYS[1], updates[r], nil) end
if #updates > 0 then redis.call('SET', KEYS[4], ARGV[3]) end
return {'OK'}
"""
)
