-- Borrower updates (journals) written by loan officers in the MIS.
return {
  source = { delimiter = ";", encoding = "windows-1252" },

  journal = function(row)
    return {
      internal_loan_id = row["N° Prêt"],
      internal_client_id = row["N° Client"],
      subject = row.Titre,
      body = row.Nouvelles,
    }
  end,
}
