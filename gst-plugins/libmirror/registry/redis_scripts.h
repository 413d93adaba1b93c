// SPDX-License-Identifier: LGPL-2.1-or-later
// Lua run by Redis (EVAL), so that each check-and-write is one atomic step
// for the whole cluster. Replies are {code, other_node}.
#pragma once

namespace mirror::redis_scripts {

// Claim or refresh a stream: write it unless another node holds it.
// KEYS[1] = "<prefix>stream:<id>", KEYS[2] = "<prefix>streams",
// KEYS[3] = "<prefix>epoch:<id>", KEYS[4] = "<prefix>timeline:<id>"
// ARGV[1] = our node id, ARGV[2] = entry JSON, ARGV[3] = TTL in ms, ARGV[4] = id,
// ARGV[5] = the entry's epoch, 0 on its first claim, ARGV[6] = the epoch
// and timeline keys' TTL in ms, ARGV[7] = the timeline this owner reached
// (StreamRegistry::record_timeline), 0 for none yet
// -> {1, "", epoch, timeline} written, with the timeline stored before this
// write; {0, holder, 0, 0} held by another node.
// A key holding ours (an earlier run of this node, or our own last write) is
// overwritten: that is how a restarted node takes its streams back, and how a
// heartbeat refreshes the TTL. A missing key is simply (re)created.
// The first claim of a registration takes the next epoch (INCR), written into
// the JSON in place of its "epoch":0 (a quote inside a JSON string is always
// escaped, so no string value can hold that text); later writes keep the
// counter at least at their epoch (a Redis that restarted empty). The
// timeline only grows, and like the epoch outlives the entry.
inline constexpr const char *kClaim = R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and entry.node_id ~= ARGV[1] then
    return {0, tostring(entry.node_id), 0, 0}
  end
end
local timeline = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
local reached = tonumber(ARGV[7]) or 0
if reached > timeline then
  redis.call('SET', KEYS[4], reached, 'PX', ARGV[6])
elseif timeline > 0 then
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
local epoch = tonumber(ARGV[5])
local json = ARGV[2]
if epoch == 0 then
  epoch = redis.call('INCR', KEYS[3])
  json = string.gsub(json, '"epoch":0', '"epoch":' .. epoch, 1)
elseif tonumber(redis.call('GET', KEYS[3]) or '0') < epoch then
  redis.call('SET', KEYS[3], epoch)
end
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('SET', KEYS[1], json, 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return {1, '', epoch, timeline}
)lua";

// Remove a stream if it is ours, keeping the timeline it reached.
// KEYS[1], KEYS[2] as kClaim, KEYS[3] = "<prefix>timeline:<id>";
// ARGV[1] = our node id, ARGV[2] = id, ARGV[3] = the timeline reached (0:
// none), ARGV[4] = the timeline key's TTL in ms
// -> {1, ""} removed; {0, ""} not there; {-1, holder} held by another node.
inline constexpr const char *kRelease = R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and entry.node_id ~= ARGV[1] then
    return {-1, tostring(entry.node_id)}
  end
end
local reached = tonumber(ARGV[3]) or 0
if reached > (tonumber(redis.call('GET', KEYS[3]) or '0') or 0) then
  redis.call('SET', KEYS[3], reached, 'PX', ARGV[4])
end
if not current then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {0, ''}
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return {1, ''}
)lua";

// Drop index members whose key has expired, unless re-created meanwhile.
// KEYS[1] = index, KEYS[1 + i] = key of ARGV[i] -> how many were removed.
inline constexpr const char *kPrune = R"lua(
local removed = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return removed
)lua";

} // namespace mirror::redis_scripts
