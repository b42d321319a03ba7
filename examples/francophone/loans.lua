-- Loan drafts from the MIS export of a small Malian MFI (Coopérative Bénkadi).
-- The export is what French Excel writes: Windows-1252, ";" between cells,
-- dd/mm/yyyy dates, decimal commas and spaces between thousands ("150 000,00").
-- Group members share "N° Groupe"; schedules come from echeancier.csv, keyed by
-- the loan number (the group's number for a group loan).
local map = require "kiva.map"

-- The MFI's sectors, in the activity names of Kiva's list (ctx.activity matches
-- without regard to case and accents, but it cannot translate).
local SECTEURS = {
  ["Épicerie"] = "Grocery Store",
  ["Élevage"] = "Livestock",
  ["Couture"] = "Tailoring",
  ["Agriculture"] = "Agriculture",
}

local function borrower(row)
  local first, last = map.split_name(row["Nom complet"])
  return {
    client_id = row["N° Client"],
    loan_id = row["N° Prêt"],
    first_name = first,
    last_name = last,
    gender = map.gender(row.Sexe),
    amount = map.amount(row.Montant),
  }
end

local function schedule(ctx, loan_id)
  local installments = {}
  for _, e in ipairs(ctx.join("echeancier.csv", "N° Prêt")(loan_id)) do
    installments[#installments + 1] = {
      date = map.date(e["Échéance"], "dd/mm/yyyy"),
      principal = map.amount(e.Capital),
      interest = map.amount(e["Intérêts"]),
    }
  end
  return installments
end

return {
  source = { delimiter = ";", encoding = "windows-1252" },
  group_by = "N° Groupe",

  loan_draft = function(rows, ctx)
    local first = rows[1]
    local draft = {
      activity_id = ctx.activity(SECTEURS[first.Secteur] or first.Secteur),
      description_language_id = ctx.language("fr"),
      location = ctx.location(first["Localité"]),
      currency = "XOF",
      disburse_time = map.date(first["Date décaissement"], "dd/mm/yyyy"),
      client_waiver_signed = true,
      loanuse = map.trim(first["Objet du prêt"]),
      description = map.trim(first.Histoire),
      entreps = {},
    }
    for i, row in ipairs(rows) do draft.entreps[i] = borrower(row) end
    local group = map.trim(first["N° Groupe"])
    if group then
      draft.group_name = first["Nom du groupe"]
      draft.internal_loan_id = group
      draft.internal_client_id = group
      draft.not_pictured = {}
      for i = 1, #rows do draft.not_pictured[i] = false end
      draft.schedule = schedule(ctx, group)
    else
      draft.schedule = schedule(ctx, first["N° Prêt"])
    end
    return draft
  end,
}
