--- kiva.push: map an MIS export, check it, and send what the ledger has not sent.
-- The engine behind `kiva push`, `kiva validate`, the dry run and `kiva reconcile`.
-- It never prints: progress goes to `opts.on_progress(p)` and the outcome comes
-- back as a result table that kiva.report turns into a summary, a JSON report and
-- a problems file.
--
-- One item record flows through the stages, a bounded page at a time, so memory
-- stays flat whatever the size of the export:
--
--   read + map (kiva.mapping) -> check (validate, encode once, hash) -> kiva.runstore
--   -> plan (duplicates, the period, keys, the ledger's look-ups) -> send -> settle
--
-- Encoded once: the bytes hashed into the ledger are the bytes sent. A repayment is
-- encoded as its own object; a batch's body is those objects joined, never encoded again.
--
-- Why nothing is sent twice: each item's key and content hash are looked up in the
-- ledger; an item is marked `sending` in a committed transaction right before each
-- attempt of its request, and settled (`sent`, `rejected`, back to `pending`, or
-- `unknown`) as soon as its answer (or its batch's answer) arrives; an item waiting
-- out a backoff after a surely-unapplied answer is `pending`. A run finds `sending`
-- rows only when the previous run was killed mid-request; those become `unknown`
-- and are not resent. Kiva's repayment problems name a loan id only, so a run
-- never carries one loan twice: each problem matches one line exactly, and a
-- problem that matches no line leaves its batch's lines `unknown`, never `rejected`
-- (a rejected line is sent again; an accepted one must not be).
local core = require "kiva.core"
local errors = require "kiva.errors"
local schema = require "kiva.schema"
local runstore = require "kiva.runstore"

local M = {}

-- CLI kind -> its names elsewhere (kiva.contract)
M.KINDS = require("kiva.contract").KINDS

M.BATCH_SIZE = require("kiva.contract").DEFAULT_BATCH
local PAGE = 256            -- items read back from the store (and looked up in the ledger) at a time
local PROGRESS_EVERY = 256  -- rows between two progress reports while reading

local function str(v)
  if type(v) == "string" then return v end
  if v == nil then return "" end
  if math.type(v) == "float" and math.tointeger(v) then return tostring(math.tointeger(v)) end
  return tostring(v)
end

--- A key component: '%' and '/' percent-encoded, so that different ids never make
-- the same key ("A/B" + "C" and "A" + "B/C" differ) while plain ids read as they are.
local function escape(c) return string.format("%%%02X", c:byte()) end
local function component(v)
  v = str(v)
  -- the usual id, as it is: two plain searches (a pattern's class costs far more,
  -- and this runs twice for every row of an export)
  if not (v:find("%", 1, true) or v:find("/", 1, true)) then return v end
  return (v:gsub("[%%/]", escape))
end
M.key_component = component

-- LOAN/CLIENT, each escaped: every key's first two components.
local function loan_client(loan, client)
  return component(loan) .. "/" .. component(client)
end

-- The key without its kind/partner/period prefix, and what must be unique in a run.
local function key_tail(kind, value)
  if kind == "loans" then
    local e1 = type(value.entreps) == "table" and value.entreps[1] or {}
    return loan_client(value.internal_loan_id or e1.loan_id, value.internal_client_id or e1.client_id)
  elseif kind == "repayments" then
    return loan_client(value.loan_id, value.client_id)
  end
  -- A loan gets many journals over its life: the subject tells them apart.
  return loan_client(value.internal_loan_id, value.internal_client_id) .. "/"
    .. core.sha256_hex(str(value.subject)):sub(1, 12)
end

-- A repayment's key tail from its run store item (ident: the loan id as text,
-- client_id as text or nil), as key_tail makes it from the value.
local function repayment_key_tail(item)
  return loan_client(item.ident, item.client_id)
end

-- The key before its tail: kind/PARTNER/, and a repayment's period after it.
local function key_prefix(kind, partner, period)
  local prefix = M.KINDS[kind].ledger .. "/" .. component(partner) .. "/"
  if kind == "repayments" then prefix = prefix .. component(period) .. "/" end
  return prefix
end

--- The ledger key of an item: loan_draft/P/LOAN/CLIENT, repayment/P/PERIOD/LOAN/CLIENT,
-- journal/P/LOAN/CLIENT/SUBJECTHASH (components escaped by key_component).
function M.item_key(kind, partner, value, period)
  return key_prefix(kind, partner, period) .. key_tail(kind, value)
end

-- The id a dry run's file is named after.
local function label_of(kind, value)
  if kind == "repayments" then return str(value.loan_id) end
  if kind == "loans" then
    local e1 = type(value.entreps) == "table" and value.entreps[1] or {}
    return str(value.internal_loan_id or e1.loan_id)
  end
  return str(value.internal_loan_id)
end

-- The `where` a reader's warning starts with ("file:line: ..."), else the input.
local function warning_where(message, input)
  return message:match("^(.-:%d+): ") or input
end

local function new_result(command, kind)
  return {
    command = command,
    kind = kind,
    counts = { read = 0, rows = 0, valid = 0, invalid = 0, sent = 0, skipped = 0, omitted = 0, rejected = 0,
      unknown = 0, changed = 0, pending = 0, warned = 0 },
    items = {},
    warnings = {},
    batches = {},
  }
end
M.new_result = new_result

---------------------------------------------------------------- the run

local Run = {}
Run.__index = Run

function Run:progress(stage)
  local on = self.opts.on_progress
  if not on then return end
  local c, p = self.result.counts, self.p
  p.stage, p.read, p.valid, p.invalid = stage, c.read, c.valid, c.invalid
  p.sent, p.rejected, p.unknown, p.skipped = c.sent, c.rejected, c.unknown, c.skipped
  p.done, p.total = self.done, self.total
  p.retries = self.retries
  on(p)
end

-- Stops the run with `err` (the first reason wins).
function Run:stop(err)
  self.result.fatal = self.result.fatal or err
end

-- The reason to stop, asked between rows and between requests: a fatal error
-- already met, or the caller's (a signal the CLI caught).
function Run:should_stop()
  if self.result.fatal then return self.result.fatal end
  local ask = self.opts.should_stop
  local err = ask and ask()
  if err then self:stop(err) end
  return err
end

---------------------------------------------------------------- read, map, check

-- The mapped items of the input: an iterator over kiva.mapping's items (or over
-- opts.items, already mapped). @return iterator | nil, err
function Run:mapped_items()
  local opts, result = self.opts, self.result
  if opts.items then
    local i = 0
    return function() i = i + 1; return opts.items[i] end
  end
  local mapping = require "kiva.mapping"
  local m, err = mapping.load(opts.mapping)
  if not m then return nil, err end
  local client = opts.client
  local ctx = mapping.context({
    fetch = function(name)
      if not client then
        return nil, errors.config("looking up " .. name .. " needs Kiva's lists: set KIVA_CLIENT_ID and "
          .. "KIVA_CLIENT_SECRET (or --credentials) so they can be fetched, even for a dry run")
      end
      return client:config(name)
    end,
    cache_file = opts.config_cache,
    input = opts.input, period = opts.period,
  })
  local function on_warning(message)
    message = tostring(message)
    result.warnings[#result.warnings + 1] = { where = warning_where(message, opts.input), message = message }
    if opts.on_warning then opts.on_warning(message) end
  end
  return mapping.items(m, opts.kind, opts.input, { ctx = ctx, on_warning = on_warning, input = opts.input,
    period = opts.period })
end

-- Checks one mapped payload (validated, encoded once, hashed) and adds it to the
-- store: a valid one by its fields, with no table made for it (every row of an
-- export comes here). @return "valid" | "invalid", and whether it has warnings
function Run:check(where, value)
  local kind, store = self.opts.kind, self.store
  local date, client_id
  if kind == "repayments" and type(value) == "table" then
    -- the payment date chooses the period; Kiva's body has no such field
    date = value.date
    if date ~= nil then
      value.date = nil
      if type(date) ~= "string" or not date:match("^%d%d%d%d%-%d%d%-%d%d$") then
        store:add({ where = where, status = "invalid", errors = { { path = "date", message = "date: expected the "
          .. "payment date as YYYY-MM-DD (map.date does that), found " .. str(date) } } })
        return "invalid"
      end
    end
    client_id = value.client_id ~= nil and str(value.client_id) or nil
  end
  -- validated, encoded once and hashed in one call, with the options read once per run
  local json, hash, warnings = self.checker:check(value)
  if not json then
    store:add({ where = where, status = "invalid", errors = hash, warnings = warnings, client_id = client_id,
      date = date })
    return "invalid", warnings ~= nil
  end
  -- the key is made of the ids as mapped: the checker leaves a two-column partner's client id out of json only
  if kind == "repayments" then
    -- its ident is the loan; its key waits for the period and is made when read
    -- back (repayment_key_tail): no key string made for every row of the export
    store:add_valid(where, label_of(kind, value), client_id, date, nil, hash, json, nil, warnings)
  else
    local key = self.key_prefix .. key_tail(kind, value)
    store:add_valid(where, key, client_id, date, key, hash, json, label_of(kind, value), warnings)
  end
  return "valid", warnings ~= nil
end

-- Stage 1: every row read, mapped and checked into the store.
function Run:read()
  local counts, store = self.result.counts, self.store
  local iter, err = self:mapped_items()
  if not iter then return self:stop(type(err) == "table" and err or errors.input(self.opts.input, tostring(err))) end
  self:progress("reading")
  for it in iter do
    if it.fatal then
      self:stop(it.fatal)
      break
    end
    counts.read = counts.read + 1
    counts.rows = counts.rows + (it.rows or 1)   -- a group loan (group_by) is read from several rows
    local status, warned
    if it.skipped then
      store:add({ where = it.where, status = "omitted", note = "the mapping returned nothing for this row" })
      counts.omitted = counts.omitted + 1
    elseif it.errors then
      store:add({ where = it.where, status = "invalid", errors = it.errors })
      status = "invalid"
    else
      status, warned = self:check(it.where, it.payload)
    end
    if status == "invalid" then
      counts.invalid = counts.invalid + 1
    elseif status == "valid" then
      counts.valid = counts.valid + 1
      if warned then counts.warned = counts.warned + 1 end
    end
    if counts.read % PROGRESS_EVERY == 0 then
      self:progress("reading")
      if self:should_stop() then break end
    end
  end
  store:commit()   -- the last page written
  self:progress("reading")
end

---------------------------------------------------------------- plan

-- One loan (repayments) or one key (drafts, journals) per run: later lines are
-- errors naming the first; a loan given with two client ids is an error on every line.
function Run:reject_duplicates()
  local counts, store = self.result.counts, self.store
  local groups = store:duplicates()
  if #groups == 0 then return end
  store:batch(function()
    for _, g in ipairs(groups) do
      local clients, differ = {}, false
      for i = 1, #g.seqs do
        local c = g.client_ids[i]
        clients[i] = g.wheres[i] .. " (client " .. str(c) .. ")"
        if c ~= g.client_ids[1] then differ = true end
      end
      for i, seq in ipairs(g.seqs) do
        local message
        if differ then
          message = "loan " .. g.ident .. " is given with different client ids: " .. table.concat(clients, ", ")
            .. "; a loan has one client"
        elseif i > 1 and self.opts.kind == "repayments" then
          message = "the same loan as " .. str(g.wheres[1]) .. ": one repayment per loan and period (several "
            .. "payments in the month: add them up with the mapping's group_by)"
        elseif i > 1 then
          message = "the same item as " .. str(g.wheres[1])
        end
        if message then
          store:update(seq, { status = "invalid", errors = { { path = "", message = message } } })
          counts.valid, counts.invalid = counts.valid - 1, counts.invalid + 1
        end
      end
    end
  end)
end

-- The period of a repayment run: --period, else the month of the export's payment
-- dates when they all fall in one; never the clock's (a run at 23:59 on the last
-- day of a month and one a minute later must report the same period).
-- @return period | nil, err
function Run:choose_period()
  if self.opts.period then return self.opts.period end
  local months, undated = self.store:months()
  if #months == 1 and undated == 0 then return months[1] end
  if self.opts.dry_run or self.opts.validate_only then return nil end
  if self.result.counts.valid == 0 then return "-" end
  if #months > 1 then
    return nil, errors.usage("the export's payment dates span " .. table.concat(months, ", ")
      .. ": give the period to report with --period YYYY-MM")
  end
  return nil, errors.usage("the period of these repayments is unknown (the mapping gives no payment date): "
    .. "give it with --period YYYY-MM, or return date = map.date(...) from the repayment mapping")
