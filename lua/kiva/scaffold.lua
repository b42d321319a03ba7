--- kiva.scaffold: a mapping skeleton for an export, for `kiva init`.
-- Every column of the export is listed with a sample value; the fields Kiva takes
-- are filled in with the column whose name (English, French, Spanish or
-- Portuguese) and samples make it clear, through the right kiva.map helper (dates
-- with the format read from the samples, amounts with their decimal mark), and a
-- TODO marks the rest. The skeleton is a starting point to read, not a guess to trust.
local inspect = require "kiva.inspect"
local normalize = require("kiva.mapping").normalize

local M = {}

-- Column names by field, normalized (lower case, no accents, punctuation as spaces);
-- a name matches when it equals one of them or starts with it.
local NAMES = {
  loan_id = { "loan id", "loan no", "loan number", "loan account no", "loan account", "n pret", "no pret",
    "numero pret", "num pret", "id pret", "pret", "n prestamo", "no prestamo", "numero prestamo", "prestamo",
    "id prestamo", "n credito", "credito", "emprestimo", "n emprestimo", "loan_no", "loan" },
  client_id = { "client id", "client no", "client account no", "client number", "customer id", "n client",
    "no client", "numero client", "id client", "n cliente", "no cliente", "numero cliente", "id cliente",
    "codigo cliente", "client_no", "client", "cliente" },
  full_name = { "nom complet", "nombre completo", "full name", "nome completo", "client name", "borrower",
    "nom et prenom", "nom prenom", "nombre y apellido", "nombres y apellidos", "name", "nom", "nombre" },
  first_name = { "first name", "prenom", "nombres", "primer nombre", "primeiro nome", "given name" },
  last_name = { "last name", "surname", "family name", "apellido", "apellidos", "sobrenome", "nom de famille" },
  gender = { "gender", "sex", "sexe", "sexo", "genre", "genero" },
  amount = { "amount", "loan amount", "disbursed amount", "montant", "monto", "montant decaisse",
    "monto desembolsado", "valor", "principal", "capital" },
  paid = { "amount paid", "paid", "total repaid", "repaid", "montant paye", "montant rembourse", "monto pagado",
    "pagado", "valor pago", "payment", "paiement", "pago", "amount", "montant", "monto" },
  disburse_date = { "disbursement date", "disbursed on", "date disbursed", "disburse date", "date decaissement",
    "date de decaissement", "fecha desembolso", "fecha de desembolso", "data desembolso", "data de desembolso" },
  paid_date = { "payment date", "transaction date", "date paid", "paid on", "date paiement", "date de paiement",
    "fecha de pago", "fecha pago", "data pagamento", "data de pagamento", "date" },
  activity = { "activity", "activite", "actividad", "atividade", "sector", "secteur", "business" },
  location = { "location", "city", "town", "village", "localite", "ville", "ciudad", "localidad", "municipio",
    "cidade" },
  group = { "group no", "group id", "group", "n groupe", "groupe", "n grupo", "grupo", "id grupo" },
  group_name = { "group name", "nom du groupe", "nombre del grupo", "nome do grupo" },
  loanuse = { "loan use", "purpose", "objet du pret", "objet", "destino", "uso del prestamo", "finalidade" },
  description = { "description", "story", "histoire", "historia", "descripcion", "descricao" },
  currency = { "currency", "devise", "moneda", "moeda" },
  subject = { "subject", "title", "sujet", "titre", "asunto", "titulo", "assunto" },
  body = { "body", "text", "message", "update", "news", "texte", "contenu", "nouvelles", "texto", "mensaje",
    "noticias", "mensagem" },
}

-- Words only one language uses, to choose the description language.
local LANGUAGE_WORDS = {
  fr = { "pret", "montant", "decaissement", "sexe", "nom", "prenom", "groupe", "localite", "histoire", "paiement" },
  es = { "prestamo", "monto", "desembolso", "sexo", "nombre", "apellido", "grupo", "ciudad", "historia", "pago" },
  pt = { "emprestimo", "valor", "desembolso", "nome", "sobrenome", "cidade", "pagamento" },
}

