--- kiva.push: map an MIS export, validate it, and send what the ledger has not sent.
-- The engine behind `kiva push`, `kiva validate` and the dry run. It never prints:
-- progress goes to `opts.on_progress(done, total)` and the outcome comes back as a
-- result table that kiva.report turns into a summary, a JSON report and a CSV.
--
-- Why nothing is sent twice: each item's key and content hash are looked up in the
-- ledger; an item is marked `sending` in a committed transaction before its request
-- goes out, and settled (`sent`, `rejected`, back to `pending`, or `unknown`) as soon
-- as its answer (or its batch's answer) arrives. A run finds `sending` rows only when
-- the previous run was killed mid-request; those become `unknown` and are not resent.
local core = require "kiva.core"
local kiva = require "kiva"

local M = {}

-- CLI kind → { payload kind of kiva.validate/encode, mapping function, ledger kind }
M.KINDS = {
  loans = { payload = "loan_draft", fn = "loan_draft", ledger = "loan_draft" },
  repayments = { payload = "repayments", fn = "repayment", ledger = "repayment" },
  journals = { payload = "journals", fn = "journal", ledger = "journal" },
}

M.BATCH_SIZE = 250

-- Error kinds that stop a run: nothing more can succeed until someone acts.
local FATAL = { auth = 3, forbidden = 3, config = 2, input = 2, network = 4, server = 4, rate_limited = 4 }
M.FATAL = FATAL

--- The report period used for repayment keys when none is given: the previous month.
function M.previous_month(t)
  local d = os.date("*t", t or os.time())
  local y, m = d.year, d.month - 1
  if m == 0 then y, m = y - 1, 12 end
  return string.format("%04d-%02d", y, m)
end

local function str(v)
  if v == nil then return "" end
  return tostring(v)
end

-- Keys read like paths so an operator can type them back to `kiva ledger show`.
local function item_key(kind, partner, value, period)
  if kind == "loans" then
    local e1 = type(value.entreps) == "table" and value.entreps[1] or {}
    return table.concat({ "loan_draft", str(partner), str(value.internal_loan_id or e1.loan_id),
      str(value.internal_client_id or e1.client_id) }, "/")
  elseif kind == "repayments" then
    return table.concat({ "repayment", str(partner), str(period), str(value.loan_id), str(value.client_id) }, "/")
  else
    -- A loan gets many journals over its life: the subject tells them apart.
    return table.concat({ "journal", str(partner), str(value.internal_loan_id), str(value.internal_client_id),
      core.sha256_hex(str(value.subject)):sub(1, 12) }, "/")
  end
end
M.item_key = item_key

-- The request body that carries one item alone, as kiva.validate/encode take it.
local function body_of(kind, value)
  if kind == "loans" then return value end
  if kind == "repayments" then return { repayments = { value } } end
  return { journals = { value } }
end

local function strip_prefix(errors)
  for _, e in ipairs(errors or {}) do
    if type(e) == "table" and type(e.path) == "string" then
      e.path = e.path:gsub("^repayments%[1%]%.?", ""):gsub("^journals%[1%]%.?", "")
    end
  end
  return errors
end

-- The `where` a reader's warning starts with ("file:line: ..."), else the input.
local function warning_where(message, input)
  return message:match("^(.-:%d+): ") or input
end

-- Runs the mapping over the input; returns an array of { where, payload | errors | skipped }.
-- Reader warnings (such as a file read as Windows-1252) go to result.warnings.
local function map_items(opts, result)
  local ok, mapping = pcall(require, "kiva.mapping")
  if not ok then
    return nil, { kind = "config",
      message = "the mapping runner (kiva.mapping) is not available: " .. tostring(mapping) }
  end
  local m, err = mapping.load(opts.mapping)
  if not m then
    if type(err) ~= "table" then err = { kind = "input", message = tostring(err) } end
    return nil, err
  end
  local client = opts.client
  local ctx = mapping.context({
    fetch = function(name)
      if not client then
        return nil, { kind = "config", message = "looking up " .. name .. " needs Kiva's lists: set credentials" }
      end
      return client:config(name)
    end,
    cache_file = opts.config_cache,
  })
  local function on_warning(message)
    message = tostring(message)
    result.warnings[#result.warnings + 1] = { where = warning_where(message, opts.input), message = message }
    if opts.on_warning then opts.on_warning(message) end
  end
  local iter, ierr = mapping.items(m, opts.kind, opts.input, { ctx = ctx, on_warning = on_warning })
  if not iter then
    if type(ierr) ~= "table" then ierr = { kind = "input", message = tostring(ierr) } end
    return nil, ierr
  end
  local list = {}
  if type(iter) == "table" then
    list = iter
  else
    for it in iter do list[#list + 1] = it end
  end
  return list
end

--- Maps and validates: fills result.items and the counts read/valid/invalid.
-- Each valid entry carries key, hash, json (exact bytes), value.
local function prepare(opts, result)
  local spec = M.KINDS[opts.kind]
  local list, err = opts.items or nil, nil
  if not list then list, err = map_items(opts, result) end
  if not list then return nil, err end
  local seen = {}
  local valid = {}
  for _, it in ipairs(list) do
    result.counts.read = result.counts.read + 1
    local entry = { where = it.where }
    if it.skipped then
      entry.status = "skipped"
      entry.note = "the mapping skipped this row"
      result.counts.skipped = result.counts.skipped + 1
    elseif it.errors then
      entry.status, entry.errors = "invalid", it.errors
    else
      local value = it.payload
      local okv, verrs = kiva.validate(spec.payload, body_of(opts.kind, value), { csv_format = opts.csv_format })
      if not okv then
        entry.status, entry.errors = "invalid", strip_prefix(verrs)
      else
        local json, eerr = kiva.encode(spec.payload, body_of(opts.kind, value),
          { csv_format = opts.csv_format, validate = false })   -- validated just above
        if not json then
          entry.status = "invalid"
          entry.errors = { { message = type(eerr) == "table" and eerr.message or tostring(eerr) } }
        else
          entry.key = item_key(opts.kind, opts.partner_id, value, opts.period)
          entry.hash = core.sha256_hex(json)
          entry.json, entry.value = json, value
          if seen[entry.key] then
            entry.status = "invalid"
            entry.errors = { { message = "the same item as " .. str(seen[entry.key].where)
              .. (opts.kind == "repayments" and " (one repayment per loan and period)" or "") } }
          else
            seen[entry.key] = entry
            entry.status = "valid"
            valid[#valid + 1] = entry
          end
        end
      end
    end
    if entry.status == "invalid" then
      result.counts.invalid = result.counts.invalid + 1
    elseif entry.status == "valid" then
      result.counts.valid = result.counts.valid + 1
    end
    result.items[#result.items + 1] = entry
  end
  return valid
end

local function write_file(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(data)
  f:close()
  return true
end

local function safe_name(s)
  local name = str(s):gsub("[^%w%-_.]", "_")
  -- a long id (100 four-byte characters: 400 bytes) would pass the file system's
  -- 255-byte name limit: its start and a hash of the whole id instead
  if #name > 80 then name = name:sub(1, 64) .. "-" .. core.sha256_hex(str(s)):sub(1, 12) end
  return name
end

-- Dry run: the exact bodies that would be sent, one file per request.
local function write_payloads(opts, valid, result)
  local out = opts.out or "kiva-out"
  local made, merr = core.mkdir(out)
  if not made then
    return nil, { kind = "config", message = "cannot create the output directory " .. out .. ": " .. tostring(merr) }
  end
  local spec = M.KINDS[opts.kind]
  local files = {}
  local function put(name, body)
    local json = assert(kiva.encode(spec.payload, body, { csv_format = opts.csv_format }))
    local path = out .. "/" .. name
    local ok, err = write_file(path, json .. "\n")
    if not ok then return nil, { kind = "config", message = "cannot write " .. path .. ": " .. tostring(err) } end
    files[#files + 1] = path
    return path
  end
  if opts.kind == "repayments" then
    local bs = opts.batch_size or M.BATCH_SIZE
    for b = 1, math.ceil(#valid / bs) do
      local list = {}
      for i = (b - 1) * bs + 1, math.min(b * bs, #valid) do list[#list + 1] = valid[i].value end
      local path, err = put(string.format("repayments-%03d.json", b), { repayments = list })
      if not path then return nil, err end
      for i = (b - 1) * bs + 1, math.min(b * bs, #valid) do valid[i].file = path end
    end
  else
    for i, e in ipairs(valid) do
      local id = opts.kind == "loans" and (e.value.internal_loan_id
        or (type(e.value.entreps) == "table" and e.value.entreps[1] and e.value.entreps[1].loan_id))
        or e.value.internal_loan_id
      local path, err = put(string.format("%s-%04d-%s.json", spec.payload == "loan_draft" and "loan_draft"
        or "journal", i, safe_name(id)), body_of(opts.kind, e.value))
      if not path then return nil, err end
      e.file = path
    end
  end
  result.files = files
  return true
end

-- Settling: one ledger transaction per change, and the report entry updated alike.
local Run = {}
Run.__index = Run

function Run:progress()
  self.done = self.done + 1
  if self.opts.on_progress then self.opts.on_progress(self.done, self.total) end
end

function Run:ledger_fail(err)
  -- The ledger refused a write: stop sending, since we could no longer prove what went out.
  self.result.fatal = self.result.fatal or err
end

function Run:settle(state, entries, fields)
  if #entries == 0 then return end
  local changes = {}
  for i, e in ipairs(entries) do
    local f = fields[i] or fields
    changes[i] = { key = e.key, response = f.response, problems = f.problems, batch = f.batch }
  end
  local method = ({ sent = "mark_sent", rejected = "mark_rejected", unknown = "mark_unknown",
    pending = "mark_pending" })[state]
  local ok, err = self.ledger[method](self.ledger, changes)
  if not ok then self:ledger_fail(err) end
  local counts = self.result.counts
  for i, e in ipairs(entries) do
    local f = fields[i] or fields
    e.settled = true
    e.status = state
    e.response = f.response
    if state == "rejected" or state == "unknown" then e.errors = f.problems end
    if state == "sent" then
      counts.sent = counts.sent + 1
      if f.problems then e.warnings = f.problems end
    elseif state == "rejected" then
      counts.rejected = counts.rejected + 1
    elseif state == "unknown" then
      counts.unknown = counts.unknown + 1
    else
      counts.pending = counts.pending + 1
      e.errors = f.problems
    end
    self:progress()
  end
end

local function err_problems(err)
  if type(err) ~= "table" then return { { message = tostring(err) } } end
  local body = err.body
  local p = { kind = err.kind, status = err.status, message = err.message }
  if type(body) == "table" then
    if type(body.problems) == "table" and #body.problems > 0 then return body.problems end
    p.code = body.code
  end
  return { p }
end

-- What a failed request means for its items.
function Run:settle_error(entries, err)
  local kind = type(err) == "table" and err.kind or "unknown_outcome"
  if kind == "unknown_outcome" then
    self:settle("unknown", entries, { problems = { { message = (err.message or "the answer was lost")
      .. ": check PA2, then kiva ledger resolve KEY sent|unsent", status = err.status } } })
  elseif kind == "rejected" or kind == "validation" then
    self:settle("rejected", entries, { problems = err_problems(err) })
  else
    -- Surely did not take effect (refused before sending, or a fatal condition).
    self:settle("pending", entries, { problems = err_problems(err) })
    if FATAL[kind] then self.result.fatal = self.result.fatal or err end
  end
end

-- queue[first .. first+size-1], marked `sending` in one committed transaction before
-- any of it leaves; nil (and the run stopped) when the ledger refused the write.
function Run:start_chunk(queue, first, size)
  local chunk = table.move(queue, first, math.min(first + size - 1, #queue), 1, {})
  local ok, lerr = self.ledger:mark_sending(self:ledger_items(chunk))
  if not ok then
    self:ledger_fail(lerr)
    return nil
  end
  return chunk
end

-- Drafts go in a sliding window of `concurrency`: each is marked `sending` (its own
-- committed transaction) right before it leaves, so a kill leaves at most
-- `concurrency` of them unknown, and a retry's backoff holds back only its own draft
-- (in waves, one slow draft held its whole wave).
local NOT_STARTED = { kind = "not_started", message = "not sent: the run stopped before this item" }

function Run:send_loans(queue)
  -- the exact bytes hashed into the ledger are the bytes sent (the client sends a
  -- string as given, without validating and encoding it a second time)
  local drafts = {}
  for i, e in ipairs(queue) do drafts[i] = e.json end
  local function before_send(i)
    if self.result.fatal then return nil, NOT_STARTED end
    local e = queue[i]
    local ok, lerr = self.ledger:mark_sending(self:ledger_items({ e }))
    if not ok then
      self:ledger_fail(lerr)
      return nil, NOT_STARTED
    end
    e.announced = true
    return true
  end
  local function on_result(i, res, err)
    local e = queue[i]
    if not e or e.settled then return end
    if not e.announced then
      -- it never left, so there is nothing to record; refused credentials and the
      -- like stop the run (the item is reported as not sent)
      if type(err) == "table" and FATAL[err.kind] then self.result.fatal = self.result.fatal or err end
      return
    end
    if res and not err then
      -- the client has read Kiva's answer already (snake or camelCase, nulls dropped)
      self:settle("sent", { e }, { response = {
        loan_draft_uuid = res.loan_draft_uuid, code = res.code, message = res.message } })
    else
      self:settle_error({ e }, err)
    end
  end
  local results = self.client:post_loan_drafts(drafts, { on_result = on_result, before_send = before_send })
  for i, r in ipairs(type(results) == "table" and results or {}) do
    on_result(i, r.res, r.err)
  end
  for _, e in ipairs(queue) do
    if e.announced and not e.settled then
      self:settle_error({ e }, { kind = "unknown_outcome", message = "no answer recorded" })
    end
  end
end

function Run:send_repayments(queue)
  local bs = self.opts.batch_size or M.BATCH_SIZE
  local chunk_size = bs * math.max(1, self.opts.concurrency or 4)
  for first = 1, #queue, chunk_size do
    if self.result.fatal then return end
    local chunk = self:start_chunk(queue, first, chunk_size)
    if not chunk then return end
    local list = {}
    for i, e in ipairs(chunk) do list[i] = e.value end
    local function on_batch(batch)
      local entries = {}
      for i = batch.first or 1, batch.last or #chunk do
        if chunk[i] and not chunk[i].settled then entries[#entries + 1] = chunk[i] end
      end
      if #entries == 0 then return end
      if batch.err then return self:settle_error(entries, batch.err) end
      local by_loan = {}
      for _, p in ipairs(batch.problems or {}) do
        local id = str(p.loan_id)
        by_loan[id] = by_loan[id] or {}
        table.insert(by_loan[id], p)
      end
      local upload_id = batch.upload_id
      local sent, sent_fields, rejected, rejected_fields = {}, {}, {}, {}
      for _, e in ipairs(entries) do
        local probs = by_loan[str(e.value.loan_id)]
        local is_error = false
        for _, p in ipairs(probs or {}) do
          if p.severity == nil or p.severity == "error" then is_error = true end
        end
        if is_error then
          rejected[#rejected + 1] = e
          rejected_fields[#rejected_fields + 1] = { problems = probs, batch = upload_id }
        else
          sent[#sent + 1] = e
          sent_fields[#sent_fields + 1] = { response = { upload_id = upload_id, batch = batch.index },
            problems = probs, batch = upload_id }
        end
      end
      self:settle("sent", sent, sent_fields)
      self:settle("rejected", rejected, rejected_fields)
    end
    local res, err = self.client:post_repayments(list, { batch_size = bs, on_batch = on_batch })
    if type(res) == "table" and type(res.batches) == "table" then
      for _, b in ipairs(res.batches) do on_batch(b) end
    end
    local left = {}
    for _, e in ipairs(chunk) do if not e.settled then left[#left + 1] = e end end
    if #left > 0 then
      self:settle_error(left, err or { kind = "unknown_outcome", message = "no answer recorded for this batch" })
    end
  end
end

function Run:send_journals(queue)
  for _, e in ipairs(queue) do
    if self.result.fatal then return end
    if not self:start_chunk({ e }, 1, 1) then return end
    local res, err = self.client:post_journals({ e.value })
    if res and not err then
      self:settle("sent", { e }, { response = { archive_id = res.archive_id, confirm_url = res.confirm_url } })
    else
      self:settle_error({ e }, err)
    end
  end
end

function Run:ledger_items(entries)
  local out = {}
  for i, e in ipairs(entries) do
    out[i] = { key = e.key, kind = M.KINDS[self.opts.kind].ledger, hash = e.hash, where = e.where }
  end
  return out
end

local function new_result(command, kind)
  return {
    command = command,
    kind = kind,
    counts = { read = 0, valid = 0, invalid = 0, sent = 0, skipped = 0, rejected = 0, unknown = 0,
      changed = 0, pending = 0 },
    items = {},
    warnings = {},
  }
end
M.new_result = new_result

--- Runs a push (or with opts.dry_run / opts.validate_only, a dry run or a validation).
-- opts: kind ("loans"|"repayments"|"journals"), mapping, input (paths), client, ledger
-- (an open kiva.ledger, lock held; not needed for dry runs), partner_id, period
-- ("YYYY-MM"), resend_changed, csv_format, concurrency, batch_size, out, on_progress,
-- on_warning(message) (besides result.warnings).
-- @return result { command, counts, items, warnings = { {where, message} }, recovered, files, fatal = err|nil }
function M.run(opts)
  local command = opts.validate_only and "validate" or "push"
  local result = new_result(command, opts.kind)
  result.dry_run = opts.dry_run or nil
  result.period = opts.kind == "repayments" and opts.period or nil
  local valid, err = prepare(opts, result)
  if not valid then
    result.fatal = err
    return result
  end
  if opts.validate_only then return result end
  if opts.dry_run then
    local ok, werr = write_payloads(opts, valid, result)
    if not ok then result.fatal = werr end
    return result
  end

  local db = opts.ledger
  local recovered, rerr = db:recover()
  if not recovered then
    result.fatal = rerr
    return result
  end
  result.recovered = recovered

  local queue = {}
  for _, e in ipairs(valid) do
    local row = db:get(e.key)
    local state = row and row.state
    if state == "sent" and row.sent_hash == e.hash then
      e.status = "skipped"
      e.response = row.response
      e.note = "sent on " .. str(row.sent_at)
      result.counts.skipped = result.counts.skipped + 1
    elseif state == "sent" and not opts.resend_changed then
      e.status = "changed"
      e.response = row.response
      e.note = "changed since it was sent on " .. str(row.sent_at) .. "; not resent (use --resend-changed)"
      result.counts.changed = result.counts.changed + 1
      result.counts.skipped = result.counts.skipped + 1
    elseif state == "unknown" or state == "sending" then
      e.status = "unknown"
      e.errors = row.problems or { { message = "outcome unknown" } }
      e.note = "outcome unknown since " .. str(row.updated_at)
        .. ": check PA2, then kiva ledger resolve " .. e.key .. " sent|unsent"
      result.counts.unknown = result.counts.unknown + 1
    else
      if state == "sent" then e.resent = true end
      queue[#queue + 1] = e
    end
  end

  local run = setmetatable({ opts = opts, ledger = db, client = opts.client, result = result,
    done = 0, total = #queue }, Run)
  if opts.on_progress and #queue > 0 then opts.on_progress(0, #queue) end
  if #queue > 0 then
    if opts.kind == "loans" then
      run:send_loans(queue)
    elseif opts.kind == "repayments" then
      run:send_repayments(queue)
    else
      run:send_journals(queue)
    end
  end
  for _, e in ipairs(queue) do
    if not e.settled then
      e.status = "pending"
      e.note = "not sent: the run stopped before this item"
      result.counts.pending = result.counts.pending + 1
    end
  end
  return result
end

--- The exit status a result calls for (interface.md): 0 done, 1 items invalid,
-- rejected or unknown, 2 usage/configuration, 3 authentication, 4 network.
function M.exit_code(result)
  if result.fatal then return FATAL[result.fatal.kind] or (result.fatal.kind == "locked" and 2) or 2 end
  local c = result.counts
  if c.invalid > 0 or c.rejected > 0 or c.unknown > 0 then return 1 end
  return 0
end

return M
