# Shared build rules for C plugins. A plugin's Makefile sets NAME, WORLD and
# WIT, then includes this file; `make` builds ../$(NAME).wasm from the *.c
# files in its folder:
#
#   1. `wit-bindgen c` writes the bindings of WORLD into bindings/;
#   2. clang-19 compiles them and the plugin against wasi-libc into a core
#      module (build/core.wasm), a reactor: no main, exports called one by one;
#   3. `wasm-tools component new` wraps it into a component, with the WASI
#      preview-1 reactor adapter of the wasmtime this gateway runs.
#
# The compiler and libc come from Debian's packages. The rest installs itself
# on first use beside this file, pinned: wit-bindgen-cli with cargo into
# .tools/, wasm-tools from PyPI into a virtualenv (.venv/), and the adapter
# from its crates.io crate, checked against its SHA-256 (.tools/).
TOOLCHAIN := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(TOOLCHAIN)/.tools
VENV := $(TOOLCHAIN)/.venv
CLANG ?= clang-19
PYTHON ?= python3
CARGO ?= cargo
CFLAGS ?= -O2 -Wall -Wextra
# wasi-libc carries DWARF, two thirds of the component; the function names stay.
LDFLAGS ?= -Wl,--strip-debug
OUT ?= ../$(NAME).wasm

WIT_BINDGEN_VERSION := 0.46.0
WIT_BINDGEN := $(TOOLS)/bin/wit-bindgen
WASM_TOOLS := $(VENV)/bin/wasm-tools
# The adapter must match the gateway's wasmtime (Cargo.lock: wasmtime 48.0.8).
ADAPTER_VERSION := 48.0.8
ADAPTER_SHA256 := d3a1674fffec103c1d4367d4417a3bd5423cde3cfd56ff3b326b5fc72c0a8ebd
ADAPTER_CRATE := wasi-preview1-component-adapter-provider-$(ADAPTER_VERSION)
ADAPTER_URL := https://static.crates.io/crates/wasi-preview1-component-adapter-provider/$(ADAPTER_CRATE).crate
ADAPTER := $(TOOLS)/wasi_snapshot_preview1.reactor-$(ADAPTER_VERSION).wasm

C_PACKAGES := clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
# What is missing, as a sentence; empty when everything is here. Linking an
# empty reactor proves clang, wasm-ld, wasi-libc and the builtins at once.
MISSING := $(strip \
  $(if $(shell printf 'int x;\n' | $(CLANG) --target=wasm32-wasi -mexec-model=reactor -x c - -o /dev/null 2>/dev/null && echo yes),,\
    $(CLANG) with wasm-ld, wasi-libc and its wasm32 builtins (Debian: apt-get install $(C_PACKAGES));) \
  $(if $(shell $(PYTHON) -c "import venv, ensurepip" 2>/dev/null && echo yes),,\
    python3 with venv, for wasm-tools (Debian: apt-get install python3-venv);) \
  $(if $(shell command -v $(CARGO) >/dev/null 2>&1 && echo yes),,\
    cargo, for wit-bindgen (https://rustup.rs);) \
  $(if $(shell command -v curl >/dev/null 2>&1 && echo yes),,\
    curl, for the WASI adapter (Debian: apt-get install curl);))

ifneq ($(MISSING),)
ifdef SKIP_UNAVAILABLE
# `make build` at the top: the Rust plugins and the demo build without this one.
.PHONY: all try tools clean
all try tools:
	@echo "skipping $(NAME): C plugins need $(MISSING)"
clean:
	@true
else
$(error $(or $(NAME),the C toolchain): C plugins need $(MISSING))
endif
else

# The world's name as the bindings spell it: notion:oauth/view-plugin -> view_plugin.
C_WORLD := $(subst -,_,$(lastword $(subst /, ,$(WORLD))))
BINDINGS := bindings/$(C_WORLD).c bindings/$(C_WORLD).h bindings/$(C_WORLD)_component_type.o
CORE := build/core.wasm

# The plugin's manifest (what it needs), copied beside the component.
MANIFEST := $(if $(wildcard plugin.toml),$(OUT:.wasm=.toml))

.PHONY: all bindings tools clean
all: $(OUT) $(MANIFEST)

$(MANIFEST): plugin.toml
	cp plugin.toml $@

# The bindings: the header your code includes, the glue, and the component type.
bindings: $(BINDINGS)
$(BINDINGS) &: $(wildcard $(WIT)/*.wit $(WIT)/deps/*/*.wit) $(WIT_BINDGEN)
	$(WIT_BINDGEN) c $(WIT) --world $(WORLD) --out-dir bindings
	@touch $(BINDINGS)

$(CORE): $(wildcard *.c *.h) $(BINDINGS)
	@mkdir -p build
	$(CLANG) --target=wasm32-wasi -mexec-model=reactor $(CFLAGS) $(LDFLAGS) -Ibindings \
		$(wildcard *.c) bindings/$(C_WORLD).c bindings/$(C_WORLD)_component_type.o -o $@

$(OUT): $(CORE) $(WASM_TOOLS) $(ADAPTER)
	$(WASM_TOOLS) component new $(CORE) --adapt wasi_snapshot_preview1=$(ADAPTER) -o $(OUT).tmp
	mv $(OUT).tmp $(OUT)
	@echo "built $(OUT)"

# Installs the three pinned tools without building a plugin.
tools: $(WIT_BINDGEN) $(WASM_TOOLS) $(ADAPTER)

$(WIT_BINDGEN):
	@echo "installing wit-bindgen-cli $(WIT_BINDGEN_VERSION) (C bindings only) into $(TOOLS); cargo builds it once, in about 3 minutes"
	$(CARGO) install --locked --quiet --no-default-features --features c --root $(TOOLS) wit-bindgen-cli@$(WIT_BINDGEN_VERSION)

$(WASM_TOOLS): $(TOOLCHAIN)/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLCHAIN)/requirements.txt
	touch $(WASM_TOOLS)

$(ADAPTER):
	@mkdir -p $(TOOLS)
	curl -fsSL --retry 3 -o $(TOOLS)/$(ADAPTER_CRATE).crate $(ADAPTER_URL)
	echo "$(ADAPTER_SHA256)  $(TOOLS)/$(ADAPTER_CRATE).crate" | sha256sum -c --quiet -
	tar -xzOf $(TOOLS)/$(ADAPTER_CRATE).crate $(ADAPTER_CRATE)/artefacts/wasi_snapshot_preview1.reactor.wasm > $@.tmp
	mv $@.tmp $@
	rm -f $(TOOLS)/$(ADAPTER_CRATE).crate

clean:
	rm -rf $(OUT) $(MANIFEST) bindings build

include $(TOOLCHAIN)/../try.mk
endif
