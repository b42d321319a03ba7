-- What `make demo` runs for this example: build the database from mis.sql, then read it with SQL.
return {
  prepare = "build_db.lua",
  loans = { mapping = "loans.lua", input = "mis.sqlite3" },
  repayments = { mapping = "repayments.lua", input = "mis.sqlite3", period = "2024-02" },
}
