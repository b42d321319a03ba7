-- Fault injection for `kiva sandbox --faults SPEC`: parses the spec and draws one
-- decision per POST API request, in arrival order, from a seeded xorshift64* PRNG
-- of our own (math.random's generator is not specified across Lua builds).
local M = {}

-- What each fault does: `applied` says whether the request still takes effect.
M.KINDS = {
  ["503"] = { applied = false },
  ["429"] = { applied = false },
  drop_before = { applied = false },
  ["500after"] = { applied = true },
  drop_after = { applied = true },
  slow = { applied = true },
}

local ORDER = { "503", "429", "drop_before", "500after", "drop_after", "slow" }

--- A PRNG: xorshift64* seeded by an integer; :next() → float in [0, 1).
function M.prng(seed)
  local x = math.tointeger(seed) or 0
  -- splitmix64 scrambles small seeds so seeds 1 and 2 give unrelated streams
  x = x + 0x9E3779B97F4A7C15
  x = (x ~ (x >> 30)) * 0xBF58476D1CE4E5B9
  x = (x ~ (x >> 27)) * 0x94D049BB133111EB
  x = x ~ (x >> 31)
  if x == 0 then x = 0x2545F4914F6CDD1D end
  local self = {}
  function self.next()
    x = x ~ (x >> 12)
    x = x ~ (x << 25)
    x = x ~ (x >> 27)
    local r = x * 0x2545F4914F6CDD1D
    return (r >> 11) * (1.0 / 9007199254740992.0)
  end
  return self
end

--- Parses "503:0.1,429:0.05,..." → list of { kind, p } | nil, message.
function M.parse(spec)
  local list = {}
  if spec == nil or spec == "" then return list end
  for item in spec:gmatch("[^,]+") do
    local kind, p = item:match("^%s*([%w_]+)%s*:%s*([%d.eE+-]+)%s*$")
    if not kind then
      return nil, string.format("bad fault %q (expected KIND:PROBABILITY)", item)
    end
    if not M.KINDS[kind] then
      return nil, string.format("unknown fault kind %q (known: %s)", kind, table.concat(ORDER, ", "))
    end
    local prob = tonumber(p)
    if not prob or prob < 0 or prob > 1 then
      return nil, string.format("fault %s: probability %q is not between 0 and 1", kind, p)
    end
    list[#list + 1] = { kind = kind, p = prob }
  end
  return list
end

--- A decider: :decide() → fault kind or nil. One draw per call, so the n-th POST
-- gets the same decision for the same seed whatever the timing. Faults are tried
-- in spec order with cumulative probabilities; a probability of 1 always fires.
function M.new(list, seed)
  local rng = M.prng(seed)
  local self = {}
  function self.decide()
    if #list == 0 then return nil end
    local u = rng.next()
    local acc = 0
    for _, f in ipairs(list) do
      if f.p >= 1 then return f.kind end
      acc = acc + f.p
      if u < acc then return f.kind end
    end
    return nil
  end
  return self
end

return M