local function matches(name, wanted)
  for _, w in ipairs(wanted) do
    if name == w or name:sub(1, #w + 1) == w .. " " then return true end
  end
  return false
end

local function is_number(v)
  return v:find("^%-?[%d%s\194\160\226\128\175%.,']+$") ~= nil and v:find("%d") ~= nil
end

-- The kiva.map.date format the samples are written in, or nil if they are not dates.
local function date_format(samples)
  local fmt, first_max, second_max, sep, year_width
  for _, v in ipairs(samples) do
    if v:find("^%d%d%d%d%-%d%d%-%d%d") then
      fmt = fmt or "yyyy-mm-dd"
    else
      local a, s1, b, s2, y = v:match("^(%d%d?)([/%.%-])(%d%d?)([/%.%-])(%d+)")
      if not a or s1 ~= s2 or not (#y == 2 or #y == 4) then return nil end
      first_max = math.max(first_max or 0, tonumber(a))
      second_max = math.max(second_max or 0, tonumber(b))
      sep, year_width = s1, #y
    end
  end
  if not first_max then return fmt end
  local y = year_width == 2 and "yy" or "yyyy"
  -- dd/mm unless a first part above 12 rules it out (and then mm/dd)
  if second_max > 12 and first_max <= 12 then return "mm" .. sep .. "dd" .. sep .. y end
  return "dd" .. sep .. "mm" .. sep .. y
end

-- `, { decimal = "," }` when the samples write a decimal comma, else "".
local function amount_options(samples)
  for _, v in ipairs(samples) do
    if v:find(",%d%d?$") and not v:find("%.%d+$") then return ', { decimal = "," }' end
  end
  return ""
end

local function kind_of(column)
  local s = column.samples
  if #s == 0 then return "empty" end
  if date_format(s) then return "date" end
  local all_numbers = true
  for _, v in ipairs(s) do all_numbers = all_numbers and is_number(v) end
  return all_numbers and "number" or "text"
end

-- Picks a column for each field: by name, of the kind the field needs, each column once.
local function assign(columns, fields)
  local found, used = {}, {}
  for _, f in ipairs(fields) do
    -- the names in their order of preference, each tried on every column
    for _, name in ipairs(NAMES[f.names or f.name]) do
      for _, c in ipairs(columns) do
        if not found[f.name] and not used[c] and matches(c.key, { name })
            and (not f.kind or c.kind == f.kind or c.kind == "empty") then
          found[f.name], used[c] = c, true
        end
      end
    end
  end
  return found
end

local function language_of(columns)
  local best, best_n = "en", 0
  for lang, words in pairs(LANGUAGE_WORDS) do
    local n = 0
    for _, c in ipairs(columns) do
      for _, w in ipairs(words) do
        if (" " .. c.key .. " "):find(" " .. w .. " ", 1, true) then n = n + 1 end
      end
    end
    if n > best_n or (n == best_n and n > 0 and lang < best) then best, best_n = lang, n end
  end
  return best
end

local function lua_string(s) return (string.format("%q", s):gsub("\\\n", "\\n")) end

-- row["Column"] as Lua, or nil and a TODO.
local function ref(var, c) return c and (var .. "[" .. lua_string(c.name) .. "]") or nil end

local function value(var, c, how)
  if not c then return "nil" end
  if how == "trim" then return "map.trim(" .. ref(var, c) .. ")" end
  if how == "gender" then return "map.gender(" .. ref(var, c) .. ")" end
  if how == "amount" then return "map.amount(" .. ref(var, c) .. amount_options(c.samples) .. ")" end
  if how == "date" then
    return "map.date(" .. ref(var, c) .. ", " .. lua_string(date_format(c.samples) or "dd/mm/yyyy") .. ")"
  end
  return ref(var, c)
end

-- One line `key = expr,` with a TODO when no column was found.
local function field_line(indent, key, expr, todo)
  local line = indent .. key .. " = " .. expr .. ","
  if expr == "nil" and todo then line = line .. "  -- TODO: " .. todo end
  return line
end

local function header_lines(d, kind, input)
  local lines = {
    "-- Mapping skeleton for " .. kind .. " from " .. input:match("[^/]*$") .. ", written by `kiva init " .. kind
      .. " --input " .. input .. "`.",
    "-- Check every field, fill in each TODO, then:",
    "--   kiva validate " .. kind .. " --mapping THIS_FILE.lua --input " .. input,
    "-- The export's columns" .. (d.header_row and d.header_row > 1 and (" (header on row " .. d.header_row .. ")")
      or "") .. ", with a sample value:",
  }
  local width = 0
  for _, c in ipairs(d.columns) do width = math.max(width, utf8.len(c.name) or #c.name) end
  for _, c in ipairs(d.columns) do
    local sample = tostring(c.samples[1] or ""):gsub("%s+", " ")
    if (utf8.len(sample) or #sample) > 40 then sample = sample:sub(1, utf8.offset(sample, 40) - 1) .. "..." end
    lines[#lines + 1] = "--   " .. lua_string(c.name) .. string.rep(" ", width - (utf8.len(c.name) or #c.name))
      .. "  " .. sample
  end
  lines[#lines + 1] = 'local map = require "kiva.map"'
  lines[#lines + 1] = ""
  lines[#lines + 1] = "return {"
  local opts = inspect.source_options(d)
  if opts then lines[#lines + 1] = "  source = " .. opts .. "," end
  return lines
end

local function loans(d, lines)
  local f = assign(d.columns, {
    { name = "group_name", kind = "text" }, { name = "group" }, { name = "disburse_date", kind = "date" },
    { name = "loan_id" }, { name = "client_id" }, { name = "first_name", kind = "text" },
    { name = "last_name", kind = "text" }, { name = "full_name", kind = "text" }, { name = "gender", kind = "text" },
    { name = "amount", kind = "number" }, { name = "activity", kind = "text" }, { name = "location", kind = "text" },
    { name = "loanuse", kind = "text" }, { name = "description", kind = "text" }, { name = "currency", kind = "text" },
  })
  local grouped = f.group ~= nil
  local row = grouped and "first" or "row"
  if grouped then
    lines[#lines + 1] = "  group_by = " .. lua_string(f.group.name) .. ",   -- rows sharing it form one group loan"
    lines[#lines + 1] = ""
    lines[#lines + 1] = "  loan_draft = function(rows, ctx)"
    lines[#lines + 1] = "    local first = rows[1]"
  else
    lines[#lines + 1] = ""
    lines[#lines + 1] = "  loan_draft = function(row, ctx)"
  end
  lines[#lines + 1] = "    local draft = {"
  local ind = "      "
  local lang = language_of(d.columns)
  lines[#lines + 1] = field_line(ind, "activity_id", f.activity and ("ctx.activity(" .. ref(row, f.activity) .. ")")
    or "nil", "ctx.activity(name): a name of `kiva config activities` (translate the MIS's sectors)")
  lines[#lines + 1] = ind .. "description_language_id = ctx.language(" .. lua_string(lang) .. "),"
  lines[#lines + 1] = field_line(ind, "location", f.location and ("ctx.location(" .. ref(row, f.location) .. ")")
    or "nil", "ctx.location(name): a name of `kiva config locations`")
  lines[#lines + 1] = field_line(ind, "currency", f.currency and value(row, f.currency, "trim") or "nil",
    'the loans\' ISO currency code, e.g. "XOF"')
  lines[#lines + 1] = field_line(ind, "disburse_time", value(row, f.disburse_date, "date"), "the disbursement date")
  lines[#lines + 1] = ind .. "client_waiver_signed = nil,  -- TODO: true once the borrowers signed Kiva's waiver"
  lines[#lines + 1] = field_line(ind, "loanuse", value(row, f.loanuse, "trim"), "what the loan is for")
  lines[#lines + 1] = field_line(ind, "description", value(row, f.description, "trim"), "the borrower's story")
  lines[#lines + 1] = ind .. "entreps = {},"
  lines[#lines + 1] = "    }"
  local entrep = {}
  local e = "        "
  entrep[#entrep + 1] = field_line(e, "loan_id", value("r", f.loan_id), "the loan number")
  entrep[#entrep + 1] = field_line(e, "client_id", value("r", f.client_id), "the client number")
  if f.first_name or not f.full_name then
    entrep[#entrep + 1] = field_line(e, "first_name", value("r", f.first_name, "trim"), "the first name")
    entrep[#entrep + 1] = field_line(e, "last_name", value("r", f.last_name, "trim"), "the last name")
  else
    entrep[#entrep + 1] = e .. "first_name = first_name, last_name = last_name,"
  end
  entrep[#entrep + 1] = field_line(e, "gender", value("r", f.gender, "gender"), "map.gender(column)")
  entrep[#entrep + 1] = field_line(e, "amount", value("r", f.amount, "amount"), "map.amount(column)")
  local names_line = (f.full_name and not f.first_name)
    and ("      local first_name, last_name = map.split_name(" .. ref("r", f.full_name) .. ")") or nil
  if grouped then
    lines[#lines + 1] = "    for i, r in ipairs(rows) do"
    if names_line then lines[#lines + 1] = names_line end
    lines[#lines + 1] = "      draft.entreps[i] = {"
  else
    lines[#lines + 1] = "    local r = row"
    if names_line then lines[#lines + 1] = names_line:sub(3) end
    lines[#lines + 1] = "    draft.entreps[1] = {"
  end
  for _, l in ipairs(entrep) do lines[#lines + 1] = grouped and l or l:sub(3) end
  lines[#lines + 1] = grouped and "      }" or "    }"
  if grouped then
    lines[#lines + 1] = "    end"
    lines[#lines + 1] = "    if #rows > 1 then   -- a group loan"
    lines[#lines + 1] = "      draft.internal_loan_id, draft.internal_client_id = " .. ref("first", f.group) .. ", "
      .. ref("first", f.group)
    lines[#lines + 1] = "      draft.group_name = " .. value("first", f.group_name, "trim")
      .. (f.group_name and "" or "   -- TODO: the group's name")
    lines[#lines + 1] = "      draft.not_pictured = {}"
    lines[#lines + 1] = "      for i = 1, #rows do draft.not_pictured[i] = false end   -- TODO: who is not in the photo"
    lines[#lines + 1] = "    end"
  end
  local other_sheet = d.sheets and d.sheets[2] and lua_string(d.sheets[2]) or '"Schedule"'
  lines[#lines + 1] = "    -- TODO: draft.schedule = { { date =, principal =, interest = }, ... }: from another"
  lines[#lines + 1] = "    -- sheet or file, e.g. ctx.join(ctx.input, \"Loan\", { sheet = " .. other_sheet
    .. " })(loan number)"
  lines[#lines + 1] = "    return draft"
  lines[#lines + 1] = "  end,"
end

local function repayments(d, lines)
  local f = assign(d.columns, {
    { name = "paid_date", kind = "date" }, { name = "loan_id" }, { name = "client_id" },
    { name = "paid", kind = "number" },
  })
  -- group_by is set when a loan number comes back in the rows read
  local grouped_hint, seen = false, {}
  for _, r in ipairs(d.rows) do
    for i, c in ipairs(d.columns) do
      local v = r.values[i]
      if c == f.loan_id and v ~= "" then
        grouped_hint = grouped_hint or seen[v] ~= nil
        seen[v] = true
      end
    end
  end
  lines[#lines + 1] = (grouped_hint and "  " or "  -- ") .. "group_by = " .. lua_string(f.loan_id and f.loan_id.name
    or "TODO") .. ",   -- a loan paid in several rows: one repayment, amounts summed"
  lines[#lines + 1] = ""
  lines[#lines + 1] = "  repayment = function(rows)"
  lines[#lines + 1] = "    -- without group_by, the function gets one row: use `row` for `rows` and drop the loop"
  lines[#lines + 1] = "    local first = rows[1]"
  lines[#lines + 1] = "    if not map.trim(" .. (ref("first", f.client_id) or ref("first", f.loan_id) or "nil")
    .. ") then return nil end   -- a TOTAL row, a blank line"
  lines[#lines + 1] = "    local amounts = {}"
  lines[#lines + 1] = "    for i, r in ipairs(rows) do amounts[i] = "
    .. (f.paid and value("r", f.paid, "amount") or "nil   -- TODO: the amount paid") .. " end"
  lines[#lines + 1] = "    return {"
  lines[#lines + 1] = field_line("      ", "loan_id", value("first", f.loan_id), "the loan number")
  lines[#lines + 1] = field_line("      ", "client_id", value("first", f.client_id), "the client number")
  lines[#lines + 1] = "      amount = map.sum(amounts),   -- exact; map.sum(amounts, 0) for a currency without cents"
  lines[#lines + 1] = field_line("      ", "date", value("rows[#rows]", f.paid_date, "date"),
    "the payment date (chooses the period; not sent)")
  lines[#lines + 1] = "    }"
  lines[#lines + 1] = "  end,"
end

local function journals(d, lines)
  local f = assign(d.columns, { { name = "loan_id" }, { name = "client_id" }, { name = "subject", kind = "text" },
    { name = "body", kind = "text" } })
  lines[#lines + 1] = ""
  lines[#lines + 1] = "  journal = function(row)"
  lines[#lines + 1] = "    return {"
  lines[#lines + 1] = field_line("      ", "internal_loan_id", value("row", f.loan_id), "the loan number")
  lines[#lines + 1] = field_line("      ", "internal_client_id", value("row", f.client_id), "the client number")
  lines[#lines + 1] = field_line("      ", "subject", value("row", f.subject, "trim"), "the update's title")
  lines[#lines + 1] = field_line("      ", "body", value("row", f.body, "trim"), "the update's text")
  lines[#lines + 1] = "    }"
  lines[#lines + 1] = "  end,"
end

local WRITERS = { loans = loans, repayments = repayments, journals = journals }

--- The text of a mapping skeleton for `kind` over the export `input`.
-- opts: the kiva.source options (delimiter, encoding, sheet, header_row).
-- @return string | nil, err (kind "input")
function M.mapping(kind, input, opts)
  local write = WRITERS[kind]
  if not write then error("kiva.scaffold.mapping: kind must be loans, repayments or journals", 2) end
  local d, err = inspect.describe(input, { delimiter = opts and opts.delimiter, encoding = opts and opts.encoding,
    sheet = opts and opts.sheet, header_row = opts and opts.header_row, rows = 50 })
  if not d then return nil, err end
  for _, c in ipairs(d.columns) do
    -- "N° Prêt" -> "n pret": signs other than letters (°, º, №) count as spaces
    c.key = normalize(c.name):gsub("[\128-\255]+", " "):gsub("%s+", " "):match("^%s*(.-)%s*$")
    c.kind = kind_of(c)
  end
  local lines = header_lines(d, kind, input)
  write(d, lines)
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n", d
end

return M
