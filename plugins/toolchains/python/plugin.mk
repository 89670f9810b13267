# Shared build rules for Python plugins. A plugin's Makefile sets NAME, WORLD
# and WIT, then includes this file; `make` builds ../$(NAME).wasm.
#
# The toolchain (componentize-py, pinned in requirements.txt) is installed on
# first use into a virtualenv beside this file (.venv, ignored by git).
TOOLCHAIN := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(TOOLCHAIN)/.venv
COMPONENTIZE := $(VENV)/bin/componentize-py
PYTHON ?= python3
OUT ?= ../$(NAME).wasm
# Its toolchain installs with Python's venv and ensurepip (Debian's python3-venv).
HAVE_TOOLCHAIN := $(shell $(or $(PYTHON),python3) -c "import venv, ensurepip" 2>/dev/null && echo yes)
ifeq ($(HAVE_TOOLCHAIN),)
ifdef SKIP_UNAVAILABLE
# `make build` at the top: the Rust plugins and the demo build without this one.
.PHONY: all try clean
all try:
	@echo "skipping $(NAME): Python plugins need python3 with venv to build (Debian: apt-get install python3-venv)"
clean:
	@true
else
$(error $(NAME): Python plugins need python3 with the venv module to install their toolchain; install it (Debian: apt-get install python3-venv))
endif
else

# The plugin's manifest (what it needs), copied beside the component.
MANIFEST := $(if $(wildcard plugin.toml),$(OUT:.wasm=.toml))

.PHONY: all bindings clean
all: $(OUT) $(MANIFEST)

$(MANIFEST): plugin.toml
	cp plugin.toml $@

$(OUT): $(wildcard *.py) $(wildcard $(WIT)/*.wit $(WIT)/deps/*/*.wit) $(COMPONENTIZE)
	$(COMPONENTIZE) -d $(WIT) -w $(WORLD) componentize app -o $(OUT).tmp
	mv $(OUT).tmp $(OUT)
	@echo "built $(OUT)"

# Writes the typed bindings (wit_world/) beside app.py, for an editor's completion.
bindings: $(COMPONENTIZE)
	$(COMPONENTIZE) -d $(WIT) -w $(WORLD) bindings .

$(COMPONENTIZE): $(TOOLCHAIN)/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLCHAIN)/requirements.txt
	touch $(COMPONENTIZE)

clean:
	rm -f $(OUT) $(MANIFEST)

include $(TOOLCHAIN)/../try.mk
endif
