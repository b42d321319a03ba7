-- What `make demo` runs for this example: build the two workbooks, then push them.
return {
  prepare = "build_xlsx.lua",
  loans = { mapping = "loans.lua", input = "prestamos.xlsx" },
  repayments = { mapping = "repayments.lua", input = "pagos.xlsx", period = "2026-10" },
}
