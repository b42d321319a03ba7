-- a syntax error: the mapping cannot even load
return {
  loan_draft = function(row)
    return { 
  end,
}
