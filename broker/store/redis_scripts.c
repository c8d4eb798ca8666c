/* redis_scripts.c - the Lua scripts of the redis store, one per state change.
 *
 * Each script is the shared prelude followed by its own body, so every state
 * change runs as one atomic script and helper functions (promotion of due
 * messages, FIFO group bookkeeping, retention) are the same in all of them.
 * The connection loads them with SCRIPT LOAD when it connects and runs them by
 * EVALSHA. Scripts build key names from the prefix they are given (ARGV[1])
 * instead of declaring them in KEYS, so the store needs a standalone Redis (or
 * one shard), not a cluster. Times come from redis.call('TIME'): Redis 7
 * replicates scripts by effects, which allows that.
 *
 * Key layout (P = prefix, N = queue name, which never contains ':'):
 *   P queues        zset of queue names (score 0: lexical order)
 *   P uid           counter: each queue incarnation gets a new uid, part of receipts
 *   P notify        pub/sub channel: a queue's name when it has something to receive
 *   P q:N           hash: uid, cfg (msgpack), the settings scripts read, created,
 *                   modified, nk (next message key), ns (next FIFO sequence number)
 *   P q:N:msg       hash: message key -> msgpack record (immutable)
 *   P q:N:st        hash: message key -> "rc:serial:first:sent:seq:expire:dlqsrc:group"
 *   P q:N:vis       list of visible keys (standard queues)
 *   P q:N:dly       zset key -> end of delay (ms)
 *   P q:N:inf       zset key -> end of visibility timeout (ms)
 *   P q:N:exp       zset key -> end of retention (ms)
 *   P q:N:rdy       zset of FIFO groups ready to be received
 *   P q:N:gi        hash group -> messages in flight (present while the group has any)
 *   P q:N:g:G       list of group G's keys in sequence order, whatever their state
 *   P q:N:tags      hash
 *   P d:N:UID:D     FIFO deduplication id D: "message id:seq", SET NX PX 300000
 *   P ob:due, P ob:data, P ob:att   outbox: zset id -> due ms, hash id -> record,
 *                   hash id -> claims so far
 *   P meta:KIND     hash name -> JSON document (functions, triggers; plain commands)
 * Scripts reply with an array led by a status: 0 ok, 1 no such queue (or item),
 * 2 over the queue's MaximumMessageSize (send), 3 a receipt of another queue. */
#include "redis_scripts.h"

#include "sluice/mem.h"

#include <openssl/evp.h>
#include <stddef.h>