end

function Run:plan()
  self:reject_duplicates()
  if self.opts.kind ~= "repayments" then return true end
  local period, err = self:choose_period()
  if err then return self:stop(err) end
  self.result.period = period
  self.store:prefix_keys(key_prefix("repayments", self.opts.partner_id, period or "-"))
  return true
end

---------------------------------------------------------------- dry run

local function write_file(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(data)
  local closed, cerr = f:close()
  if not ok or not closed then return nil, werr or cerr end
  return true
end

-- A file name part from an id: safe characters only, at most 60 bytes (a long id
-- of 4-byte characters must not make a name the file system refuses).
local function safe_name(s)
  return (str(s):gsub("[^%w%-_.]", "_"):sub(1, 60))
end

-- Dry run: the exact bodies that would be sent, one file per request, written as
-- the items are read back from the store.
function Run:write_payloads()
  local opts, store, spec = self.opts, self.store, self.spec
  local out = opts.out or "kiva-out"
  local made, merr = core.mkdir(out)
  if not made then
    return self:stop(errors.config("cannot create the output directory " .. out .. ": " .. tostring(merr)))
  end
  -- how many files, and where: not their list (a million drafts make a million files)
  local files = { count = 0, dir = out }
  self.result.files = files
  local function put(name, body, first, last)
    local path = out .. "/" .. name
    local ok, err = write_file(path, body .. "\n")
    if not ok then return self:stop(errors.config("cannot write " .. path .. ": " .. tostring(err))) end
    files.count = files.count + 1
    -- the items of one file are consecutive valid items: one record marks them all
    store:update_range(first, last, "valid", { file = path })
    return true
  end
  local n = 0
  if opts.kind == "repayments" then
    for first, last, joined in store:each_joined("valid", opts.batch_size or M.BATCH_SIZE) do
      n = n + 1
      if not put(string.format("repayments-%03d.json", n), '{"repayments":[' .. joined .. "]}", first, last) then
        return
      end
    end
    return
  end
  for seq, json, label in store:each_json("valid", "label") do
    n = n + 1
    local body = spec.wrap and ('{"' .. spec.wrap .. '":[' .. json .. "]}") or json
    if not put(string.format("%s-%04d-%s.json", spec.ledger == "loan_draft" and "loan_draft" or "journal", n,
        safe_name(label)), body, seq, seq) then return end
  end
end

---------------------------------------------------------------- send and settle

local NOT_STARTED = errors.new("interrupted", "not sent: the run stopped before this item")

-- Plain words for what a transport failure means for the operator.
local PLAIN = {
  SEND_FAIL_REWIND = "the connection broke while the request was being sent",
  SEND_ERROR = "the connection broke while the request was being sent",
  RECV_ERROR = "the connection broke before Kiva's answer came",
  GOT_NOTHING = "the connection closed with no answer from Kiva",
  OPERATION_TIMEDOUT = "Kiva did not answer in time",
  PARTIAL_FILE = "Kiva's answer was cut off",
}

-- The problems to keep for an err: Kiva's own, whole (problems, field-level
-- errors), or one entry that says what happened in plain words.
local function err_problems(err)
  if type(err) ~= "table" then return { { message = tostring(err) } } end
  local body = err.body
  if type(body) == "table" then
    if type(body.problems) == "table" and #body.problems > 0 then return body.problems end
    if type(body.errors) == "table" and #body.errors > 0 then
      local list = {}
      for i, e in ipairs(body.errors) do
        list[i] = type(e) == "table" and e or { message = tostring(e) }
      end
      return list
    end
  end
  local message = err.message
  if err.code and PLAIN[err.code] then
    message = PLAIN[err.code] .. " (" .. tostring(err.code) .. ")"
    if err.kind == "unknown_outcome" then message = message .. ": the request may or may not have been applied" end
  end
  return { { kind = err.kind, status = err.status, code = type(body) == "table" and body.code or err.code,
    message = message } }
