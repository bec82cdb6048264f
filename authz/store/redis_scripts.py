"""The Redis store's server-side scripts: each runs atomically, on one slot.

``COMMIT`` is stage 10's transaction (``StateStore.commit_allow``): KEYS = the task's revocation
mark, its call counter, then one key per approval id, all under the task's hash tag.
ARGV = max_calls ("" for no budget), the unix second the counter expires at, the unix second
the consumed marks expire at. Returns the ``CommitOutcome`` value.

``REVOKE``: KEYS = the task's revocation mark; ARGV = reason, by, at, seconds to keep it.
Returns 1 if newly revoked, 0 if it already was (the first revocation is kept).

``ANCHOR``: KEYS = the anchors hash; ARGV = chain, seq, hash, at. Moves the chain's anchor
forward only (1), or leaves a later one (0).
"""

from __future__ import annotations

COMMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'task_revoked' end
local budgeted = ARGV[1] ~= ''
if budgeted then
  local calls = tonumber(redis.call('GET', KEYS[2]) or '0')
  if calls >= tonumber(ARGV[1]) then return 'budget_exhausted' end
end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'approval_replayed' end
end
if budgeted then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[2])
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], '1', 'EXAT', ARGV[3])
end
return 'allowed'
"""

REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'reason', ARGV[1], 'by', ARGV[2], 'at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

ANCHOR = """
local seq = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':seq') or '0')
if tonumber(ARGV[2]) <= seq then return 0 end
local chain = ARGV[1]
redis.call('HSET', KEYS[1], chain .. ':seq', ARGV[2], chain .. ':hash', ARGV[3], chain .. ':at', ARGV[4])
return 1
"""
