-- Loan drafts from a Colombian MIS's Excel export (prestamos.xlsx): a title above
-- the header, group members sharing "N° Grupo" on rows that are not adjacent, the
-- schedules in the sheet "Cronograma" of the same workbook (ctx.input).
local map = require "kiva.map"

local ACTIVIDADES = { ["Tienda de abarrotes"] = "Grocery Store", Agricultura = "Agriculture" }

return {
  group_by = "N° Grupo",
  loan_draft = function(rows, ctx)
    local first = rows[1]
    local key = map.trim(first["N° Grupo"]) or first["N° Préstamo"]
    local draft = {
      activity_id = ctx.activity(ACTIVIDADES[first.Actividad] or first.Actividad),
      description_language_id = ctx.language("es"),
      location = ctx.location(first.Ciudad),
      currency = "COP",
      disburse_time = map.date(first["Fecha Desembolso"], "dd/mm/aaaa"),
      client_waiver_signed = true,
      loanuse = map.trim(first.Destino),
      description = map.trim(first.Historia),
      entreps = {}, schedule = {},
    }
    for i, row in ipairs(rows) do
      local first_name, last_name = map.split_name(row["Nombre completo"])
      draft.entreps[i] = { loan_id = row["N° Préstamo"], client_id = row["N° Cliente"], first_name = first_name,
        last_name = last_name, gender = map.gender(row.Sexo), amount = map.amount(row["Monto Desembolsado"]) }
    end
    if #rows > 1 then
      draft.group_name, draft.internal_loan_id, draft.internal_client_id = first["Nombre del Grupo"], key, key
      draft.not_pictured = {}
      for i = 1, #rows do draft.not_pictured[i] = false end
    end
    for i, e in ipairs(ctx.join(ctx.input, "N° Préstamo", { sheet = "Cronograma" })(key)) do
      draft.schedule[i] = { date = map.date(e.Fecha, "dd/mm/aaaa"), principal = map.amount(e.Capital),
        interest = map.amount(e["Interés"]) }
    end
    return draft
  end,
}