end

local LEDGER_MARK = { sent = "mark_sent", rejected = "mark_rejected", unknown = "mark_unknown",
  pending = "mark_pending" }

-- Settles `entries` in `state`: the ledger first (one transaction), then the run's
-- own record. A ledger that refuses the write (a full disk) leaves them `sending`
-- there, so they are reported `unknown` here too, and the run stops: the summary
-- never says more was sent than the ledger can prove.
function Run:settle(state, entries, fields)
  if #entries == 0 then return end
  local changes = {}
  for i, e in ipairs(entries) do
    local f = fields[i] or fields
    changes[i] = { key = e.key, response = f.response, problems = f.problems, batch = e.batch }
  end
  local announced = {}
  for i, e in ipairs(entries) do if e.announced then announced[#announced + 1] = changes[i] end end
  if #announced > 0 then
    local ok, err = self.ledger[LEDGER_MARK[state]](self.ledger, announced)
    if not ok then
      self:stop(err)
      if state ~= "pending" then
        fields = { problems = { { message = "the ledger could not record the outcome (" .. tostring(err.message)
          .. "); check PA2, then kiva ledger resolve" } } }
        state = "unknown"
      end
    end
  end
  local counts, store = self.result.counts, self.store
  store:batch(function()
    for i, e in ipairs(entries) do
      local f = fields[i] or fields
      e.settled, e.announced = true, false
      local update = { status = state, response = f.response, batch = e.batch, upload_id = f.upload_id }
      if state == "sent" then
        if f.problems then update.warnings = f.problems end
        if f.note then update.note = f.note end
      else
        update.errors = f.problems
      end
      store:update(e.seq, update)
      counts[state] = counts[state] + 1
      self.done = self.done + 1
    end
  end)
  self:progress("sending")
end

-- What a failed request means for its entries.
function Run:settle_error(entries, err)
  local kind = type(err) == "table" and err.kind or "unknown_outcome"
  if kind == "unknown_outcome" then
    local problems = err_problems(err)
    problems[1].message = problems[1].message .. "; check PA2, then kiva ledger resolve"
      .. (entries[1].batch and (" --batch " .. entries[1].batch) or " KEY") .. " sent|unsent"
    self:settle("unknown", entries, { problems = problems })
  elseif kind == "rejected" or kind == "validation" then
    self:settle("rejected", entries, { problems = err_problems(err) })
  else
    -- surely did not take effect (refused before sending, or the run stopped)
    self:settle("pending", entries, { problems = err_problems(err) })
    if kind ~= "interrupted" and errors.EXIT[kind] and errors.EXIT[kind] ~= 1 then self:stop(err) end
  end
end

-- Marks entries `sending` (one committed transaction) right before a request
-- carrying them leaves. @return true | nil, err (the request must not leave)
function Run:announce(entries)
  if self:should_stop() then return nil, NOT_STARTED end
  local list = {}
  for i, e in ipairs(entries) do
    list[i] = { key = e.key, kind = self.spec.ledger, hash = e.hash, where = e.where, batch = e.batch }
  end
  local ok, err = self.ledger:mark_sending(list)
  if not ok then
    self:stop(err)
    return nil, NOT_STARTED
  end
  for _, e in ipairs(entries) do e.announced = true end
  return true
end

-- A retryable failure: the request surely did not take effect, so while it waits
-- out its backoff its entries are `pending`, not `sending` (a kill then loses nothing
-- and leaves nothing unknown).
function Run:retrying(entries, err)
  self.retries = self.retries + 1
  local keys = {}
  for i, e in ipairs(entries) do keys[i] = { key = e.key, problems = err_problems(err) } end
  local ok, lerr = self.ledger:mark_pending(keys)
  if not ok then self:stop(lerr) end
  for _, e in ipairs(entries) do e.announced = false end
  self:progress("sending")
end

-- Reads planned items from the store a page at a time and looks each page up in the
-- ledger: already sent (same content) -> skipped; changed since -> changed (sent
-- again with --resend-changed); unknown -> stays unknown; else -> to send.
function Run:planned()
  local store, ledger, opts, counts = self.store, self.ledger, self.opts, self.result.counts
  local last, page, pos = 0, {}, 1
  return function()
    while true do
      if self.result.fatal then return nil end
      if pos > #page then
        page, pos = store:page("valid", last, PAGE), 1
        if #page == 0 then return nil end
        last = page[#page].seq
        local keys = {}
        for i, r in ipairs(page) do keys[i] = r.key end
        local rows, lerr = ledger:get_many(keys)
        if not rows then
          self:stop(lerr)
          return nil
        end
        local sends = {}
        store:batch(function()
          for _, r in ipairs(page) do
            local row = rows[r.key]
            local state = row and row.state
            local update
            if state == "sent" and row.sent_hash == r.hash then
              update = { status = "skipped", response = row.response, note = "sent on " .. str(row.sent_at) }
              counts.skipped = counts.skipped + 1
            elseif state == "sent" and not opts.resend_changed then
              update = { status = "changed", response = row.response, note = "changed since it was sent on "
                .. str(row.sent_at) .. "; not resent (use --resend-changed)" }
              counts.changed, counts.skipped = counts.changed + 1, counts.skipped + 1
            elseif state == "unknown" or state == "sending" then
              update = { status = "unknown", errors = row.problems or { { message = "outcome unknown" } },
                note = "outcome unknown since " .. str(row.updated_at) .. ": check PA2, then kiva ledger resolve "
                  .. (row.batch and ("--batch " .. row.batch) or r.key) .. " sent|unsent" }
              counts.unknown = counts.unknown + 1
            else
              r.resent = state == "sent" or nil
              sends[#sends + 1] = r
            end
            if update then
              store:update(r.seq, update)
              self.done = self.done + 1
            end
          end
        end)
        page = sends
        self:progress("sending")
      end
      if pos <= #page then
        pos = pos + 1
        return page[pos - 1]
      end
    end
  end
end

-- The callbacks every kind's sending shares; `entries_of(item)` gives the entries a
-- request carries (one draft or journal, or a batch's repayments).
function Run:callbacks(entries_of, on_answer)
  return {
    before_send = function(item) return self:announce(entries_of(item)) end,
    on_retry = function(item, err) self:retrying(entries_of(item), err) end,
    should_stop = function() return self:should_stop() end,
    on_result = function(item, res, err)
      local entries = {}
      for _, e in ipairs(entries_of(item)) do if not e.settled then entries[#entries + 1] = e end end
      if #entries == 0 then return end
      if res then return on_answer(item, entries, res) end
      self:settle_error(entries, err)
    end,
  }
end

function Run:send_each()
  local kind, wrap = self.spec.payload, self.spec.wrap
  local next_entry = self:planned()
  local function next_body()
    local e = next_entry()
    if not e then return nil end
    return { body = wrap and ('{"' .. wrap .. '":[' .. e.json .. "]}") or e.json, item = e }
  end
  self.client:send(kind, next_body, self:callbacks(function(e) return { e } end, function(e, entries, res)
    local response
    if kind == "loan_draft" then
      response = { loan_draft_uuid = res.loan_draft_uuid, code = res.code, message = res.message }
    else
      response = { archive_id = res.archive_id, confirm_url = res.confirm_url }
    end
    self:settle("sent", entries, { response = response, note = res.note, problems = res.warnings })
    e.json = nil
  end))
end

-- Matches a batch answer's problems to its lines. Each loan is on one line of the
-- batch (the run refuses a loan twice), so a problem names one line exactly; one
-- naming no line of the batch makes the lines without their own verdict unknown.
local function match_problems(batch, res)
  local by_loan, loose = {}, {}
  for _, e in ipairs(batch.entries) do by_loan[e.ident] = { entry = e } end
  for _, p in ipairs(res.problems or {}) do
    local slot = p.loan_id and by_loan[p.loan_id]
    if slot then
      slot.problems = slot.problems or {}
      slot.problems[#slot.problems + 1] = p
      if p.severity == nil or p.severity == "error" then slot.refused = true end
    elseif p.severity == "warning" then
      batch.notes[#batch.notes + 1] = p
    else
      loose[#loose + 1] = p
    end
  end
  return by_loan, loose
end

function Run:send_repayments()
  local bs = self.opts.batch_size or M.BATCH_SIZE
  local next_entry = self:planned()
  local label_base = os.date("!%Y%m%dT%H%M%S")
  local result = self.result
  local function next_body()
    local entries, jsons = {}, {}
    while #entries < bs do
      local e = next_entry()
      if not e then break end
      entries[#entries + 1], jsons[#jsons + 1] = e, e.json
      e.json = nil
    end
    if #entries == 0 then return nil end
    local batch = { index = #result.batches + 1, entries = entries, notes = {} }
    batch.label = string.format("%s-%03d", label_base, batch.index)
    for _, e in ipairs(entries) do e.batch = batch.label end
    result.batches[batch.index] = { index = batch.index, label = batch.label, count = #entries, status = "pending" }
    return { body = '{"repayments":[' .. table.concat(jsons, ",") .. "]}", item = batch }
  end
  local function entries_of(batch) return batch.entries end
  local callbacks = self:callbacks(entries_of, function(batch, entries, res)
    local summary = result.batches[batch.index]
    summary.upload_id = res.upload_id
    local by_loan, loose = match_problems(batch, res)
    local sent, sent_fields, refused, refused_fields, unsure = {}, {}, {}, {}, {}
    for _, e in ipairs(entries) do
      local slot = by_loan[e.ident]
      if slot.refused then
        refused[#refused + 1] = e
        refused_fields[#refused_fields + 1] = { problems = slot.problems, upload_id = res.upload_id }
      elseif #loose > 0 then
        unsure[#unsure + 1] = e
      else
        sent[#sent + 1] = e
        sent_fields[#sent_fields + 1] = { response = { upload_id = res.upload_id, batch = batch.label },
          problems = slot.problems, note = res.note, upload_id = res.upload_id }
      end
    end
    self:settle("sent", sent, sent_fields)
    self:settle("rejected", refused, refused_fields)
    if #unsure > 0 then
      local problems = {}
      for i, p in ipairs(loose) do problems[i] = p end
      problems[#problems + 1] = { message = "Kiva refused something in upload " .. str(res.upload_id)
        .. " without naming one of this batch's loans: check the upload in PA2, then kiva ledger resolve --batch "
        .. batch.label .. " sent|unsent" }
      self:settle("unknown", unsure, { problems = problems, upload_id = res.upload_id })
    end
    summary.status = (#refused == 0 and #unsure == 0) and "sent" or (#sent == 0 and #unsure == 0) and "rejected"
      or #unsure > 0 and "unknown" or "partial"
    summary.message = res.message or res.note
  end)
  local on_result = callbacks.on_result
  callbacks.on_result = function(batch, res, err)
    on_result(batch, res, err)
    if not res then
      local summary = result.batches[batch.index]
      summary.status = batch.entries[1].settled and batch.entries[1].status or summary.status
      summary.message = err and err.message
    end
  end
  self.client:send("repayments", next_body, callbacks)
  -- a batch's status from its entries, where the answer did not set it
  for _, summary in ipairs(result.batches) do
    if summary.status == "pending" then summary.status = self.store:batch_status(summary.label) or "pending" end
  end
end

function Run:send()
  local db = self.ledger
  local recovered, rerr = db:recover()
  if not recovered then return self:stop(rerr) end
  self.result.recovered = recovered
  self.total = self.result.counts.valid
  self:progress("sending")
  if self.opts.kind == "repayments" then
    self:send_repayments()
  else
    self:send_each()
  end
  -- what the run did not reach (it stopped): pending, sent next time
  local left = self.store:move_all("valid", "pending", "not sent: the run stopped before this item")
  self.result.counts.pending = self.result.counts.pending + left
end

---------------------------------------------------------------- the entry point

local function close_result(result)
  if result.store then result.store:close() end
end

--- Runs a push (or with opts.dry_run / opts.validate_only, a dry run or a validation).
-- opts: kind ("loans"|"repayments"|"journals"), mapping, input (path), items (instead
-- of mapping and input: already mapped items), client, ledger (an open kiva.ledger,
-- lock held; not needed for dry runs), partner_id, period ("YYYY-MM"; repayments:
-- else the month of the export's payment dates), resend_changed, csv_format,
-- strict, batch_size, out, config_cache, target (echoed in the result),
-- on_progress(p), on_warning(message), should_stop() -> err|nil, command (the
-- result's name for the run, default "validate" or "push": kiva.reconcile's own).
-- @return result { command, kind, period, counts, items, warnings, batches,
-- recovered, files ({ count, dir }: a dry run's), fatal = err|nil, target, started_at, finished_at, duration }.
-- `items` is read from the run's store a page at a time: release the store with
-- M.close(result) when done with it (the garbage collector does it otherwise).
function M.run(opts)
  local command = opts.command or (opts.validate_only and "validate" or "push")
  local result = setmetatable(new_result(command, opts.kind), { __gc = close_result, __close = close_result })
  result.dry_run = opts.dry_run or nil
  result.target = opts.target
  result.started_at = os.time()
  local t0 = core.monotonic()
  local spec = M.KINDS[opts.kind]
  if not spec then error("kiva.push.run: kind must be loans, repayments or journals", 2) end
  local store, serr = runstore.open({ key_tail = opts.kind == "repayments" and repayment_key_tail or nil })
  if not store then
    result.fatal = serr
    return result
  end
  result.store = store
  local run = setmetatable({ opts = opts, spec = spec, store = store, ledger = opts.ledger, client = opts.client,
    result = result, done = 0, total = nil, retries = 0, p = {},
    -- a draft's or a journal's key prefix (a repayment's waits for the period: plan)
    key_prefix = opts.kind ~= "repayments" and key_prefix(opts.kind, opts.partner_id) or nil,
    checker = schema.compiled(spec.payload):checker({ kind = spec.payload, csv_format = opts.csv_format or "three",
      strict = opts.strict, wrap = spec.wrap }) }, Run)
  local ok, err = pcall(function()
    run:read()
    if not result.fatal then run:plan() end
    if result.fatal or opts.validate_only then return end
    if opts.dry_run then return run:write_payloads() end
    run:send()
  end)
  if not ok then
    -- the store failed under us (a full temporary directory): the run stops there
    if type(err) ~= "table" or not err.kind then error(err, 0) end
    result.fatal = result.fatal or err
  end
  result.items = store:items()
  -- the items in some statuses, a few at a time (what a summary lists): see runstore.select
  result.select = function(statuses, limit) return store:select(statuses, limit) end
  result.warned = function(limit) return store:warned(limit) end
  result.finished_at = os.time()
  result.duration = core.monotonic() - t0
  return result
end

--- Releases what a result keeps open (its store); `items` is empty afterwards.
function M.close(result)
  close_result(result)
  result.items, result.select, result.warned = {}, nil, nil
end

--- The exit status a result calls for (interface.md): 0 done, 1 items invalid,
-- rejected or unknown, 2 usage/configuration, 3 authentication, 4 network,
-- 130/143 stopped by a signal.
function M.exit_code(result)
  if result.fatal then return errors.exit_code(result.fatal) end
  local c = result.counts
  if c.invalid > 0 or c.rejected > 0 or c.unknown > 0 then return 1 end
  return 0
end

return M
