-- Deterministic generator of an MIS export for the benchmarks (plain Lua, no C).
--   lua5.4 bench/gen.lua repayments N FILE   N repayment rows
--   lua5.4 bench/gen.lua loans N FILE        rows for N loan drafts (one in ten a group of 3-5)
--   lua5.4 bench/gen.lua export N FILE [C]   N repayment rows, C columns (5..40), as users measure
-- The same arguments give the same bytes on every machine (own LCG, no math.random),
-- so the Lua pipeline and its Python peer read identical input in every run.
-- Files are ";"-separated UTF-8 with French-style amounts ("1 250,50"), as a
-- francophone partner's MIS writes them.

local M = {}

local function lcg(seed)
  local state = seed
  return function(n)                 -- integer in [1, n]
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
end

local FIRST = { "Aïcha", "Mamadou", "Fatou", "José", "María", "Ngozi", "Kofi", "Adjoa", "Thị Hoa",
  "Rosa", "Ibrahim", "Mariam", "Juan", "Luz", "Awa", "Seydou", "Élodie", "Chidi", "Nadia", "Omar" }
local LAST = { "Traoré", "Diallo", "Ouédraogo", "Nguyễn", "Pérez", "Mensah", "Okafor", "Koné",
  "Sawadogo", "Quispe", "Mamani", "Bah", "Camara", "Ndiaye", "Asante", "Gómez" }
local GENDER = { "F", "M", "Femme", "Homme", "f", "m", "Mujer", "Hombre" }
local ACTIVITY = { "Agriculture", "Food Market", "Retail", "Tailoring", "Livestock", "Fish Selling",
  "Grocery Store", "Services", "Poultry", "Cereals" }
local THEME = { "", "", "Women", "Rural Exclusion", "Start-Up", "" }
local LOCATION = { "Ouagadougou", "Bobo-Dioulasso", "Koudougou", "Léo", "Fada N'gourma",
  "Dédougou", "Banfora", "Ouahigouya" }
local USE = { "to buy grain to resell at the market", "to buy fabric and thread",
  "to buy feed and vaccines for her chickens", "to restock her shop with soap, oil and rice",
  "to buy a second-hand sewing machine", "to rent land and buy seeds before the rains" }
local STORY = "%s a %d ans et vit à %s avec ses enfants. Elle travaille depuis %d ans dans le "
  .. "secteur « %s ». Avec ce prêt, elle souhaite agrandir son activité, payer la scolarité "
  .. "des enfants et épargner pour la saison sèche. Ses voisins la décrivent comme une "
  .. "commerçante sérieuse et généreuse, qui a déjà remboursé deux prêts sans retard."

