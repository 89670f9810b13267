# `make try`: builds the plugin, then runs `notion-oauth-gateway plugin try`
# on it: each export against sample inputs (try.json beside the Makefile,
# when there is one, replaces parts of them; docs/plugins.md shows its
# shape), the view's pages written to try-data/$(NAME)/, exit 1 when a call
# fails as the gateway would fail it. A plugin's Makefile includes this
# after setting NAME and OUT.
TRY_TOOLCHAINS := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# The gateway built in this repository, else the one on PATH.
GATEWAY ?= $(firstword $(wildcard $(TRY_TOOLCHAINS)/../../target/release/notion-oauth-gateway) notion-oauth-gateway)

.PHONY: try
try: all
	$(GATEWAY) plugin try $(NAME) --dir $(patsubst %/,%,$(dir $(OUT))) --data-dir try-data $(if $(wildcard try.json),--inputs try.json)
