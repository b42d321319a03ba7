std = "lua54"
max_line_length = 120
files["tests"] = { std = "+busted" }
files["kiva"] = { globals = { "arg" } }
exclude_files = { "build/", "tests/data/", "tests/fuzz/" }
