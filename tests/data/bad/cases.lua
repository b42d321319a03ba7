-- What each malformed input must give (read by tests/reliability_spec.lua).
-- Every case is pushed to a fresh-ledger `kiva push` against the sandbox. Fields:
--   file      the input (in this directory, or made at test time when `generate` is set)
--   kind      loans | repayments | journals (default loans)
--   mapping   default map_loans.lua / map_repayments.lua / map_journals.lua
--   expect    "refused": exit 1 or 2, the output or report names `where`, no bad item sent
--             "load":    exit 2 (the mapping cannot run), names the mapping, nothing sent
--             "good_or_refused": exit 0 with every good row sent, or "refused"
--             "quiet":   nothing to send: exit 0-2, nothing sent, no crash
--             "warned":  bytes that are not UTF-8: "refused", or read as Windows-1252 (the
--                        reader's documented fallback) with a warning naming `where`
--   where     the file name and, when given, the line the message must name
--   timeout   seconds before the push counts as hung (default 120)
--   field     a field (or list of alternatives: payload or source column) the errors must name
-- Always: no crash or traceback, and what the sandbox applied is a subset of the good rows.
local LOANS_GOOD = { "L900001", "L900004" }
local cases = {}
local function add(t)
  t.kind = t.kind or "loans"
  t.expect = t.expect or "refused"
  t.good = t.good or (t.kind == "loans" and LOANS_GOOD or { "L000001", "L000003" })
  if t.where == nil then t.where = { file = t.file, line = t.line } end
  cases[#cases + 1] = t
end

-- CSV bytes and structure
add{ file = "unbalanced_quote.csv", line = 3 }
add{ file = "truncated_in_quote.csv", line = 3 }
add{ file = "quote_then_garbage.csv", line = 3 }
add{ file = "nul_byte.csv", line = 3 }
add{ file = "invalid_utf8.csv", line = 3, expect = "warned" }
add{ file = "overlong_utf8.csv", line = 3, expect = "warned" }
add{ file = "surrogate_utf8.csv", line = 3, expect = "warned" }
add{ file = "truncated_utf8.csv", line = 3, expect = "warned" }
add{ file = "too_many_fields.csv", line = 3 }
add{ file = "too_few_fields.csv", line = 3 }
add{ file = "duplicate_header.csv" }
add{ file = "bare_cr_in_field.csv", line = 3 }
add{ file = "binary_noise.csv" }
add{ file = "utf16le.csv" }
add{ file = "windows1252_as_utf8.csv", line = 3, expect = "warned" }
add{ file = "empty.csv", expect = "quiet" }
add{ file = "bom_only.csv", expect = "quiet" }
add{ file = "header_only.csv", expect = "quiet" }
add{ file = "cr_only.csv", expect = "good_or_refused" }
add{ file = "ten_mb_field.csv", generate = "ten_mb_field", line = 3 }
add{ file = "hundred_k_columns.csv", generate = "hundred_k_columns" }

-- Values a row carries that make a wrong draft
add{ file = "negative_amount.csv", line = 3, field = "amount" }
add{ file = "zero_amount.csv", line = 3, field = "amount" }
add{ file = "huge_amount.csv", line = 3, field = "amount" }
add{ file = "too_many_decimals.csv", line = 3, field = "amount" }
add{ file = "amount_not_a_number.csv", line = 3, field = "amount" }
add{ file = "amount_nan.csv", line = 3, field = "amount" }
add{ file = "amount_inf.csv", line = 3, field = "amount" }
add{ file = "amount_two_separators.csv", line = 3, field = "amount" }
add{ file = "date_feb_30.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "date_month_13.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "date_day_zero.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "date_year_zero.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "date_wrong_format.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "date_feb_29_non_leap.csv", line = 3, field = { "disburse_time", "Disbursed" } }
add{ file = "due_before_disbursal.csv", line = 3, field = { "schedule", "Due" } }
add{ file = "hyperlink_first_name.csv", line = 3, field = "first_name" }
add{ file = "formula_last_name.csv", line = 3, field = "last_name" }
add{ file = "currency_unknown.csv", line = 3, field = "currency" }
add{ file = "currency_too_many_decimals.csv", line = 3, field = "amount" }
add{ file = "empty_loan_id.csv", line = 3, field = "loan_id" }

-- Repayments (the bad row is loan L000002) and journals (the bad row is for L000002)
add{ kind = "repayments", file = "repay_negative.csv", line = 3, field = "amount" }
add{ kind = "repayments", file = "repay_empty_amount.csv", line = 3, field = "amount" }
add{ kind = "repayments", file = "repay_huge.csv", line = 3, field = "amount" }
add{ kind = "repayments", file = "repay_no_loan_id.csv", line = 3, field = "loan_id" }
add{ kind = "repayments", file = "repay_garbage_amount.csv", line = 3, field = "amount" }
add{ kind = "journals", file = "journal_empty_subject.csv", line = 3, field = "subject", good = { "L000001" } }
add{ kind = "journals", file = "journal_invalid_utf8.csv", line = 3, good = { "L000001" }, expect = "warned" }
add{ kind = "journals", file = "journal_nul_in_body.csv", line = 3, good = { "L000001" } }

-- JSON and JSON Lines (no header: the bad JSON Lines record is on line 2)
add{ file = "truncated.json" }
add{ file = "object_not_array.json" }
add{ file = "array_of_numbers.json" }
add{ file = "deep_nesting.json" }
add{ file = "bad_line.jsonl", line = 2 }
add{ file = "non_object_line.jsonl", line = 2 }

-- XLSX
add{ file = "truncated.xlsx" }
add{ file = "truncated_central_directory.xlsx" }
add{ file = "not_a_zip.xlsx" }
add{ file = "empty.xlsx" }
add{ file = "no_worksheet.xlsx" }
add{ file = "malformed_sheet_xml.xlsx" }
add{ file = "shared_string_out_of_range.xlsx" }
add{ file = "shared_string_negative.xlsx" }
add{ file = "billion_laughs.xlsx" }
add{ file = "external_entity.xlsx", never = "root:" }
add{ file = "invalid_utf8_cell.xlsx" }
add{ file = "cell_ref_huge.xlsx" }
add{ file = "cell_ref_beyond_xfd.xlsx", timeout = 20 }
add{ file = "relationship_without_id.xlsx", expect = "good_or_refused", good = { "L900001" } }
add{ file = "whitespace_bomb.xlsx", expect = "good_or_refused", good = { "L900001" } }

-- Mapping scripts that misbehave on line 3 of mapping_input.csv (loan BAD60)
for _, m in ipairs{ "map_raises.lua", "map_raises_table.lua", "map_returns_string.lua", "map_returns_number.lua",
    "map_loops_forever.lua", "map_recursion.lua", "map_yields.lua", "map_cycle.lua", "map_function_value.lua",
    "map_sparse_entreps.lua", "map_nan_amount.lua", "map_inf_amount.lua", "map_string_amount.lua",
    "map_float_id.lua", "map_boolean_as_string.lua", "map_group_fields_on_individual.lua",
    "map_empty_entreps.lua", "map_bad_gender.lua", "map_bad_image.lua", "map_image_wrong_type.lua",
    "map_schedule_mismatch.lua", "map_unknown_field.lua" } do
  add{ file = "mapping_input.csv", mapping = m, line = 3 }
end
-- Mapping scripts that try to leave their box (issue 16, case 9)
for _, m in ipairs{ "map_os_exit.lua", "map_allocates_forever.lua", "map_clears_hook.lua", "map_pattern_hang.lua",
    "map_finalizer_loop.lua" } do
  add{ file = "mapping_input.csv", mapping = m, line = 3, timeout = 60 }
end
add{ file = "mapping_input.csv", mapping = "map_io_write.lua", line = 3, never = "\nFORGED" }
for _, m in ipairs{ "map_syntax_error.lua", "map_not_a_table.lua", "map_no_loan_function.lua",
    "map_raises_on_load.lua" } do
  add{ file = "mapping_input.csv", mapping = m, expect = "load", where = { file = m } }
end

return cases
