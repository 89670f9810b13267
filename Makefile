# notion-oauth-gateway: the two commands a newcomer needs are `make run` and `make test`.
#
#   make run     build everything and start the local demo (gateway + Notion stand-in)
#   make test    build what the tests need and run the whole suite
#   make build   the release binary and every plugin under plugins/ as plugins/<name>.wasm
#                (Rust crates of the plugins/ workspace, and every plugins/<name>/ with a
#                Makefile: the Python and JavaScript plugins, and scaffolds made by
#                `notion-oauth-gateway plugin new`)
#   make bench   drive the redirect path under load and print figures
#   make lint    cargo fmt --check and clippy -D warnings
#   make fuzz-build   build the cargo-fuzz targets under fuzz/ (CI does; installs cargo-fuzz)
#   make fuzz         run each fuzz target for FUZZ_SECONDS (default 60) and print the run counts

CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
# One target folder for every guest workspace, so wit-bindgen builds once.
WASM_TARGET_DIR := $(CURDIR)/target/wasm
BIN := target/release/notion-oauth-gateway

.PHONY: all build run test bench lint setup plugins test-plugins clean test-deps c-toolchain fuzz-setup fuzz-build fuzz

all: build

setup:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Builds each cdylib crate of a guest workspace ($(1)) and copies it to $(1)/<crate>.wasm,
# with its manifest (plugin.toml) as $(1)/<crate>.toml.
define build_components
	cd $(1) && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) build --release --target $(WASM_TARGET) --quiet
	@for dir in $(1)/*/; do \
		crate=$$(basename $$dir); \
		grep -q cdylib $$dir/Cargo.toml 2>/dev/null || continue; \
		cp $(WASM_TARGET_DIR)/$(WASM_TARGET)/release/$$(echo $$crate | tr - _).wasm $(1)/$$crate.wasm; \
		if [ -f $$dir/plugin.toml ]; then cp $$dir/plugin.toml $(1)/$$crate.toml; fi; \
		echo "built $(1)/$$crate.wasm"; \
	done
endef

# Builds every plugins/<dir>/ (or tests/plugins/<dir>/) that has its own Makefile.
define build_makefile_plugins
	@for mk in $(1)/*/Makefile; do \
		[ -f "$$mk" ] || continue; \
		$(MAKE) --no-print-directory -C $$(dirname $$mk) || exit 1; \
	done
endef

plugins: setup
	$(call build_components,plugins)
	$(call build_makefile_plugins,plugins)

test-plugins: setup
	$(call build_components,tests/plugins)
	$(call build_makefile_plugins,tests/plugins)

# A Python or JavaScript plugin whose toolchain cannot be installed here
# (no python3-venv, no node/npm) is skipped with a line saying what to
# install; `make test` needs them all and stops instead.
build: export SKIP_UNAVAILABLE := 1
build: plugins
	$(CARGO) build --release

run: build
	$(BIN) dev

# The browser test drives Debian's Chromium through ChromeDriver, the TLS
# tests run an `openssl s_server`, the several-instances test puts Debian's
# nginx in front of three gateways, and the deployment samples are checked
# with `nginx -t` and `systemd-analyze verify`; as root (CI, containers)
# these Debian packages are installed here, otherwise this says what to
# install.
# The C template's test builds with Debian's clang-19 and wasi-libc; linking
# an empty reactor (as plugins/toolchains/c/plugin.mk checks) proves them all.
C_PACKAGES = clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
TEST_PACKAGES = chromium chromium-driver openssl nginx systemd $(C_PACKAGES)
test-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v openssl >/dev/null && command -v systemd-analyze >/dev/null && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null \
		&& printf 'int x;\n' | clang-19 --target=wasm32-wasi -mexec-model=reactor -x c - -o /dev/null 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); \
		else \
			echo "the tests need Debian's $(TEST_PACKAGES): sudo apt-get install $(TEST_PACKAGES)"; exit 1; \
		fi; }

# The integration tests run against release builds: wasmtime's compiler is
# far slower unoptimised, and `make build` shares the same artifacts.
# The C toolchain's pinned tools (wit-bindgen, wasm-tools, the WASI adapter),
# installed once here for the C template's test, as a first C build would.
c-toolchain: test-deps
	@$(MAKE) --no-print-directory -f plugins/toolchains/c/plugin.mk tools

test: plugins test-plugins test-deps c-toolchain
	$(CARGO) test --release --features failpoints --lib --bins --tests
	cd plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) test -p view-kit -p webhook-consumer --lib

bench: build
	bash bench/run.sh
	bash bench/plugin_start.sh

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets --features failpoints -- -D warnings
	cd plugins && $(CARGO) fmt --check
	cd tests/plugins && $(CARGO) fmt --check
	cd plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) clippy --release --target $(WASM_TARGET) -- -D warnings
	cd tests/plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) clippy --release --target $(WASM_TARGET) -- -D warnings

# cargo-fuzz wants nightly for its instrumentation flags; RUSTC_BOOTSTRAP lets
# the one stable toolchain here accept them. The gateway denies unsafe code
# (the one exception, in the binary, sets two of the allocator's options),
# so the fuzzers look for panics and broken invariants, not memory errors:
# no sanitizer, and one build shared by `fuzz-build` and `fuzz`.
FUZZ_TARGETS := callback_query state_decoder token_response config_loader
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?= --dev --sanitizer none
FUZZ := cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

fuzz-setup:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked --quiet

fuzz-build: fuzz-setup
	$(FUZZ) build $(FUZZ_FLAGS)

fuzz: fuzz-setup
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		($(FUZZ) run $(FUZZ_FLAGS) $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1) \
			| grep -E "stat::number_of_executed_units|Done|ERROR|crash-" | sed "s/^/$$t: /" || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -f plugins/*.wasm tests/plugins/*.wasm
	rm -rf plugins/toolchains/python/.venv plugins/toolchains/js/node_modules plugins/toolchains/c/.venv plugins/toolchains/c/.tools
