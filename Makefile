# libbgfetch: build, demo, install.
#
#   make                          the libraries `make install` installs (cargo profile dist, in
#                                 $(DIST_TARGET_DIR)), and target/dist/bgfetch.pc
#   make release                  cargo build --release (the development build in target/release)
#   make demo                     the podcast demo against a local server (scripts/demo.sh)
#   make examples                 the C examples in examples-c/build/
#   make install PREFIX=/usr/local [DESTDIR=/staging] [LIBDIR=...] [INCLUDEDIR=...]
#                                 lib/libbgfetch.so.$(VERSION) (soname $(SONAME))
#                                 + the $(SONAME) and libbgfetch.so symlinks,
#                                 lib/libbgfetch.a, include/bgfetch.h, lib/pkgconfig/bgfetch.pc
#   make install-strip ...        the same as install: the dist profile already strips the symbols
#   make uninstall PREFIX=...     removes what install installed
#   make check-install            installs into a temporary prefix and proves that pkg-config,
#                                 dynamic and static linking (C11, and C++17 if c++ exists) work
#   make clean                    removes target/dist, target/demo and examples-c/build
#
# The installed libraries are built once, by `cargo rustc --profile dist` ([profile.dist] in
# Cargo.toml: LTO, one codegen unit, optimised for size, no debug info, stripped) in their own
# target directory
# ($(DIST_TARGET_DIR), so they never fight other builds over target/release), with the soname
# passed to the linker: no second build, no patchelf, no strip step. A second `make install`
# finds cargo's build fresh and only copies files.
#
# Soname: during 0.x every minor release may change the ABI, so the soname carries
# MAJOR.MINOR (libbgfetch.so.0.1, libbgfetch.so.0.2, ...); from 1.0 on it carries MAJOR
# (libbgfetch.so.1). See docs/ABI.md.

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

# The version from Cargo.toml's [package] section.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
VERSION_MAJOR = $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR = $(word 2,$(subst ., ,$(VERSION)))
# The ABI line: 0.MINOR during 0.x, MAJOR from 1.0 on; the soname carries it.
SOVERSION ?= $(if $(filter 0,$(VERSION_MAJOR)),0.$(VERSION_MINOR),$(VERSION_MAJOR))
SONAME     = libbgfetch.so.$(SOVERSION)

DIST_TARGET_DIR ?= target/dist
DIST_PROFILE    ?= dist
DIST_LIBS  = $(DIST_TARGET_DIR)/$(DIST_PROFILE)
SHARED_LIB = $(DIST_LIBS)/libbgfetch.so
STATIC_LIB = $(DIST_TARGET_DIR)/libbgfetch.a
PC_FILE    = $(DIST_TARGET_DIR)/bgfetch.pc

# In the .pc file, paths under $(PREFIX) are written relative to ${prefix}.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: all release dist-lib pc examples demo install install-strip uninstall check-install \
        clean FORCE

all: dist-lib pc

release:
	$(CARGO) build --release

# The libraries to install: the cdylib with its soname, and the staticlib. --crate-type leaves
# out Cargo.toml's rlib, with which cargo would not run LTO. Cargo decides whether anything
# changed; when nothing did, the files keep their timestamps. The profile's `strip` applies to
# the linked .so only: libbgfetch.a gets its debug info (mostly the standard library's and
# ring's) removed here, once per build, into $(STATIC_LIB); its symbols stay.
dist-lib:
	@test -n "$(VERSION_MINOR)" || { echo "error: no version found in Cargo.toml" >&2; exit 1; }
	CARGO_TARGET_DIR=$(DIST_TARGET_DIR) $(CARGO) rustc --profile $(DIST_PROFILE) --lib \
	    --crate-type cdylib,staticlib -- -C link-arg=-Wl,-soname,$(SONAME)
	@if command -v $(READELF) >/dev/null 2>&1; then \
	    $(READELF) -d $(SHARED_LIB) | grep -q 'SONAME.*\[$(SONAME)\]' || { \
	        echo "error: $(SHARED_LIB) has no soname $(SONAME):" >&2; \
	        $(READELF) -d $(SHARED_LIB) | grep SONAME >&2; exit 1; }; \
	else \
	    echo "warning: $(READELF) not found: cannot verify the soname $(SONAME)" >&2; \
	fi
	@if [ ! $(STATIC_LIB) -nt $(DIST_LIBS)/libbgfetch.a ]; then \
	    echo "$(STRIP) --strip-debug -o $(STATIC_LIB) $(DIST_LIBS)/libbgfetch.a"; \
	    $(STRIP) --strip-debug -o $(STATIC_LIB).tmp $(DIST_LIBS)/libbgfetch.a && \
	    mv $(STATIC_LIB).tmp $(STATIC_LIB); \
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
	$(INSTALL) -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION)
	ln -sf libbgfetch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbgfetch.so
	$(INSTALL) -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libbgfetch.a
	$(INSTALL) -m 0644 include/bgfetch.h $(DESTDIR)$(INCLUDEDIR)/bgfetch.h
	$(INSTALL) -m 0644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc
	@echo "installed libbgfetch $(VERSION) into $(DESTDIR)$(PREFIX)"
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "(if $(LIBDIR) is a system library directory, run ldconfig;" \
	         "otherwise use LD_LIBRARY_PATH=$(LIBDIR) or -Wl,-rpath,$(LIBDIR))"; \
	fi

# Kept for packaging scripts that call it (the GNU convention): the dist profile already
# strips the libraries, so it is install.
install-strip: install

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libbgfetch.so $(DESTDIR)$(LIBDIR)/libbgfetch.a \
	    $(DESTDIR)$(INCLUDEDIR)/bgfetch.h $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc

check-install:
	bash scripts/check-install.sh

clean:
	rm -rf $(DIST_TARGET_DIR) target/demo
	$(MAKE) -C examples-c clean
