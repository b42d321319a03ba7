-- a mapping file that returns no table
return 42
