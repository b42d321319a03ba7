-- compiled:checker(opts):check(value): one item of a push validated, encoded once and
-- hashed in one call. It must give exactly what kiva.push's check gave before it: the
-- findings of compiled:validate on the item's one-item body with the item's own paths,
-- the bytes compiled:encode wrote for the item inside that body (a two-column
-- partner's client id left out), and core.sha256_hex of those bytes.
local cjson = require "cjson"
local core = require "kiva.core"
local helper = require "helper"
local mapping = require "kiva.mapping"
local schema = require "kiva.schema"

local WRAP = { loan_draft = false, repayments = "repayments", journals = "journals" }
local CLIENT_KEY = { repayments = "client_id", journals = "internal_client_id" }
local TODAY = "2024-01-20"   -- the disbursal-date warnings, the same whatever day the test runs

local function read(path)
  local text = assert(helper.read(path))
  return text
end

local function strip_prefix(list)
  for _, e in ipairs(list) do
    e.path = e.path:gsub("^repayments%[1%]%.?", ""):gsub("^journals%[1%]%.?", "")
  end
  return list
end

-- What push's check did with validate + encode + sha256_hex (its findings' paths
-- stripped as it stripped them), for the item `value` of `kind` under `opts`.
local function reference(compiled, kind, opts, value)
  local wrap = WRAP[kind]
  local ok, errs, warnings = compiled:validate(wrap and { [wrap] = { value } } or value, opts)
  warnings = #warnings > 0 and strip_prefix(warnings) or nil
  if not ok then return nil, strip_prefix(errs), warnings end
  if wrap and opts.csv_format == "two" then
    local copy = {}
    for k, v in next, value do copy[k] = v end
    copy[CLIENT_KEY[kind]] = nil
    value = copy
  end
  local json, err = compiled:encode(wrap and { [wrap] = { value } } or value)
  if not json then return nil, { { path = "", message = tostring(err) } }, warnings end
  if wrap then json = json:sub(#wrap + 6, -3) end
  return json, core.sha256_hex(json), warnings
end

local function checker_of(kind, opts)
  local o = { wrap = WRAP[kind] or nil }
  for k, v in pairs(opts) do o[k] = v end
  return schema.compiled(kind):checker(o)
end

-- Asserts that the checker gives what the reference gives; returns the checker's results.
local function same_as_reference(kind, opts, value, checker, label)
  checker = checker or checker_of(kind, opts)
  local want = table.pack(reference(schema.compiled(kind), kind, opts, value))
  local got = table.pack(checker:check(value))
  assert.are.same(want, got, label)
  return table.unpack(got, 1, got.n)
end

-- Every option set an item is checked under in these tests.
local function variants(base)
  local out = {}
  for _, extra in ipairs{ {}, { strict = true }, { csv_format = "two" }, { csv_format = "three" },
      { csv_format = "two", strict = true } } do
    local o = { kind = base.kind, today = TODAY }
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    out[#out + 1] = o
  end
  return out
end

-- The items of the reference payloads: a draft is one, a report's lines are each one.
local function corpus_items()
  local out = {}
  for _, kind in ipairs(schema.kinds) do
    for _, validity in ipairs{ "valid", "invalid" } do
      local dir = "tests/data/payloads/" .. kind .. "/" .. validity
      local p = assert(io.popen("ls " .. dir))
      for name in p:lines() do
        if not name:match("%.expect%.json$") then
          local path = dir .. "/" .. name
          local exp = io.open((path:gsub("%.json$", ".expect.json")), "rb")
          local opts = exp and cjson.decode(exp:read("a")).opts or {}
          if exp then exp:close() end
          opts.kind = kind
          local body = cjson.decode(read(path))
          local values = WRAP[kind] and type(body[WRAP[kind]]) == "table" and body[WRAP[kind]] or { body }
          out[#out + 1] = { kind = kind, path = path, opts = opts, values = values }
        end
      end
      p:close()
    end
  end
  return out
end

-- The payloads tests/data/bad's mappings make of its inputs (what reliability_spec pushes).
local BAD = "tests/data/bad/"
local bad_inputs = {
  { "loans", "map_loans.lua", { "negative_amount.csv", "zero_amount.csv", "huge_amount.csv", "too_many_decimals.csv",
    "amount_not_a_number.csv", "amount_nan.csv", "amount_inf.csv", "amount_two_separators.csv", "date_feb_30.csv",
    "date_month_13.csv", "date_day_zero.csv", "date_year_zero.csv", "date_wrong_format.csv",
    "date_feb_29_non_leap.csv", "due_before_disbursal.csv", "hyperlink_first_name.csv", "formula_last_name.csv",
    "currency_unknown.csv", "currency_too_many_decimals.csv", "empty_loan_id.csv" } },
  { "repayments", "map_repayments.lua", { "repay_negative.csv", "repay_empty_amount.csv", "repay_huge.csv",
    "repay_no_loan_id.csv", "repay_garbage_amount.csv" } },
  { "journals", "map_journals.lua", { "journal_empty_subject.csv", "journal_invalid_utf8.csv",
    "journal_nul_in_body.csv" } },
}
for _, m in ipairs{ "map_returns_string.lua", "map_returns_number.lua", "map_cycle.lua", "map_function_value.lua",
    "map_sparse_entreps.lua", "map_nan_amount.lua", "map_inf_amount.lua", "map_string_amount.lua",
    "map_float_id.lua", "map_boolean_as_string.lua", "map_group_fields_on_individual.lua", "map_empty_entreps.lua",
    "map_bad_gender.lua", "map_bad_image.lua", "map_image_wrong_type.lua", "map_schedule_mismatch.lua",
    "map_unknown_field.lua" } do
  bad_inputs[#bad_inputs + 1] = { "loans", m, { "mapping_input.csv" } }
end
local PAYLOAD = { loans = "loan_draft", repayments = "repayments", journals = "journals" }

local function mapped_payloads(kind, mapping_file, input)
  local m = assert(mapping.load(BAD .. mapping_file))
  local ctx = mapping.context({ fetch = function() return nil, "no lists in this test" end })
  local out = {}
  for it in mapping.items(m, kind, BAD .. input, { ctx = ctx, input = BAD .. input }) do
    if it.payload ~= nil then out[#out + 1] = it.payload end
  end
  return out
end

local function draft()
  return cjson.decode(read("tests/data/payloads/loan_draft/valid/individual.json"))
end

describe("compiled:checker", function()
  describe("gives what validate + encode + sha256_hex gave", function()
    for _, case in ipairs(corpus_items()) do
      it("for " .. case.path .. " under each option set", function()
        for _, opts in ipairs(variants(case.opts)) do
          local checker = checker_of(case.kind, opts)   -- one checker for all the items, as in a run
          for i, value in ipairs(case.values) do
            same_as_reference(case.kind, opts, value, checker, case.path .. " item " .. i)
          end
        end
      end)
    end

    for _, set in ipairs(bad_inputs) do
      local kind, mapping_file, inputs = set[1], set[2], set[3]
      it("for what " .. mapping_file .. " makes of tests/data/bad's " .. kind .. " inputs", function()
        local payload = PAYLOAD[kind]
        local checked = 0
        for _, input in ipairs(inputs) do
          for _, opts in ipairs(variants({ kind = payload })) do
            local checker = checker_of(payload, opts)
            for i, value in ipairs(mapped_payloads(kind, mapping_file, input)) do
              same_as_reference(payload, opts, value, checker, input .. " item " .. i)
              checked = checked + 1
            end
          end
        end
        assert.is_true(checked > 0, "the mapping made no payload to check")
      end)
    end
  end)

  describe("valid items", function()
    it("give the item's object as sent, its SHA-256, and no warnings table when there are none", function()
      local checker = checker_of("repayments", { kind = "repayments" })
      local json, hash, warnings = checker:check({ loan_id = "L-1", client_id = "C-1", amount = 480.5 })
      assert.are.equal('{"amount":480.5,"client_id":"C-1","loan_id":"L-1"}', json)
      assert.are.equal(core.sha256_hex(json), hash)
      assert.is_nil(warnings)
    end)

    it("leave a two-column partner's client id out of the bytes, not out of the checks", function()
      local opts = { kind = "repayments", csv_format = "two" }
      local checker = checker_of("repayments", opts)
      local value = { loan_id = "L-1", client_id = "C-1", amount = 10 }
      assert.are.equal('{"amount":10,"loan_id":"L-1"}', (same_as_reference("repayments", opts, value, checker)))
      assert.are.equal("C-1", value.client_id)   -- the caller's ids, for its ledger key
      local bad = { loan_id = "L-1", client_id = "", amount = 10 }
      local json, errors = same_as_reference("repayments", opts, bad, checker)
      assert.is_nil(json)
      assert.are.equal("client_id", errors[1].path)
      local jopts = { kind = "journals", csv_format = "two" }
      assert.are.equal('{"body":"b","internal_loan_id":"L-1","subject":"s"}', (same_as_reference("journals", jopts,
        { internal_loan_id = "L-1", internal_client_id = "C-1", subject = "s", body = "b" })))
    end)

    it("carry their warnings, which strict mode makes errors", function()
      local group = draft()
      group.entreps[2] = { client_id = "C-2", loan_id = "L-2", first_name = "Ana", last_name = "Cruz",
        gender = "female", amount = group.entreps[1].amount }
      group.schedule[1].principal = group.schedule[1].principal + group.entreps[1].amount
      group.group_name = nil
      group.disburse_time = "2020-01-10"
      local opts = { kind = "loan_draft", today = TODAY }
      local json, _, warnings = same_as_reference("loan_draft", opts, group)
      assert.is_string(json)
      assert.is_true(#warnings >= 2)
      opts.strict = true
      local none, errors = same_as_reference("loan_draft", opts, group)
      assert.is_nil(none)
      assert.are.equal(#warnings, #errors)
    end)

    it("are right after a long item in the reused buffer", function()
      local checker = assert(core.schema_compile({ type = "object" })):checker()
      local long = { body = string.rep("x", 2 * 1024 * 1024) }
      assert.are.equal(#long.body + 11, #assert(checker:check(long)))
      assert.are.equal('{"body":"b","subject":"s"}', (checker:check({ subject = "s", body = "b" })))
    end)
  end)

  describe("invalid items", function()
    it("that are no table, or nothing, give the body's findings at the item's paths", function()
      for _, kind in ipairs(schema.kinds) do
        local opts = { kind = kind, today = TODAY }
        local checker = checker_of(kind, opts)
        for _, value in ipairs{ "abc", 42, 1.5, true, cjson.null, function() end } do
          local json, errors = same_as_reference(kind, opts, value, checker, kind .. " " .. tostring(value))
          assert.is_nil(json)
          assert.is_true(#errors > 0)
        end
        local json, errors = same_as_reference(kind, opts, nil, checker, kind .. " nil")
        assert.is_nil(json)
        assert.is_true(#errors > 0)
      end
    end)

    it("with numeric ids, missing client ids or bad amounts name the field", function()
      local opts = { kind = "repayments" }
      local checker = checker_of("repayments", opts)
      for _, value in ipairs{ { loan_id = 123, client_id = "C-1", amount = 1 },
          { loan_id = "L-1", client_id = 7.5, amount = 1 }, { loan_id = "L-1", amount = 1 },
          { loan_id = "L-1", client_id = "C-1", amount = 1.0001 }, { loan_id = "L-1", client_id = "C-1", amount = 0 },
          { loan_id = "L-1", client_id = "C-1", amount = 1, extra = true }, { [1] = "x", loan_id = "L-1" } } do
        local json, errors = same_as_reference("repayments", opts, value, checker)
        assert.is_nil(json)
        assert.is_true(#errors > 0)
      end
      local _, errors = checker:check({ loan_id = 123, client_id = "C-1", amount = 1 })
      assert.are.equal("loan_id", errors[1].path)
      local jopts = { kind = "journals" }
      local _, jerrors = same_as_reference("journals", jopts, { internal_loan_id = 5, subject = "s", body = "b" })
      assert.are.equal("internal_client_id", jerrors[1].path)
    end)

    it("that are tables of other keys name the key, or the array they are", function()
      local checker = checker_of("repayments", { kind = "repayments" })
      local function check(value) return select(2, checker:check(value)) end
      local three = "required: client_id is required for three-column partners (csv_format \"three\")"
      assert.are.same({ { path = "", message = "type: object keys must be strings, found key 2" },
        { path = "amount", message = "required: property is missing" }, { path = "client_id", message = three },
        { path = "loan_id", message = "required: property is missing" } }, check({ [2] = "x" }))
      assert.are.same({ { path = "", message = "type: object keys must be strings, found key true" } },
        check({ [true] = 1, loan_id = "L-1", client_id = "C", amount = 1 }))
      assert.are.same({ { path = "", message = "type: expected object, found an array of 2" },
        { path = "client_id", message = three } }, check({ 5, 6 }))
      assert.are.same({ { path = "", message = "type: object keys must be strings, found key 1" },
        { path = "amount", message = "required: property is missing" }, { path = "client_id", message = three },
        { path = "loan_id", message = "required: property is missing" },
        { path = "x", message = "additionalProperties: unknown property, not allowed here" } },
        check({ [1] = 1, x = 2 }))
    end)

    it("give the nested paths of a draft's borrowers and schedule, in document order", function()
      local d = draft()
      d.entreps[1].amount = -1
      d.entreps[1].first_name = "=HYPERLINK(1)"
      d.schedule[2] = { date = "2023-01-01", principal = 1.234, interest = "x" }
      d.schedule[3] = { date = "2023-13-01" }
      local opts = { kind = "loan_draft", today = TODAY }
      local json, errors = same_as_reference("loan_draft", opts, d)
      assert.is_nil(json)
      local paths = {}
      for _, e in ipairs(errors) do paths[#paths + 1] = e.path end
      assert.is_truthy(table.concat(paths, " "):find("entreps[1].amount", 1, true))
      assert.is_truthy(table.concat(paths, " "):find("schedule[2].interest", 1, true))
      assert.is_truthy(table.concat(paths, " "):find("schedule[3].date", 1, true))
    end)

    it("past a thousand findings end with the same closing entry", function()
      local d = draft()
      for i = 1, 1100 do d.schedule[i] = { date = "x", principal = -1, interest = -1 } end
      local _, errors = same_as_reference("loan_draft", { kind = "loan_draft", today = TODAY }, d)
      assert.are.equal(1001, #errors)
      assert.is_truthy(errors[1001].message:find("more than 1000 errors", 1, true))
    end)

    it("that validate but cannot be encoded give the encoder's message at the path \"\"", function()
      -- an object the schema leaves open may have a key that is no UTF-8: the validator
      -- names it, the encoder refuses it
      local whole = assert(core.schema_compile({ type = "object" }))
      local json, errors = whole:checker():check({ ["\255"] = 1 })
      assert.is_nil(json)
      assert.are.same({ { path = "", message = select(2, whole:encode({ ["\255"] = 1 })) } }, errors)
      local listed = assert(core.schema_compile({ type = "object", required = { "items" },
        properties = { items = { type = "array", minItems = 1, items = { type = "object" } } } }))
      local _, errs = listed:checker({ wrap = "items" }):check({ ok = { ["\255"] = 1 } })
      assert.are.same({ { path = "", message = "cannot encode items[1].ok: string is not valid UTF-8" } }, errs)
      -- a closed object's property named by no UTF-8 validates, and is refused as encode refuses it
      local closed = assert(core.schema_compile({ type = "object", additionalProperties = false,
        properties = { a = { type = "object", additionalProperties = false,
          properties = { ["\255"] = {}, b = {} } } } }))
      json, errors = closed:checker():check({ a = { b = 1, ["\255"] = 2 } })
      assert.is_nil(json)
      assert.are.same({ { path = "", message = select(2, closed:encode({ a = { b = 1, ["\255"] = 2 } })) } }, errors)
      assert.are.equal("cannot encode a: string is not valid UTF-8", errors[1].message)
      assert.are.equal('{"a":{"b":1}}', (closed:checker():check({ a = { b = 1 } })))
    end)

    it("give deep paths relative to the item, as validate gives them under the list", function()
      local listed = assert(core.schema_compile({ type = "object", required = { "items" },
        properties = { items = { type = "array", minItems = 1, items = { type = "object" } } } }))
      local item = { a = { { ["b\1"] = { [string.rep("k", 600)] = 0 / 0 } }, { c = print } } }
      local _, errs = listed:checker({ wrap = "items" }):check(item)
      local _, whole = listed:validate({ items = { item } })
      assert.are.equal(2, #errs)
      for i, e in ipairs(whole) do
        assert.are.equal("items[1].", e.path:sub(1, 9))
        assert.are.same({ path = e.path:sub(10), message = e.message }, errs[i])
      end
      assert.are.equal("a[2].c", errs[2].path)
      assert.are.equal(("a[1].b?." .. string.rep("k", 600)):sub(1, 511 - #"items[1]."), errs[1].path)
    end)
  end)

  describe("its options", function()
    it("are refused when they are not ones", function()
      local compiled = schema.compiled("repayments")
      assert.has_error(function() compiled:checker({ kind = "loans" }) end)
      assert.has_error(function() compiled:checker({ csv_format = "four" }) end)
      assert.has_error(function() compiled:checker({ today = "2024-02-30" }) end)
      assert.has_error(function() compiled:checker({ kind = "repayments", currency = "XYZ" }) end)
      assert.has_error(function() compiled:checker({ wrap = "journals" }) end)
      assert.has_error(function() schema.compiled("loan_draft"):checker({ wrap = "entreps" }) end)
    end)

    it("are read once: a currency's decimals hold for every item", function()
      local opts = { kind = "repayments", currency = "UGX" }
      local checker = checker_of("repayments", opts)
      local fraction = { loan_id = "L-1", client_id = "C", amount = 1.5 }
      assert.is_nil((same_as_reference("repayments", opts, fraction, checker)))
      local whole = { loan_id = "L-1", client_id = "C", amount = 2 }
      assert.is_string((same_as_reference("repayments", opts, whole, checker)))
    end)
  end)

  it("is closed once, by close, __close or the collector, and is not used closed", function()
    local compiled = assert(core.schema_compile({ type = "object" }))
    local checker = compiled:checker()
    checker:close()
    checker:close()
    assert.has_error(function() checker:check({}) end)
    do
      local scoped <close> = compiled:checker()
      assert.are.equal("{}", (scoped:check({})))
    end
    local live = compiled:checker()
    compiled:close()
    assert.has_error(function() live:check({}) end)
  end)
end)
