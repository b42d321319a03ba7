-- What `make demo` runs for this example (paths relative to this directory).
return {
  loans = { mapping = "loans.lua", input = "prets.csv" },
  repayments = { mapping = "repayments.lua", input = "remboursements.csv", period = "2024-02" },
  journals = { mapping = "journals.lua", input = "journaux.csv" },
}
