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

CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
# One target folder for every guest workspace, so wit-bindgen builds once.
WASM_TARGET_DIR := $(CURDIR)/target/wasm
BIN := target/release/notion-oauth-gateway

.PHONY: all build run test bench lint setup plugins test-plugins clean

all: build

setup:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Builds each cdylib crate of a guest workspace ($(1)) and copies it to $(1)/<crate>.wasm.
define build_components
	cd $(1) && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) build --release --target $(WASM_TARGET) --quiet
	@for dir in $(1)/*/; do \
		crate=$$(basename $$dir); \
		grep -q cdylib $$dir/Cargo.toml 2>/dev/null || continue; \
		cp $(WASM_TARGET_DIR)/$(WASM_TARGET)/release/$$(echo $$crate | tr - _).wasm $(1)/$$crate.wasm; \
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

build: plugins
	$(CARGO) build --release

run: build
	$(BIN) dev

# The integration tests run against release builds: wasmtime's compiler is
# far slower unoptimised, and `make build` shares the same artifacts.
test: plugins test-plugins
	$(CARGO) test --release --lib --bins --tests
	cd plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) test -p view-kit -p webhook-consumer --lib

bench: build
	bash bench/run.sh
	bash bench/plugin_start.sh

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	cd plugins && $(CARGO) fmt --check
	cd tests/plugins && $(CARGO) fmt --check
	cd plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) clippy --release --target $(WASM_TARGET) -- -D warnings
	cd tests/plugins && CARGO_TARGET_DIR=$(WASM_TARGET_DIR) $(CARGO) clippy --release --target $(WASM_TARGET) -- -D warnings

clean:
	$(CARGO) clean
	rm -f plugins/*.wasm tests/plugins/*.wasm
	rm -rf plugins/toolchains/python/.venv plugins/toolchains/js/node_modules
