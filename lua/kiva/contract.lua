--- kiva.contract: what the Partner API contract (../shared/kiva-partner-api.md) fixes,
-- named once: the three kinds of thing kiva sends and their name in each place, the
-- limits of one call, and kiva's defaults under them.
local M = {}

-- The kinds in the CLI's words (`kiva push loans|repayments|journals`), in that order.
M.KIND_ORDER = { "loans", "repayments", "journals" }

-- CLI kind -> { payload: the kind of kiva.validate/encode (and of the schema file and
-- client:send), fn: the mapping script's function, ledger: the first part of a ledger
-- key, wrap: the member a batch body lists its items in (none: one item per call) }
M.KINDS = {
  loans = { payload = "loan_draft", fn = "loan_draft", ledger = "loan_draft" },
  repayments = { payload = "repayments", fn = "repayment", ledger = "repayment", wrap = "repayments" },
  journals = { payload = "journals", fn = "journal", ledger = "journal", wrap = "journals" },
}

--- The CLI kind for a CLI kind or a payload kind ("loan_draft" -> "loans"), or nil.
function M.kind_of(name)
  if M.KINDS[name] then return name end
  for kind, spec in pairs(M.KINDS) do
    if spec.payload == name then return kind end
  end
  return nil
end

-- The scopes a partner's credentials may be granted, as the token URL names them.
M.SCOPES = { "read:loans", "create:loan_draft", "create:journal_update", "create:repayment" }

-- What one call may carry.
M.MAX_BATCH = 300   -- repayments (or journals) in one POST
M.MAX_PAGE = 300    -- loans in one GET page

-- kiva's defaults under those limits.
M.DEFAULT_BATCH = 250        -- room under MAX_BATCH
M.DEFAULT_CONCURRENCY = 4    -- requests in flight

return M