#define PRELUDE \
    "-- Every script starts with this. ARGV[1] is the key prefix; the rest is the\n" \
    "-- script's own.\n" \
    "-- Queue N lives under P..'q:'..N: a hash of settings and counters, and beside it\n" \
    "--   :msg hash  key -> msgpack record (immutable)    :st  hash key -> delivery state\n" \
    "--   :vis list  visible keys (standard queues)       :dly zset key -> end of delay\n" \
    "--   :inf zset  key -> visibility deadline           :exp zset key -> end of retention\n" \
    "--   :rdy zset  FIFO groups that can be received     :gi  hash group -> in flight\n" \
    "--   :g:<group> list of the group's keys in sequence order, whatever their state\n" \
    "--   :tags hash\n" \
    "-- A state is \"rc:serial:first_receive:sent:seq:expire:dlq_source:group\".\n" \
    "local P = ARGV[1]\n" \
    "local T = redis.call('TIME')\n" \
    "local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)\n" \
    "\n" \
    "local function qopen(name)\n" \
    "  local key = P .. 'q:' .. name\n" \
    "  local m = redis.call('HMGET', key, 'uid', 'fifo', 'vis', 'delay', 'ret', 'max',\n" \
    "                       'cbd', 'dlq', 'maxr')\n" \
    "  if not m[1] then return nil end\n" \
    "  return { name = name, key = key, uid = m[1], fifo = m[2] == '1', vis = tonumber(m[3]),\n" \
    "           delay = tonumber(m[4]), ret = tonumber(m[5]), max = tonumber(m[6]),\n" \
    "           cbd = m[7] == '1', dlq = m[8] or '', maxr = tonumber(m[9]) or 0 }\n" \
    "end\n" \
    "\n" \
    "-- Runs cmd key args... in chunks (Lua's unpack has limits); for commands\n" \
    "-- taking pairs the chunk size keeps them whole. Returns the replies joined\n" \
    "-- when they are arrays (HMGET, ZMSCORE).\n" \
    "local function bulk(cmd, key, args)\n" \
    "  local out, i, n = {}, 1, #args\n" \
    "  while i <= n do\n" \
    "    local j = math.min(n, i + 255)\n" \
    "    local r = redis.call(cmd, key, unpack(args, i, j))\n" \
    "    if type(r) == 'table' then\n" \
    "      for x = 1, j - i + 1 do out[#out + 1] = r[x] end\n" \
    "    end\n" \
    "    i = j + 1\n" \
    "  end\n" \
    "  return out\n" \
    "end\n" \
    "\n" \
    "local function st_parse(v)\n" \
    "  if not v then return nil end\n" \
    "  local rc, ser, fr, sent, seq, exp, src, grp =\n" \
    "    string.match(v, '^(%d+):(%d+):(%d+):(%d+):(%d+):(%d+):([^:]*):(.*)$')\n" \
    "  if not rc then return nil end\n" \
    "  return { rc = tonumber(rc), ser = tonumber(ser), fr = tonumber(fr),\n" \
    "           sent = tonumber(sent), seq = tonumber(seq), exp = tonumber(exp), src = src,\n" \
    "           grp = grp }\n" \
    "end\n" \
    "\n" \
    "local function st_get(q, k)\n" \
    "  return st_parse(redis.call('HGET', q.key .. ':st', k))\n" \
    "end\n" \
    "\n" \
    "local function st_fmt(s)\n" \
    "  return string.format('%d:%d:%d:%d:%d:%d:%s:%s', s.rc, s.ser, s.fr, s.sent, s.seq, s.exp,\n" \
    "                       s.src, s.grp)\n" \
    "end\n" \
    "\n" \
    "local function st_put(q, k, s)\n" \
    "  redis.call('HSET', q.key .. ':st', k, st_fmt(s))\n" \
    "end\n" \
    "\n" \
    "-- Receivable now: visible messages, or FIFO groups ready to hand out.\n" \
    "local function avail(q)\n" \
    "  if q.fifo then return redis.call('ZCARD', q.key .. ':rdy') end\n" \
    "  return redis.call('LLEN', q.key .. ':vis')\n" \
    "end\n" \
    "\n" \
    "-- Publishes the queue's name when it went from nothing to receive to something.\n" \
    "local function wake(q, before)\n" \
    "  if before == 0 and avail(q) > 0 then\n" \
    "    redis.call('PUBLISH', P .. 'notify', q.name)\n" \
    "    return 1\n" \
    "  end\n" \
    "  return 0\n" \
    "end\n" \
    "\n" \
    "-- A FIFO group is ready when nothing of it is in flight and its head is not delayed.\n" \
    "local function gcheck(q, g)\n" \
    "  local head = redis.call('LINDEX', q.key .. ':g:' .. g, 0)\n" \
    "  local inf = tonumber(redis.call('HGET', q.key .. ':gi', g) or '0')\n" \
    "  if not head then\n" \
    "    redis.call('ZREM', q.key .. ':rdy', g)\n" \
    "    if inf <= 0 then redis.call('HDEL', q.key .. ':gi', g) end\n" \
    "  elseif inf > 0 or redis.call('ZSCORE', q.key .. ':dly', head) then\n" \
    "    redis.call('ZREM', q.key .. ':rdy', g)\n" \
    "  else\n" \
    "    redis.call('ZADD', q.key .. ':rdy', 'NX', NOW, g)\n" \
    "  end\n" \
    "end\n" \
    "\n" \
    "local function forget(q, k)\n" \
    "  redis.call('HDEL', q.key .. ':msg', k)\n" \
    "  redis.call('HDEL', q.key .. ':st', k)\n" \
    "  redis.call('ZREM', q.key .. ':exp', k)\n" \
    "end\n" \
    "\n" \
    "-- Takes k out of q, whatever its state.\n" \
    "local function mremove(q, k, s)\n" \
    "  local inf = redis.call('ZREM', q.key .. ':inf', k) == 1\n" \
    "  local dly = redis.call('ZREM', q.key .. ':dly', k) == 1\n" \
    "  if q.fifo then\n" \
    "    redis.call('LREM', q.key .. ':g:' .. s.grp, 1, k)\n" \
    "    if inf then redis.call('HINCRBY', q.key .. ':gi', s.grp, -1) end\n" \
    "    gcheck(q, s.grp)\n" \
    "  elseif not inf and not dly then\n" \
    "    redis.call('LREM', q.key .. ':vis', 1, k)\n" \
    "  end\n" \
    "  forget(q, k)\n" \
    "end\n" \
    "\n" \
    "-- k has just left :dly or :inf: it becomes receivable, or goes when its\n" \
    "-- retention is over.\n" \
    "local function surface(q, k, s, from_inf)\n" \
    "  if q.fifo and from_inf then redis.call('HINCRBY', q.key .. ':gi', s.grp, -1) end\n" \
    "  if s.exp <= NOW then\n" \
    "    if q.fifo then\n" \
    "      redis.call('LREM', q.key .. ':g:' .. s.grp, 1, k)\n" \
    "      gcheck(q, s.grp)\n" \
    "    end\n" \
    "    forget(q, k)\n" \
    "  elseif q.fifo then\n" \
    "    gcheck(q, s.grp)\n" \
    "  else\n" \
    "    redis.call('RPUSH', q.key .. ':vis', k)\n" \
    "  end\n" \
    "end\n" \
    "\n" \
    "-- Delays and visibility timeouts that have ended (bounded work per call).\n" \
    "local function promote(q)\n" \
    "  for _, z in ipairs({ 'dly', 'inf' }) do\n" \
    "    local zk = q.key .. ':' .. z\n" \
    "    local due = redis.call('ZRANGEBYSCORE', zk, '-inf', NOW, 'LIMIT', 0, 1000)\n" \
    "    for _, k in ipairs(due) do\n" \
    "      redis.call('ZREM', zk, k)\n" \
    "      local s = st_get(q, k)\n" \
    "      if s then surface(q, k, s, z == 'inf') else forget(q, k) end\n" \
    "    end\n" \
    "  end\n" \
    "end\n" \
    "\n" \
    "-- Visible messages past their retention. Delayed and in-flight ones are judged\n" \
    "-- when they surface, so they only leave the retention index here.\n" \
    "local function sweep(q)\n" \
    "  local due = redis.call('ZRANGEBYSCORE', q.key .. ':exp', '-inf', NOW, 'LIMIT', 0,\n" \
    "                         1000)\n" \
    "  for _, k in ipairs(due) do\n" \
    "    if redis.call('ZSCORE', q.key .. ':inf', k) or\n" \
    "       redis.call('ZSCORE', q.key .. ':dly', k) then\n" \
    "      redis.call('ZREM', q.key .. ':exp', k)\n" \
    "    else\n" \
    "      local s = st_get(q, k)\n" \
    "      if s then mremove(q, k, s) else forget(q, k) end\n" \
    "    end\n" \
    "  end\n" \
    "end\n" \
    "\n" \
    "-- Adds a message of another queue (state s, record blob, from queue src) to d\n" \
    "-- as a new visible message that keeps its record, sent time and receive count.\n" \
    "local function dlq_add(d, s, blob, src)\n" \
    "  local nk = string.format('%d', redis.call('HINCRBY', d.key, 'nk', 1))\n" \
    "  local ns = { rc = s.rc, ser = 0, fr = s.fr, sent = s.sent, seq = 0,\n" \
    "               exp = s.sent + d.ret * 1000, src = src, grp = '' }\n" \
    "  if d.fifo then\n" \
    "    ns.seq = redis.call('HINCRBY', d.key, 'ns', 1)\n" \
    "    ns.grp = s.grp\n" \
    "  end\n" \
    "  redis.call('HSET', d.key .. ':msg', nk, blob)\n" \
    "  st_put(d, nk, ns)\n" \
    "  redis.call('ZADD', d.key .. ':exp', ns.exp, nk)\n" \
    "  if d.fifo then\n" \
    "    redis.call('RPUSH', d.key .. ':g:' .. ns.grp, nk)\n" \
    "    redis.call('HSETNX', d.key .. ':gi', ns.grp, 0)\n" \
    "    gcheck(d, ns.grp)\n" \
    "  else\n" \
    "    redis.call('RPUSH', d.key .. ':vis', nk)\n" \
    "  end\n" \
    "end\n" \
    "\n" \
    "-- q's dead-letter queue when it can take q's messages, else nil.\n" \
    "local function dlq_of(q)\n" \
    "  if q.dlq == '' or q.dlq == q.name then return nil end\n" \
    "  local d = qopen(q.dlq)\n" \
    "  if d and d.fifo == q.fifo then return d end\n" \
    "  return nil\n" \
    "end\n" \
    "\n" \
    "local function counts(q)\n" \
    "  local inf = redis.call('ZCARD', q.key .. ':inf')\n" \
    "  local dly = redis.call('ZCARD', q.key .. ':dly')\n" \
    "  local vis\n" \
    "  if q.fifo then\n" \
    "    vis = redis.call('HLEN', q.key .. ':st') - inf - dly\n" \
    "  else\n" \
    "    vis = redis.call('LLEN', q.key .. ':vis')\n" \
    "  end\n" \
    "  return vis, inf, dly\n" \
    "end\n" \
    "\n" \
    "local function info(q, existed)\n" \
    "  local m = redis.call('HMGET', q.key, 'cfg', 'created', 'modified')\n" \
    "  local vis, inf, dly = counts(q)\n" \
    "  return { 0, existed, m[1], q.fifo and 1 or 0, tonumber(m[2]), tonumber(m[3]), vis,\n" \
    "           inf, dly, redis.call('HGETALL', q.key .. ':tags') }\n" \
    "end\n" \
    "\n" \
    "local function purge(q)\n" \
    "  for _, g in ipairs(redis.call('HKEYS', q.key .. ':gi')) do\n" \
    "    redis.call('UNLINK', q.key .. ':g:' .. g)\n" \
    "  end\n" \
    "  redis.call('UNLINK', q.key .. ':msg', q.key .. ':st', q.key .. ':vis',\n" \
    "             q.key .. ':dly', q.key .. ':inf', q.key .. ':exp', q.key .. ':rdy',\n" \
    "             q.key .. ':gi')\n" \
    "end\n"

