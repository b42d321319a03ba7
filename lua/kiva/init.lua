--- kiva: connect a microfinance institution's MIS to Kiva's Partner API.
-- The module table loads its parts on first use, so `require "kiva"` stays cheap
-- for a script that only validates, and the C core is loaded once per Lua state.
local M = {
  _VERSION = "0.1.0",
}

local lazy = {
  source = "kiva.source",
  map = "kiva.map",
  errors = "kiva.errors",
}

--- Validates a request body of `kind` ("loan_draft", "repayments", "journals").
-- Errors: what Kiva refuses or what would be wrong if sent. Warnings: what PA2 needs
-- before publishing, and what looks wrong but may be right; a partial draft is valid.
-- `opts.strict` makes warnings errors. Both lists are in path order, the same every run.
-- @return true, nil, warnings | nil, errors, warnings  (each { {path=, message=}, ... })
function M.validate(kind, value, opts)
  return require("kiva.schema").validate(kind, value, opts)
end

--- The exact JSON sent for a value of `kind`: canonical key order, arrays stay arrays.
-- @return string | nil, err
function M.encode(kind, value, opts)
  return require("kiva.schema").encode(kind, value, opts)
end

--- A Partner API client; options as in interface.md by their lower-case names.
-- @return client | nil, err (kind "config")
function M.client(opts)
  return require("kiva.client").new(opts)
end

return setmetatable(M, {
  __index = function(t, k)
    local name = lazy[k]
    if not name then return nil end
    local mod = require(name)
    rawset(t, k, mod)
    return mod
  end,
})
