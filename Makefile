# quarry - one plain Makefile. `make deps`, `make`, `make run`, `make test`.
#   make test SANITIZE=1     ASan + UBSan build of everything the tests run
#   make fuzz                builds the libFuzzer harnesses (clang)

CC       ?= cc
SANITIZE ?=
BUILD    ?= build
PKGS     := libh2o-evloop sqlite3 libssl libcrypto libxml-2.0 jansson zlib libisal libarchive \
            libseccomp libcurl libgcrypt

DEB_BUILD := build-essential pkg-config libh2o-evloop-dev libsqlite3-dev libssl-dev \
             libxml2-dev libjansson-dev zlib1g-dev libisal-dev libcmocka-dev libarchive-dev \
             libseccomp-dev libnss-myhostname bubblewrap passt libcurl4-openssl-dev \
             libgcrypt20-dev
# awscli: Debian's aws CLI v2 at /usr/bin/aws, for `aws logs tail` (CLI v1 has none)
DEB_TEST  := clang libclang-rt-14-dev curl wrk nginx-light python3 zip \
             autoconf automake libtool awscli
# node and npm: Debian's packages unless the machine already has them (another build of
# node may own /usr/bin/node, and Debian's npm would conflict with it).
DEB_NODE  := $(if $(shell command -v node),,nodejs) $(if $(shell command -v npm),,npm)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wvla -Wimplicit-fallthrough -Wundef -Wcast-qual -Wno-unused-parameter
# h2o's headers are not -Wcast-qual/-Wshadow clean; they come in as system headers.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_BASE := -std=gnu11 -g -Isrc $(WARN) $(PKG_CFLAGS) -DH2O_USE_LIBUV=0 -D_GNU_SOURCE -pthread
ifeq ($(SANITIZE),1)
  BUILD   := build-san
  CFLAGS  := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
  LDFLAGS := -fsanitize=address,undefined
else
  CFLAGS  := $(CFLAGS_BASE) -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -DNDEBUG
  LDFLAGS :=
endif
LIBS := $(PKG_LIBS) -lpthread

CORE_SRC := $(sort $(wildcard src/util/*.c src/auth/*.c src/store/*.c src/fn/*.c src/logs/*.c \
                              src/batch/*.c src/obj/*.c))
API_SRC  := $(sort $(wildcard src/http/*.c src/api/*.c src/api/*/*.c src/server.c src/cli/*.c))
ALL_SRC  := $(CORE_SRC) $(API_SRC)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
API_OBJ  := $(API_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps runtimes run demo test unit integration fuzz fuzz-run clean format format-check

all: $(BUILD)/quarry

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libqcore.a: $(CORE_OBJ)
	ar rcs $@ $^

$(BUILD)/quarry: $(BUILD)/obj/src/main.o $(API_OBJ) $(BUILD)/libqcore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests link the core only: a core module that reached up into http/ or api/
# would fail to link here.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libqcore.a $(LDFLAGS) $(LIBS) -lcmocka

deps:
	@missing=$$(for p in $(DEB_BUILD); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing build deps:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@scripts/enable-localhost-names.sh

test-deps: deps
	@missing=$$(for p in $(DEB_TEST) $(DEB_NODE); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing test deps:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@cd tests && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
	@$(MAKE) --no-print-directory runtimes
	@# AWS's Node runtime interface client, for the fidelity test: its native part builds
	@# from the sources in the package (a few minutes, once per checkout).
	@cd runtimes/node/ric-test && [ -f node_modules/aws-lambda-ric/dist/rapid-client.node ] || \
	  { npm ci --no-audit --no-fund --loglevel=error --foreground-scripts && \
	    { [ -f node_modules/aws-lambda-ric/dist/rapid-client.node ] || \
	      npm rebuild aws-lambda-ric --foreground-scripts --loglevel=error; }; } > /dev/null

# What the function runtimes need beside the sources: the SDK that quarry's Node runtime
# offers to unbundled handlers (npm), and the Python runtime's bytecode (the sandbox
# mounts runtimes/ read-only, so Python could not cache it itself).
runtimes:
	@if command -v npm >/dev/null; then \
	  cd runtimes/node && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }; \
	else echo "npm not found: nodejs functions will not find the AWS SDK"; fi
	@python3 -m compileall -q runtimes/python >/dev/null || echo "python3 not found"

run: deps
	$(MAKE) all
	@$(MAKE) --no-print-directory runtimes
	@mkdir -p data
	@scripts/run-banner.sh
	exec $(BUILD)/quarry serve --address 127.0.0.1 --port 9000 --data ./data

# The Batch Operations walkthrough with the aws CLI against a fresh quarry (scripts/demo.sh).
demo: deps
	$(MAKE) all
	@$(MAKE) --no-print-directory runtimes
	BUILD=$(BUILD) scripts/demo.sh

test: test-deps
	$(MAKE) all unit-bins
	BUILD=$(BUILD) tests/run-all.sh

unit-bins: $(UNIT_BIN)

unit: unit-bins
	BUILD=$(BUILD) tests/run-all.sh unit

fuzz:
	$(MAKE) -C tests/fuzz

clean:
	rm -rf build build-san

format:
	clang-format -i $(ALL_SRC) src/main.c $(wildcard src/*/*.h src/*.h src/api/*/*.h)

format-check:
	clang-format --dry-run -Werror $(ALL_SRC) src/main.c $(wildcard src/*/*.h src/*.h src/api/*/*.h)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