static const char s_queue_create[] =
    PRELUDE
    "-- ARGV: P, name, cfg, fifo, vis, delay, ret, max, cbd, dlq, maxr, ntags,\n"
    "-- (tag, value)...\n"
    "local q = qopen(ARGV[2])\n"
    "if q then\n"
    "  local before = avail(q)\n"
    "  promote(q)\n"
    "  sweep(q)\n"
    "  wake(q, before)\n"
    "  return info(q, 1)\n"
    "end\n"
    "local key = P .. 'q:' .. ARGV[2]\n"
    "local secs = math.floor(NOW / 1000)\n"
    "redis.call('HSET', key, 'uid', redis.call('INCR', P .. 'uid'), 'cfg', ARGV[3],\n"
    "           'fifo', ARGV[4], 'vis', ARGV[5], 'delay', ARGV[6], 'ret', ARGV[7],\n"
    "           'max', ARGV[8], 'cbd', ARGV[9], 'dlq', ARGV[10], 'maxr', ARGV[11],\n"
    "           'created', secs, 'modified', secs, 'nk', 0, 'ns', 0)\n"
    "for i = 1, tonumber(ARGV[12]) do\n"
    "  redis.call('HSET', key .. ':tags', ARGV[11 + 2 * i], ARGV[12 + 2 * i])\n"
    "end\n"
    "redis.call('ZADD', P .. 'queues', 0, ARGV[2])\n"
    "return info(qopen(ARGV[2]), 0)\n";

