# kiva: Lua 5.4 module with a C core, and the `kiva` command.
#
#   make            build build/kiva/core.so (what ./kiva and the tests load)
#   make deps       install the Debian packages the project needs (apt-get as root)
#   make test       luacheck, C unit tests and busted specs; ends with "N passed, N failed"
#   make check      the whole suite under ASan+UBSan, valgrind memcheck, then the fault soak,
#                   crash-and-resume and token-expiry runs (tests/soak.lua, ~10 min)
#   make demo       a sandbox on a free port, the examples pushed to it, what it answered
#   make bench      throughput and memory figures, as ratios against peers (bench/README)
#   make fuzz       libFuzzer targets (FUZZ_SECONDS each, corpora in tests/fuzz/)
#
# Knobs: CC, LUA (interpreter), LUA_CFLAGS/CURL_LIBS/... from pkg-config, SAN=1 for sanitizers.

LUA        ?= lua5.4
BUSTED     ?= /usr/bin/busted
LUACHECK   ?= luacheck
CC         ?= gcc
PKG        ?= pkg-config
FUZZ_SECONDS ?= 600

LUA_CFLAGS  ?= $(shell $(PKG) --cflags lua5.4)
CURL_CFLAGS ?= $(shell $(PKG) --cflags libcurl)
CURL_LIBS   ?= $(shell $(PKG) --libs libcurl)
SSL_LIBS    ?= $(shell $(PKG) --libs libcrypto)
ZIP_CFLAGS  ?= $(shell $(PKG) --cflags libzip)
ZIP_LIBS    ?= $(shell $(PKG) --libs libzip)

# The one version of the project: lua/kiva/init.lua's _VERSION, compiled in as core.version.
KIVA_VERSION := $(shell sed -n 's/^ *_VERSION = "\([^"]*\)".*/\1/p' lua/kiva/init.lua)

WARN    = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c99 -D_DEFAULT_SOURCE -DKIVA_VERSION='"$(KIVA_VERSION)"' -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
             $(LUA_CFLAGS) $(CURL_CFLAGS) $(ZIP_CFLAGS)
LIBS    = $(CURL_LIBS) $(SSL_LIBS) $(ZIP_LIBS)

SRCS    = $(sort $(wildcard src/*.c))
HDRS    = $(wildcard src/*.h)

# Sanitizer build lives apart so a plain `make` never loads an instrumented core.
ifeq ($(SAN),1)
BUILD   = build/san
ALL_CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   = -fsanitize=address,undefined
else
BUILD   = build
endif

OBJS    = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
CORE    = $(BUILD)/kiva/core.so

# Debian packages: runtime + build + tests (nginx-light: the HTTP/2 test of core_http_spec;
# zip: hostile workbooks built by source_spec; luarocks, unzip: the rock's lint/make/pack
# test; jq: --json output checked as a user would; tmux: the progress line in a real
# terminal; lua-luaossl: the sandbox's throwaway TLS certificates, made without the openssl
# command). Bench and fuzz extras are separate lists.
DEB_PKGS = lua5.4 liblua5.4-dev lua-cjson lua-busted lua-check lua-argparse lua-socket \
           lua-sec lua-luaossl lua-sql-sqlite3 lua-dbi-sqlite3 lua-expat libcurl4-openssl-dev libssl-dev libzip-dev \
           libsqlite3-dev openssl curl pkg-config gcc make valgrind zip nginx-light \
           luarocks unzip jq tmux
BENCH_PKGS = wrk python3 python3-jsonschema python3-requests time
FUZZ_PKGS  = clang libclang-rt-14-dev

.PHONY: all deps bench-deps fuzz-deps test check lint ctest demo bench fuzz clean

all: $(CORE)

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# core.version comes from init.lua: a new version rebuilds core.o.
$(BUILD)/obj/core.o: lua/kiva/init.lua

$(BUILD)/obj $(BUILD)/kiva:
	mkdir -p $@

$(CORE): $(OBJS) | $(BUILD)/kiva
	$(CC) -shared $(LDSAN) -o $@ $(OBJS) $(LIBS)

deps:
	@sh tools/deps.sh $(DEB_PKGS)

bench-deps:
	@sh tools/deps.sh $(DEB_PKGS) $(BENCH_PKGS)

fuzz-deps:
	@sh tools/deps.sh $(DEB_PKGS) $(FUZZ_PKGS)

# C unit tests: each tests/c/test_*.c links against the core's objects and the Lua library.
CTESTS = $(patsubst tests/c/%.c,$(BUILD)/ctest/%,$(wildcard tests/c/test_*.c))

$(BUILD)/ctest/%: tests/c/%.c $(OBJS) tests/c/ctest.h
	@mkdir -p $(BUILD)/ctest
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(OBJS) $(LDSAN) $(LIBS) $(shell $(PKG) --libs lua5.4) -lm

ctest: $(CTESTS)

lint:
	$(LUACHECK) -q lua tests examples bench kiva

test: deps all ctest
	@sh tests/run.sh "$(BUILD)" "$(LUA)" "$(BUSTED)" "$(LUACHECK)"

check: deps
	$(MAKE) SAN=1 all ctest
	@KIVA_SAN=1 sh tests/run.sh build/san "$(LUA)" "$(BUSTED)" "$(LUACHECK)"
	@sh tests/valgrind.sh build
	@$(LUA) tests/soak.lua

demo: deps all
	@$(LUA) examples/demo.lua

bench: bench-deps all
	@$(LUA) bench/run.lua

fuzz: fuzz-deps
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build
