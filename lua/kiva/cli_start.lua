--- kiva.cli_start: the commands of a partner's first hour, `kiva inspect FILE` (what
-- the readers see in an export) and `kiva init KIND --input FILE` (a mapping
-- skeleton for it). Registered by kiva.cli, which gives the printing functions.
local M = {}

local EXAMPLES = {
  inspect = "Example:\n  kiva inspect prestamos.xlsx\n"
    .. "  kiva inspect pagos.csv --delimiter ';' --encoding windows-1252 --header-row 3",
  init = "Example:\n  kiva init loans --input prestamos.xlsx --out loans.lua\n"
    .. "  kiva validate loans --mapping loans.lua --input prestamos.xlsx",
}

-- The kiva.source options both commands take.
local function add_reading(c)
  c:option("--sheet", "xlsx: the sheet to read (name or number; default the first).")
  c:option("--delimiter", "CSV: the delimiter (default: sniffed).")
  c:option("--encoding", "CSV: the encoding (default: UTF-8, else Windows-1252).")
  c:option("--header-row", "The header's row number, when the one found is wrong.")
end

local function reading_opts(args)
  return { sheet = args.sheet, delimiter = args.delimiter, encoding = args.encoding,
    header_row = args.header_row and math.tointeger(tonumber(args.header_row)) }
end

--- Adds the commands to the argparse parser `p`; helpful(cmd) gives a command --help.
function M.add_commands(p, helpful)
  local c = helpful(p:command("inspect", "What the readers see in an export: format, header, columns, rows."))
  c:epilog(EXAMPLES.inspect)
  c:argument("file", "The export (csv, tsv, xlsx, json, jsonl).")
  c:option("--rows", "How many first rows to show (default 5).")
  add_reading(c)

  c = helpful(p:command("init", "Write a mapping skeleton for an export."))
  c:epilog(EXAMPLES.init)
  local kinds = require("kiva.contract").KIND_ORDER
  c:argument("what", table.concat(kinds, "|")):choices(kinds)
  c:option("--input", "The export to map."):count(1)
  c:option("--out", "Write the skeleton to this file (never over an existing one); default: print it.")
  add_reading(c)
end

function M.inspect(args, out, fail)
  local opts = reading_opts(args)
  opts.rows = math.tointeger(tonumber(args.rows)) or 5
  local d, err = require("kiva.inspect").describe(args.file, opts)
  if not d then return fail(err) end
  out(require("kiva.inspect").format(d))
  return 0
end

function M.init(args, out, fail)
  local text, err = require("kiva.scaffold").mapping(args.what, args.input, reading_opts(args))
  if not text then return fail(err) end
  if not args.out then
    out(text)
    return 0
  end
  local existing = io.open(args.out, "rb")
  if existing then
    existing:close()
    return fail({ kind = "usage", message = args.out .. " exists; not overwritten (choose another --out)" })
  end
  local f, ferr = io.open(args.out, "wb")
  if not f then return fail({ kind = "usage", message = tostring(ferr) }) end
  f:write(text)
  f:close()
  out(string.format("Wrote %s. Next: fill in its TODOs, then\n  kiva validate %s --mapping %s --input %s\n",
    args.out, args.what, args.out, args.input))
  return 0
end

return M