static const char s_queue_get[] =
    PRELUDE
    "-- ARGV: P, name\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "local before = avail(q)\n"
    "promote(q)\n"
    "sweep(q)\n"
    "wake(q, before)\n"
    "return info(q, 1)\n";

static const char s_queue_set[] =
    PRELUDE
    "-- ARGV: P, name, cfg, vis, delay, ret, max, cbd, dlq, maxr (FifoQueue never changes)\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "redis.call('HSET', q.key, 'cfg', ARGV[3], 'vis', ARGV[4], 'delay', ARGV[5],\n"
    "           'ret', ARGV[6], 'max', ARGV[7], 'cbd', ARGV[8], 'dlq', ARGV[9],\n"
    "           'maxr', ARGV[10], 'modified', math.floor(NOW / 1000))\n"
    "return { 0 }\n";

static const char s_queue_tag[] =
    PRELUDE
    "-- ARGV: P, name, nset, (tag, value)..., nremove, tag...\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "local i = 4\n"
    "for _ = 1, tonumber(ARGV[3]) do\n"
    "  redis.call('HSET', q.key .. ':tags', ARGV[i], ARGV[i + 1])\n"
    "  i = i + 2\n"
    "end\n"
    "local nr = tonumber(ARGV[i])\n"
    "for j = 1, nr do redis.call('HDEL', q.key .. ':tags', ARGV[i + j]) end\n"
    "return { 0 }\n";

static const char s_queue_delete[] =
    PRELUDE
    "-- ARGV: P, name\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "purge(q)\n"
    "redis.call('UNLINK', q.key, q.key .. ':tags')\n"
    "redis.call('ZREM', P .. 'queues', q.name)\n"
    "return { 0 }\n";

static const char s_queue_purge[] =
    PRELUDE
    "-- ARGV: P, name\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "purge(q)\n"
    "return { 0 }\n";

static const char s_dlq_sources[] =
    PRELUDE
    "-- ARGV: P, dlq name. Queues whose redrive policy names it, in lexical order.\n"
    "local out = { 0 }\n"
    "for _, n in ipairs(redis.call('ZRANGE', P .. 'queues', 0, -1)) do\n"
    "  if redis.call('HGET', P .. 'q:' .. n, 'dlq') == ARGV[2] then out[#out + 1] = n end\n"
    "end\n"
    "return out\n";

static const char s_send[] =
    PRELUDE
    "-- ARGV: P, name, then for each batch (the broker merges sends of one queue that\n"
    "-- reach it together): n, then per message: record, id, size, flags (1 group,\n"
    "-- 2 dedup id, 4 dedup id from content), group, dedup id, delay (-1 = queue's).\n"
    "-- Reply: status, published, then per batch: 0, or 2 when its total size is over\n"
    "-- the queue's MaximumMessageSize (none of it is stored), then per message:\n"
    "-- error, sequence number, first id when a duplicate. Batches are judged in\n"
    "-- turn and entries one by one, as separate calls would, then all are stored\n"
    "-- with one call per structure.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "-- Number conversions (tonumber, string.format) are most of what a script costs,\n"
    "-- so each argument is converted at most once, and the common values (no flags,\n"
    "-- the queue's delay) are recognised as strings.\n"
    "local before = avail(q)\n"
    "local out = { 0, 0 }\n"
    "local keep, seqs, sizes = {}, {}, {}\n"
    "local ns = 0\n"
    "if q.fifo then ns = tonumber(redis.call('HGET', q.key, 'ns') or '0') end\n"
    "local ns0 = ns\n"
    "local pos = 3\n"
    "while pos <= #ARGV do\n"
    "  local n = tonumber(ARGV[pos])\n"
    "  local at = pos + 1\n"
    "  local total = 0\n"
    "  pos = at + 7 * n\n"
    "  for i = 0, n - 1 do\n"
    "    sizes[i] = tonumber(ARGV[at + 2 + 7 * i])\n"
    "    total = total + sizes[i]\n"
    "  end\n"
    "  if total > q.max then\n"
    "    out[#out + 1] = 2\n"
    "    for _ = 1, n do\n"
    "      local m = #out\n"
    "      out[m + 1], out[m + 2], out[m + 3] = 0, 0, ''\n"
    "    end\n"
    "  else\n"
    "    out[#out + 1] = 0\n"
    "    for i = 0, n - 1 do\n"
    "      local b = at + 7 * i\n"
    "      local size, flags = sizes[i], ARGV[b + 3]\n"
    "      local dd, has_delay = ARGV[b + 5], ARGV[b + 6] ~= '-1'\n"
    "      local has_grp, has_dd, dd_content = false, false, false\n"
    "      if flags ~= '0' then\n"
    "        flags = tonumber(flags)\n"
    "        has_grp, has_dd, dd_content = flags % 2 == 1, math.floor(flags / 2) % 2 == 1,\n"
    "                                      math.floor(flags / 4) % 2 == 1\n"
    "      end\n"
    "      local err, seq, first = 0, 0, ''\n"
    "      if size > q.max then\n"
    "        err = 1\n"
    "      elseif q.fifo then\n"
    "        if not has_grp then err = 2\n"
    "        elseif has_delay then err = 4\n"
    "        elseif not has_dd or (dd_content and not q.cbd) then err = 3\n"
    "        end\n"
    "      elseif has_dd and not dd_content then\n"
    "        err = 5\n"
    "      end\n"
    "      if err == 0 and q.fifo then\n"
    "        local prev = redis.call('SET', P .. 'd:' .. q.name .. ':' .. q.uid .. ':' .. dd,\n"
    "                                ARGV[b + 1] .. ':' .. (ns + 1), 'NX', 'GET', 'PX', 300000)\n"
    "        if prev then\n"
    "          local pid, pseq = string.match(prev, '^(.*):(%d+)$')\n"
    "          first, seq, err = pid or '', tonumber(pseq or '0'), -1\n"
    "        else\n"
    "          ns = ns + 1\n"
    "          seq = ns\n"
    "        end\n"
    "      end\n"
    "      if err == 0 then\n"
    "        keep[#keep + 1] = b\n"
    "        seqs[#keep] = seq\n"
    "      end\n"
    "      if err < 0 then err = 0 end\n"
    "      out[#out + 1] = err\n"
    "      out[#out + 1] = seq\n"
    "      out[#out + 1] = first\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ns ~= ns0 then redis.call('HSET', q.key, 'ns', ns) end\n"
    "if #keep > 0 then\n"
    "  local k0 = redis.call('HINCRBY', q.key, 'nk', #keep) - #keep\n"
    "  local ret = NOW + q.ret * 1000\n"
    "  local rets = string.format('%d', ret)\n"
    "  local msg, st, exp, dly, vis, groups, glist = {}, {}, {}, {}, {}, {}, {}\n"
    "  -- a standard queue's new messages all start in the same state\n"
    "  local st0 = st_fmt({ rc = 0, ser = 0, fr = 0, sent = NOW, seq = 0, exp = ret, src = '',\n"
    "                       grp = '' })\n"
    "  for j, b in ipairs(keep) do\n"
    "    local k = string.format('%d', k0 + j)\n"
    "    local d = q.delay\n"
    "    local grp = ''\n"
    "    if ARGV[b + 6] ~= '-1' then d = tonumber(ARGV[b + 6]) end\n"
    "    msg[#msg + 1], msg[#msg + 2] = k, ARGV[b]\n"
    "    if q.fifo then\n"
    "      grp = ARGV[b + 4]\n"
    "      st[#st + 1], st[#st + 2] = k, st_fmt({ rc = 0, ser = 0, fr = 0, sent = NOW,\n"
    "                                             seq = seqs[j], exp = ret, src = '', grp = grp })\n"
    "    else\n"
    "      st[#st + 1], st[#st + 2] = k, st0\n"
    "    end\n"
    "    exp[#exp + 1], exp[#exp + 2] = rets, k\n"
    "    if d > 0 then dly[#dly + 1], dly[#dly + 2] = NOW + d * 1000, k end\n"
    "    if q.fifo then\n"
    "      if not groups[grp] then\n"
    "        groups[grp] = {}\n"
    "        glist[#glist + 1] = grp\n"
    "      end\n"
    "      table.insert(groups[grp], k)\n"
    "    elseif d <= 0 then\n"
    "      vis[#vis + 1] = k\n"
    "    end\n"
    "  end\n"
    "  bulk('HSET', q.key .. ':msg', msg)\n"
    "  bulk('HSET', q.key .. ':st', st)\n"
    "  bulk('ZADD', q.key .. ':exp', exp)\n"
    "  if #dly > 0 then bulk('ZADD', q.key .. ':dly', dly) end\n"
    "  if #vis > 0 then bulk('RPUSH', q.key .. ':vis', vis) end\n"
    "  for _, grp in ipairs(glist) do\n"
    "    bulk('RPUSH', q.key .. ':g:' .. grp, groups[grp])\n"
    "    redis.call('HSETNX', q.key .. ':gi', grp, 0)\n"
    "    gcheck(q, grp)\n"
    "  end\n"
    "end\n"
    "out[2] = wake(q, before)\n"
    "return out\n";

static const char s_receive[] =
    PRELUDE
    "-- ARGV: P, name, visibility seconds (-1 = queue's), then for each receiver the\n"
    "-- most messages it wants: the broker merges receives that reach it together,\n"
    "-- and each receiver is served in turn as if its own call ran after the one\n"
    "-- before (a FIFO group is never split between two of them).\n"
    "-- Reply: status, now, next deadline (-1 = none; only when the last receiver got\n"
    "-- nothing), queue uid, how many each receiver got, then per message in receiver\n"
    "-- order: key, state after the receive (the broker reads the serial, counts and\n"
    "-- times from it), record. Number conversions are most of what a script costs,\n"
    "-- so a state is not taken apart where a pattern will do.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "local vis = tonumber(ARGV[3])\n"
    "if vis < 0 then vis = q.vis end\n"
    "local parts = #ARGV - 3\n"
    "local before = avail(q)\n"
    "promote(q)\n"
    "sweep(q)\n"
    "local out = { 0, NOW, -1, q.uid }\n"
    "local res = {}                      -- the messages, appended to out at the end\n"
    "local got, max = 0, 0\n"
    "local dq, dq_before = nil, 0\n"
    "local sts, infs = {}, {}            -- what hand() leaves for one HSET and one ZADD\n"
    "local deadline = string.format('%d', NOW + vis * 1000)\n"
    "local nows = string.format('%d', NOW)\n"
    "\n"
    "-- The dead-letter queue m must move to instead of being received, or nil.\n"
    "local function dlq_for(s)\n"
    "  if q.maxr <= 0 or q.dlq == '' or q.dlq == q.name or s.rc < q.maxr then return nil end\n"
    "  if dq == nil then\n"
    "    dq = qopen(q.dlq) or false\n"
    "    if dq then dq_before = avail(dq) end\n"
    "  end\n"
    "  if dq and dq.fifo == q.fifo then return dq end\n"
    "  return nil\n"
    "end\n"
    "\n"
    "-- Moves k (already out of q's visible structures) into d.\n"
    "local function to_dlq(k, s, d, blob)\n"
    "  forget(q, k)\n"
    "  dlq_add(d, s, blob, q.name)\n"
    "end\n"
    "\n"
    "-- Hands k out: in flight until the deadline, counted as received. rc, ser, fr\n"
    "-- and rest are its state split by split3.\n"
    "local function hand(k, rc, ser, fr, rest, blob)\n"
    "  if fr == '0' then fr = nows end\n"
    "  local v = string.format('%d:%d:%s:%s', tonumber(rc) + 1, tonumber(ser) + 1, fr, rest)\n"
    "  sts[#sts + 1], sts[#sts + 2] = k, v\n"
    "  infs[#infs + 1], infs[#infs + 2] = deadline, k\n"
    "  local n = #res\n"
    "  res[n + 1], res[n + 2], res[n + 3] = k, v, blob\n"
    "  got = got + 1\n"
    "end\n"
    "\n"
    "-- A state's receive count, serial, first receive and the rest, as strings.\n"
    "local function split3(v)\n"
    "  return string.match(v or '', '^(%d+):(%d+):(%d+):(.*)$')\n"
    "end\n"
    "\n"
    "for p = 1, parts do\n"
    "  max, got = tonumber(ARGV[3 + p]), 0\n"
    "  if not q.fifo then\n"
    "    while got < max do\n"
    "      local ks = redis.call('LPOP', q.key .. ':vis', max - got)\n"
    "      if not ks then break end\n"
    "      local svals = bulk('HMGET', q.key .. ':st', ks)\n"
    "      local blobs = bulk('HMGET', q.key .. ':msg', ks)\n"
    "      for i, k in ipairs(ks) do\n"
    "        local blob = blobs[i]\n"
    "        local rc, ser, fr, rest = split3(svals[i])\n"
    "        local exp = rest and tonumber(string.match(rest, '^%d+:%d+:(%d+):'))\n"
    "        if not exp or not blob or exp <= NOW then\n"
    "          forget(q, k)\n"
    "        else\n"
    "          local s, d = nil, nil\n"
    "          if q.maxr > 0 and tonumber(rc) >= q.maxr then\n"
    "            s = st_parse(svals[i])\n"
    "            d = s and dlq_for(s)\n"
    "          end\n"
    "          if d then to_dlq(k, s, d, blob) else hand(k, rc, ser, fr, rest, blob) end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  else\n"
    "    -- Ready groups in turn, each from its head while visible; what is handed out\n"
    "    -- locks the group until it is deleted or visible again.\n"
    "    local guard = 0\n"
    "    while got < max and guard < 1000 do\n"
    "      guard = guard + 1\n"
    "      local g = redis.call('ZRANGE', q.key .. ':rdy', 0, 0)[1]\n"
    "      if not g then break end\n"
    "      local gl = q.key .. ':g:' .. g\n"
    "      local idx, took = 0, 0\n"
    "      while got < max do\n"
    "        local k = redis.call('LINDEX', gl, idx)\n"
    "        if not k or redis.call('ZSCORE', q.key .. ':dly', k) or\n"
    "           redis.call('ZSCORE', q.key .. ':inf', k) then\n"
    "          break\n"
    "        end\n"
    "        local v = redis.call('HGET', q.key .. ':st', k)\n"
    "        local s = st_parse(v)\n"
    "        local blob = redis.call('HGET', q.key .. ':msg', k)\n"
    "        if not s or not blob or s.exp <= NOW then\n"
    "          redis.call('LREM', gl, 1, k)\n"
    "          forget(q, k)\n"
    "        else\n"
    "          local d = dlq_for(s)\n"
    "          if d then\n"
    "            redis.call('LREM', gl, 1, k)\n"
    "            to_dlq(k, s, d, blob)\n"
    "          else\n"
    "            local rc, ser, fr, rest = split3(v)\n"
    "            hand(k, rc, ser, fr, rest, blob)\n"
    "            idx, took = idx + 1, took + 1\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      if took > 0 then redis.call('HINCRBY', q.key .. ':gi', g, took) end\n"
    "      gcheck(q, g)\n"
    "      if took == 0 then redis.call('ZREM', q.key .. ':rdy', g) end\n"
    "    end\n"
    "  end\n"
    "  out[4 + p] = got\n"
    "end\n"
    "if #sts > 0 then\n"
    "  bulk('HSET', q.key .. ':st', sts)\n"
    "  bulk('ZADD', q.key .. ':inf', infs)\n"
    "end\n"
    "if got == 0 then\n"
    "  -- the last receiver got nothing: what it may wait for\n"
    "  local a = redis.call('ZRANGE', q.key .. ':dly', 0, 0, 'WITHSCORES')\n"
    "  local b = redis.call('ZRANGE', q.key .. ':inf', 0, 0, 'WITHSCORES')\n"
    "  local w = -1\n"
    "  if a[2] then w = tonumber(a[2]) end\n"
    "  if b[2] and (w < 0 or tonumber(b[2]) < w) then w = tonumber(b[2]) end\n"
    "  out[3] = w\n"
    "end\n"
    "wake(q, before)\n"
    "if dq then wake(dq, dq_before) end\n"
    "for i = 1, #res do out[4 + parts + i] = res[i] end\n"
    "return out\n";

static const char s_delete[] =
    PRELUDE
    "-- ARGV: P, name, n, then per receipt: queue uid, key, serial.\n"
    "-- Reply: status, published, then per receipt: 0 ok, 1 not found or stale, 2 foreign.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "local before = avail(q)\n"
    "local n = tonumber(ARGV[3])\n"
    "local out = { 0, 0 }\n"
    "local ks, at = {}, {}\n"
    "for i = 0, n - 1 do\n"
    "  out[3 + i] = 2\n"
    "  if ARGV[4 + 3 * i] == q.uid then\n"
    "    ks[#ks + 1] = ARGV[5 + 3 * i]\n"
    "    at[#ks] = i\n"
    "  end\n"
    "end\n"
    "if #ks > 0 then\n"
    "  local svals = bulk('HMGET', q.key .. ':st', ks)\n"
    "  local gone, rm = {}, {}\n"
    "  for j, k in ipairs(ks) do\n"
    "    local i = at[j]\n"
    "    -- serials are written by '%d', so comparing the digits is comparing the numbers\n"
    "    local s = svals[j] and string.match(svals[j], '^%d+:(%d+):')\n"
    "    if s and q.fifo then s = st_parse(svals[j]) end\n"
    "    if not s or gone[k] or (not q.fifo and s ~= ARGV[6 + 3 * i]) or\n"
    "       (q.fifo and string.format('%d', s.ser) ~= ARGV[6 + 3 * i]) then\n"
    "      out[3 + i] = 1\n"
    "    else\n"
    "      out[3 + i] = 0\n"
    "      gone[k] = true\n"
    "      if q.fifo then mremove(q, k, s) else rm[#rm + 1] = k end\n"
    "    end\n"
    "  end\n"
    "  -- Standard queues: usually all in flight, so one call per structure. A key is\n"
    "  -- in exactly one of :inf, :dly and :vis; when ZREM from :inf did not find them\n"
    "  -- all, the others are looked for key by key (ZMSCORE would answer doubles,\n"
    "  -- whose formatting and parsing cost more than the common case's removal).\n"
    "  if #rm > 0 then\n"
    "    local gone_inf = 0\n"
    "    for a = 1, #rm, 256 do\n"
    "      gone_inf = gone_inf + redis.call('ZREM', q.key .. ':inf',\n"
    "                                       unpack(rm, a, math.min(#rm, a + 255)))\n"
    "    end\n"
    "    if gone_inf < #rm then\n"
    "      for _, k in ipairs(rm) do\n"
    "        if redis.call('ZREM', q.key .. ':dly', k) == 0 then\n"
    "          redis.call('LREM', q.key .. ':vis', 1, k)\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    bulk('HDEL', q.key .. ':msg', rm)\n"
    "    bulk('HDEL', q.key .. ':st', rm)\n"
    "    bulk('ZREM', q.key .. ':exp', rm)\n"
    "  end\n"
    "end\n"
    "out[2] = wake(q, before)\n"
    "return out\n";

static const char s_change_vis[] =
    PRELUDE
    "-- ARGV: P, name, n, then per receipt: queue uid, key, serial, visibility in ms.\n"
    "-- Reply as delete's; 1 also when the message is not in flight.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "local before = avail(q)\n"
    "local out = { 0, 0 }\n"
    "local sooner = false\n"
    "for i = 0, tonumber(ARGV[3]) - 1 do\n"
    "  local k, rc = ARGV[5 + 4 * i], 0\n"
    "  if ARGV[4 + 4 * i] ~= q.uid then\n"
    "    rc = 2\n"
    "  else\n"
    "    local s = st_get(q, k)\n"
    "    local old = redis.call('ZSCORE', q.key .. ':inf', k)\n"
    "    if not s or tostring(s.ser) ~= ARGV[6 + 4 * i] or not old then\n"
    "      rc = 1\n"
    "    else\n"
    "      local v = tonumber(ARGV[7 + 4 * i])\n"
    "      if v == 0 then\n"
    "        redis.call('ZREM', q.key .. ':inf', k)\n"
    "        surface(q, k, s, true)\n"
    "      else\n"
    "        redis.call('ZADD', q.key .. ':inf', NOW + v, k)\n"
    "        if NOW + v < tonumber(old) then sooner = true end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = rc\n"
    "end\n"
    "out[2] = wake(q, before)\n"
    "-- Waiters elsewhere sleep until the deadlines they were told: tell them of\n"
    "-- an earlier one.\n"
    "if sooner and out[2] == 0 then\n"
    "  redis.call('PUBLISH', P .. 'notify', q.name)\n"
    "  out[2] = 1\n"
    "end\n"
    "return out\n";

static const char s_dead_letter_read[] =
    PRELUDE
    "-- ARGV: P, name, queue uid, key, serial. The record of the message a receipt\n"
    "-- names, when it could be dead-lettered (sl_store_dead_letter, first step).\n"
    "-- Reply: status (0, 1 no such queue, message or usable dead-letter queue, or a\n"
    "-- stale receipt; 3 a receipt of another queue), record.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "if ARGV[3] ~= q.uid then return { 3 } end\n"
    "local s = st_get(q, ARGV[4])\n"
    "if not s or string.format('%d', s.ser) ~= ARGV[5] or not dlq_of(q) then return { 1 } end\n"
    "return { 0, redis.call('HGET', q.key .. ':msg', ARGV[4]) }\n";

static const char s_dead_letter[] =
    PRELUDE
    "-- ARGV: P, name, queue uid, key, serial, record (with the extra attributes).\n"
    "-- Moves the message now, whatever its state, if the receipt is still current.\n"
    "-- Reply: status (as dead_letter_read's), published, dead-letter queue name.\n"
    "local q = qopen(ARGV[2])\n"
    "if not q then return { 1 } end\n"
    "if ARGV[3] ~= q.uid then return { 3 } end\n"
    "local k = ARGV[4]\n"
    "local s = st_get(q, k)\n"
    "local d = dlq_of(q)\n"
    "if not s or string.format('%d', s.ser) ~= ARGV[5] or not d then return { 1 } end\n"
    "local before, dbefore = avail(q), avail(d)\n"
    "mremove(q, k, s)\n"
    "dlq_add(d, s, ARGV[6], q.name)\n"
    "wake(q, before)\n"
    "return { 0, wake(d, dbefore), d.name }\n";

static const char s_outbox_append[] =
    PRELUDE
    "-- ARGV: P, id, record, delay ms\n"
    "redis.call('HSET', P .. 'ob:data', ARGV[2], ARGV[3])\n"
    "redis.call('ZADD', P .. 'ob:due', NOW + tonumber(ARGV[4]), ARGV[2])\n"
    "return { 0 }\n";

static const char s_outbox_claim[] =
    PRELUDE
    "-- ARGV: P, max, lease ms. Reply: status, then per item: id, record, attempts.\n"
    "local out = { 0 }\n"
    "local due = P .. 'ob:due'\n"
    "local ids = redis.call('ZRANGEBYSCORE', due, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, id in ipairs(ids) do\n"
    "  local blob = redis.call('HGET', P .. 'ob:data', id)\n"
    "  if not blob then\n"
    "    redis.call('ZREM', due, id)\n"
    "  else\n"
    "    redis.call('ZADD', due, NOW + tonumber(ARGV[3]), id)\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = blob\n"
    "    out[#out + 1] = redis.call('HINCRBY', P .. 'ob:att', id, 1)\n"
    "  end\n"
    "end\n"
    "return out\n";

static const char s_outbox_ack[] =
    PRELUDE
    "-- ARGV: P, id\n"
    "if redis.call('ZREM', P .. 'ob:due', ARGV[2]) == 0 then return { 1 } end\n"
    "redis.call('HDEL', P .. 'ob:data', ARGV[2])\n"
    "redis.call('HDEL', P .. 'ob:att', ARGV[2])\n"
    "return { 0 }\n";

static const char s_outbox_retry[] =
    PRELUDE
    "-- ARGV: P, id, delay ms\n"
    "if not redis.call('ZSCORE', P .. 'ob:due', ARGV[2]) then return { 1 } end\n"
    "redis.call('ZADD', P .. 'ob:due', NOW + tonumber(ARGV[3]), ARGV[2])\n"
    "return { 0 }\n";

#define SCRIPT(e, n) [e] = { #n, s_##n, sizeof(s_##n) - 1 }

static const struct {
    const char *name;
    const char *text;
    size_t len;
} scripts[SL_RS_COUNT] = {
    SCRIPT(SL_RS_QUEUE_CREATE, queue_create),
    SCRIPT(SL_RS_QUEUE_GET, queue_get),
    SCRIPT(SL_RS_QUEUE_SET, queue_set),
    SCRIPT(SL_RS_QUEUE_TAG, queue_tag),
    SCRIPT(SL_RS_QUEUE_DELETE, queue_delete),
    SCRIPT(SL_RS_QUEUE_PURGE, queue_purge),
    SCRIPT(SL_RS_DLQ_SOURCES, dlq_sources),
    SCRIPT(SL_RS_SEND, send),
    SCRIPT(SL_RS_RECEIVE, receive),
    SCRIPT(SL_RS_DELETE, delete),
    SCRIPT(SL_RS_CHANGE_VIS, change_vis),
    SCRIPT(SL_RS_DEAD_LETTER_READ, dead_letter_read),
    SCRIPT(SL_RS_DEAD_LETTER, dead_letter),
    SCRIPT(SL_RS_OUTBOX_APPEND, outbox_append),
    SCRIPT(SL_RS_OUTBOX_CLAIM, outbox_claim),
    SCRIPT(SL_RS_OUTBOX_ACK, outbox_ack),
    SCRIPT(SL_RS_OUTBOX_RETRY, outbox_retry),
};

const char *
sl__rscript_name(sl_rscript_t i)
{
    return scripts[i].name;
}

const char *
sl__rscript_text(sl_rscript_t i, size_t *len)
{
    *len = scripts[i].len;
    return scripts[i].text;
}

const char *
sl__rscript_sha(sl_rscript_t i)
{
    static char sha[SL_RS_COUNT][41];
    static const char hex[] = "0123456789abcdef";

    if (sha[i][0] == '\0') {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        sl_assert(EVP_Digest(scripts[i].text, scripts[i].len, d, &n, EVP_sha1(), NULL) == 1 &&
                  n == 20);
        for (unsigned int j = 0; j < n; j++) {
            sha[i][2 * j] = hex[d[j] >> 4];
            sha[i][2 * j + 1] = hex[d[j] & 15];
        }
        sha[i][40] = '\0';
    }
    return sha[i];
}
