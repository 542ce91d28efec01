# libbgfetch: build, demo, install.
#
#   make                          cargo build --release, and target/dist/bgfetch.pc
#   make demo                     the podcast demo against a local server (scripts/demo.sh)
#   make examples                 the C examples in examples-c/build/
#   make install PREFIX=/usr/local [DESTDIR=/staging] [LIBDIR=...] [INCLUDEDIR=...]
#                                 lib/libbgfetch.so.$(VERSION) (soname libbgfetch.so.$(SOMAJOR))
#                                 + the libbgfetch.so.$(SOMAJOR) and libbgfetch.so symlinks,
#                                 lib/libbgfetch.a, include/bgfetch.h, lib/pkgconfig/bgfetch.pc
#   make install-strip ...        the same, with the debug info stripped from the libraries
#   make uninstall PREFIX=...     removes what install installed
#   make check-install            installs into a temporary prefix and proves that pkg-config,
#                                 dynamic and static linking (C11, and C++17 if c++ exists) work
#   make clean                    removes target/dist, target/demo and examples-c/build
#
# The installed libraries are built by `cargo rustc` in their own target directory
# ($(DIST_TARGET_DIR), so they never fight other builds over target/release) with the soname
# passed to the linker: Cargo.toml and build.rs stay untouched, and no patchelf is needed.

CARGO   ?= cargo
CC      ?= cc
READELF ?= readelf
STRIP   ?= strip
INSTALL ?= install

PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# The version from Cargo.toml's [package] section; the soname carries its major number.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
SOMAJOR ?= $(firstword $(subst ., ,$(VERSION)))
SONAME   = libbgfetch.so.$(SOMAJOR)

DIST_TARGET_DIR ?= target/dist
DIST_LIBS = $(DIST_TARGET_DIR)/release
PC_FILE   = $(DIST_TARGET_DIR)/bgfetch.pc

# In the .pc file, paths under $(PREFIX) are written relative to ${prefix}.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: all release dist-lib pc examples demo install install-strip uninstall check-install clean FORCE

all: release pc

release:
	$(CARGO) build --release

# The libraries to install: cdylib with its soname, and the staticlib.
dist-lib:
	CARGO_TARGET_DIR=$(DIST_TARGET_DIR) $(CARGO) rustc --release --lib -- \
	    -C link-arg=-Wl,-soname,$(SONAME)
	@if command -v $(READELF) >/dev/null 2>&1; then \
	    $(READELF) -d $(DIST_LIBS)/libbgfetch.so | grep -q 'SONAME.*\[$(SONAME)\]' || { \
	        echo "error: $(DIST_LIBS)/libbgfetch.so has no soname $(SONAME):" >&2; \
	        $(READELF) -d $(DIST_LIBS)/libbgfetch.so | grep SONAME >&2; exit 1; }; \
	else \
	    echo "warning: $(READELF) not found: cannot verify the soname $(SONAME)" >&2; \
	fi

pc: $(PC_FILE)

# Regenerated every time: PREFIX, LIBDIR or INCLUDEDIR may differ from the last run.
$(PC_FILE): scripts/bgfetch.pc.in FORCE
	@test -n "$(VERSION)" || { echo "error: no version found in Cargo.toml" >&2; exit 1; }
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(call pc_rel,$(LIBDIR))|g' \
	    -e 's|@INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|g' \
	    -e 's|@VERSION@|$(VERSION)|g' \
	    scripts/bgfetch.pc.in > $@.tmp
	mv $@.tmp $@

examples:
	$(MAKE) -C examples-c

demo:
	bash scripts/demo.sh

install: dist-lib pc
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(DIST_LIBS)/libbgfetch.so $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION)
	ln -sf libbgfetch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbgfetch.so
	$(INSTALL) -m 0644 $(DIST_LIBS)/libbgfetch.a $(DESTDIR)$(LIBDIR)/libbgfetch.a
	$(INSTALL) -m 0644 include/bgfetch.h $(DESTDIR)$(INCLUDEDIR)/bgfetch.h
	$(INSTALL) -m 0644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc
	@if [ -n "$(INSTALL_STRIP)" ]; then \
	    echo "$(STRIP) --strip-debug libbgfetch.so.$(VERSION) libbgfetch.a"; \
	    $(STRIP) --strip-debug $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION) \
	        $(DESTDIR)$(LIBDIR)/libbgfetch.a; \
	fi
	@echo "installed libbgfetch $(VERSION) into $(DESTDIR)$(PREFIX)"
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "(if $(LIBDIR) is a system library directory, run ldconfig;" \
	         "otherwise use LD_LIBRARY_PATH=$(LIBDIR) or -Wl,-rpath,$(LIBDIR))"; \
	fi

install-strip:
	$(MAKE) install INSTALL_STRIP=1

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libbgfetch.so $(DESTDIR)$(LIBDIR)/libbgfetch.a \
	    $(DESTDIR)$(INCLUDEDIR)/bgfetch.h $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc

check-install:
	bash scripts/check-install.sh

clean:
	rm -rf $(DIST_TARGET_DIR) target/demo
	$(MAKE) -C examples-c clean