--- "1 250,50": French grouping (a space, sometimes a no-break space) and a decimal comma.
local function french_amount(cents, nbsp)
  local units, frac = cents // 100, cents % 100
  local s = tostring(units)
  if units >= 1000 then
    s = s:sub(1, #s - 3) .. (nbsp and "\u{A0}" or " ") .. s:sub(-3)
  end
  return string.format("%s,%02d", s, frac)
end

local function date_fr(y, m, d) return string.format("%02d/%02d/%04d", d, m, y) end

--- Writes `n` repayment rows to `path`; loan i repays L00000i..L050000 in turn.
function M.repayments(n, path)
  local rand = lcg(20261129)
  local f = assert(io.open(path, "wb"))
  f:write("LoanNo;ClientNo;PaidDate;Paid;Officer\n")
  local buf, nbuf = {}, 0
  for i = 1, n do
    local loan = (i - 1) % 50000 + 1
    local cents = rand(150000) + 500
    nbuf = nbuf + 1
    buf[nbuf] = string.format("L%06d;C%06d;%s;%s;%s\n", loan, loan,
      date_fr(2026, 10, rand(28)), french_amount(cents, rand(4) == 1), LAST[rand(#LAST)])
    if nbuf == 4096 then f:write(table.concat(buf)); buf, nbuf = {}, 0 end
  end
  f:write(table.concat(buf, "", 1, nbuf))
  f:close()
end

-- The extra columns of a wide export (what an MIS adds around the few a mapping
-- reads): branch, officer, product, balances, dates, phone, address, ...
local WIDE = { "Branch", "Officer", "Product", "Cycle", "Disbursed", "Maturity", "Principal",
  "Interest", "Fees", "Penalty", "Balance", "Arrears", "DaysLate", "Phone", "Village", "District",
  "Sector", "Purpose", "Fund", "Collateral", "Guarantor", "Savings", "Insurance", "Channel",
  "Receipt", "Teller", "Batch", "Currency", "Rate", "Term", "Frequency", "Status", "Group",
  "Gender", "Notes" }

--- Writes `n` rows of the export users are measured on: comma-separated, plain
-- amounts, one row per loan (ids L-0000001...), `columns` = 5
-- (LoanNo,ClientNo,ClientName,PaidOn,AmountPaid) or up to 40 (WIDE columns after).
function M.export(n, path, columns)
  columns = columns or 5
  assert(columns >= 5 and columns <= 5 + #WIDE, "export: 5 to 40 columns")
  local rand = lcg(20261205)
  local f = assert(io.open(path, "wb"))
  local head = { "LoanNo", "ClientNo", "ClientName", "PaidOn", "AmountPaid" }
  for c = 1, columns - 5 do head[#head + 1] = WIDE[c] end
  f:write(table.concat(head, ","), "\n")
  local buf, nbuf, cells = {}, 0, {}
  for i = 1, n do
    local cents = rand(150000) + 500
    cells[1] = string.format("L-%07d", i)
    cells[2] = string.format("C-%07d", i)
    cells[3] = FIRST[rand(#FIRST)] .. " " .. LAST[rand(#LAST)]
    cells[4] = string.format("2026-10-%02d", rand(28))
    cells[5] = string.format("%d.%02d", cents // 100, cents % 100)
    for c = 6, columns do
      local k = rand(4)
      if k == 1 then cells[c] = string.format("%d.%02d", rand(900000), rand(100) - 1)
      elseif k == 2 then cells[c] = LOCATION[rand(#LOCATION)]
      elseif k == 3 then cells[c] = string.format("2026-%02d-%02d", rand(12), rand(28))
      else cells[c] = ACTIVITY[rand(#ACTIVITY)] end
    end
    nbuf = nbuf + 1
    buf[nbuf] = table.concat(cells, ",", 1, columns) .. "\n"
    if nbuf == 4096 then f:write(table.concat(buf)); buf, nbuf = {}, 0 end
  end
  f:write(table.concat(buf, "", 1, nbuf))
  f:close()
end

--- Writes the rows of `n` loan drafts to `path`: one row per borrower; every tenth
-- draft is a group of 3 to 5 borrowers sharing GroupNo (adjacent, as MIS exports list them).
-- Returns the number of rows written.
function M.loans(n, path)
  local rand = lcg(19700101)
  local f = assert(io.open(path, "wb"))
  f:write("LoanNo;ClientNo;GroupNo;GroupName;FirstName;LastName;Gender;Amount;Currency;"
    .. "Disbursed;Installments;Rate;Activity;Theme;Location;Language;Use;Story;Waiver\n")
  local rows = 0
  for i = 1, n do
    local group = (i % 10 == 0)
    local members = group and (2 + rand(3)) or 1
    local activity = ACTIVITY[rand(#ACTIVITY)]
    local location = LOCATION[rand(#LOCATION)]
    local theme = THEME[rand(#THEME)]
    local use = USE[rand(#USE)]
    local disbursed = date_fr(2026, rand(12), rand(28))
    local rate = string.format("%d,%d", 1 + rand(3), rand(10) - 1)
    local group_no = group and string.format("G%05d", i) or ""
    local group_name = group and ("Groupement " .. LAST[rand(#LAST)] .. " " .. i) or ""
    for m = 1, members do
      local first, last = FIRST[rand(#FIRST)], LAST[rand(#LAST)]
      local cents = (rand(20) + 4) * 25000 + (group and 0 or rand(99))
      local story = STORY:format(first, 18 + rand(50), location, rand(20), activity)
      f:write(table.concat({
        string.format("L%06d%s", i, group and string.format("-%d", m) or ""),
        string.format("C%06d%s", i, group and string.format("-%d", m) or ""),
        group_no, group_name, first, last, GENDER[rand(#GENDER)],
        french_amount(cents, rand(5) == 1), "PHP", disbursed, "12", rate,
        activity, theme, location, "French", use, story, (rand(10) > 1) and "oui" or "non",
      }, ";") .. "\n")
      rows = rows + 1
    end
  end
  f:close()
  return rows
end

if arg and arg[0] and arg[0]:match("gen%.lua$") and select("#", ...) > 0 then
  local what, n, path, columns = ...
  local rows = assert(M[what], "gen.lua repayments|loans|export N FILE [COLUMNS]")(assert(tonumber(n)), path,
    tonumber(columns))
  io.write(string.format("%s %d %s\n", what, rows or n, path))
end

return M
