# Shared build rules for JavaScript plugins. A plugin's Makefile sets NAME,
# WORLD and WIT, then includes this file; `make` builds ../$(NAME).wasm from
# app.js.
#
# The toolchain (@bytecodealliance/componentize-js, pinned in package.json and
# package-lock.json) is installed on first use with `npm ci` beside this file
# (node_modules, ignored by git).
TOOLCHAIN := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
MODULES := $(TOOLCHAIN)/node_modules/@bytecodealliance/componentize-js/package.json
OUT ?= ../$(NAME).wasm
# Its toolchain installs with npm and runs on node.
HAVE_TOOLCHAIN := $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes)
ifeq ($(HAVE_TOOLCHAIN),)
ifdef SKIP_UNAVAILABLE
# `make build` at the top: the Rust plugins and the demo build without this one.
.PHONY: all try clean
all try:
	@echo "skipping $(NAME): JavaScript plugins need node and npm to build (Debian: apt-get install nodejs npm)"
clean:
	@true
else
$(error $(NAME): JavaScript plugins need node and npm to install their toolchain; install them (Debian: apt-get install nodejs npm))
endif
else

# The plugin's manifest (what it needs), copied beside the component.
MANIFEST := $(if $(wildcard plugin.toml),$(OUT:.wasm=.toml))

.PHONY: all clean
all: $(OUT) $(MANIFEST)

$(MANIFEST): plugin.toml
	cp plugin.toml $@

$(OUT): $(wildcard *.js) $(wildcard $(WIT)/*.wit $(WIT)/deps/*/*.wit) $(MODULES) $(TOOLCHAIN)/build.mjs
	node $(TOOLCHAIN)/build.mjs app.js $(WIT) $(WORLD) $(OUT)

$(MODULES): $(TOOLCHAIN)/package.json $(TOOLCHAIN)/package-lock.json
	cd $(TOOLCHAIN) && npm ci --no-audit --no-fund --loglevel=error
	touch $(MODULES)

clean:
	rm -f $(OUT) $(MANIFEST)

include $(TOOLCHAIN)/../try.mk
endif
