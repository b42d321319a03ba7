-- What `make demo` runs for this example (paths relative to this directory).
return {
  loans = { mapping = "loans.lua", input = "loans.csv" },
  repayments = { mapping = "repayments.lua", input = "repayments.csv", period = "2024-02" },
}
