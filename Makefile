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
#                                 lib/libbgfetch.a, include/bgfetch.h and bgfetch.hpp (C++),
#                                 lib/pkgconfig/bgfetch.pc,
#                                 lib/cmake/bgfetch/bgfetchConfig.cmake and ...ConfigVersion.cmake
#   make install-strip ...        the same as install: the dist profile already strips the symbols
#   make uninstall PREFIX=...     removes what install installed
#   make check-install            installs into a temporary prefix and proves that pkg-config
#                                 (dynamic with an rpath, static) and CMake's
#                                 find_package(bgfetch CONFIG) work (scripts/check-install.sh)
#   make clean                    removes target/dist, target/demo and examples-c/build
#
# The installed libraries are built once, by `cargo rustc --profile dist` ([profile.dist] in
# Cargo.toml: LTO, one codegen unit, optimised for size, no debug info, stripped) in their own
# target directory ($(DIST_TARGET_DIR), so they never fight other builds over target/release),
# with the soname passed to the linker: no second build, no patchelf. A second `make install`
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
CMAKEDIR   ?= $(LIBDIR)/cmake/bgfetch

# The version from Cargo.toml's [package] section.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
VERSION_MAJOR = $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR = $(word 2,$(subst ., ,$(VERSION)))
# The ABI line: 0.MINOR during 0.x, MAJOR from 1.0 on; the soname carries it.
SOVERSION ?= $(if $(filter 0,$(VERSION_MAJOR)),0.$(VERSION_MINOR),$(VERSION_MAJOR))
SONAME     = libbgfetch.so.$(SOVERSION)
ifeq ($(VERSION_MINOR),)
$(error no MAJOR.MINOR.PATCH version found in the [package] section of Cargo.toml)
endif

# The system libraries a static link needs besides libbgfetch.a (Rust's standard library uses
# them; on glibc >= 2.34 they are part of libc and the flags are harmless). Written into the
# .pc file (Libs.private, variable libs_private) and the CMake package (bgfetch::bgfetch_static).
LIBS_PRIVATE = -lpthread -ldl -lm

DIST_TARGET_DIR ?= target/dist
DIST_PROFILE    ?= dist
DIST_LIBS  = $(DIST_TARGET_DIR)/$(DIST_PROFILE)
SHARED_LIB = $(DIST_LIBS)/libbgfetch.so
STATIC_LIB = $(DIST_TARGET_DIR)/libbgfetch.a
PC_FILE    = $(DIST_TARGET_DIR)/bgfetch.pc
CMAKE_FILES = $(DIST_TARGET_DIR)/cmake/bgfetchConfig.cmake \
              $(DIST_TARGET_DIR)/cmake/bgfetchConfigVersion.cmake

empty :=
space := $(empty) $(empty)
# In the .pc file, paths under $(PREFIX) are written relative to ${prefix}.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
# In the CMake package, the include directory is found from the library directory
# (${_bgfetch_libdir}/../include for the default layout) when both are under $(PREFIX), so
# that the installed tree is relocatable; otherwise it is the absolute $(INCLUDEDIR).
prefix_rel = $(patsubst $(PREFIX)/%,%,$(1))
libdir_up  = $(subst $(space),,$(foreach c,$(subst /, ,$(call prefix_rel,$(LIBDIR))),/..))
both_under_prefix = $(and $(filter $(PREFIX)/%,$(LIBDIR)),$(filter $(PREFIX)/%,$(INCLUDEDIR)))
CMAKE_INCLUDEDIR = $(if $(both_under_prefix),$\
    $${_bgfetch_libdir}$(libdir_up)/$(call prefix_rel,$(INCLUDEDIR)),$(INCLUDEDIR))
SIZEOF_VOID_P ?= $(shell echo $$(( $$(getconf LONG_BIT) / 8 )))

.PHONY: all release dist-lib pc cmake examples demo install install-strip uninstall check-install \
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
cmake: $(CMAKE_FILES)

# The templates in scripts/ (bgfetch.pc.in, *.cmake.in) share one set of @NAME@s. Their outputs
# are regenerated every time: PREFIX, LIBDIR or INCLUDEDIR may differ from the last run.
SUBSTITUTIONS = \
    -e 's|@PREFIX@|$(PREFIX)|g' \
    -e 's|@LIBDIR@|$(call pc_rel,$(LIBDIR))|g' \
    -e 's|@INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|g' \
    -e 's|@VERSION@|$(VERSION)|g' \
    -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
    -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' \
    -e 's|@ABI_LINE@|$(SOVERSION)|g' \
    -e 's|@SONAME@|$(SONAME)|g' \
    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|g' \
    -e 's|@CMAKE_INCLUDEDIR@|$(CMAKE_INCLUDEDIR)|g' \
    -e 's|@CMAKE_LIBS_PRIVATE@|$(subst $(space),;,$(patsubst -l%,%,$(LIBS_PRIVATE)))|g' \
    -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g'

define generate
	@mkdir -p $(dir $@)
	@echo "generating $@ from $<"
	@sed $(SUBSTITUTIONS) $< > $@.tmp
	@if grep -n '@[A-Z_]*@' $@.tmp >&2; then echo "error: unsubstituted names in $@" >&2; exit 1; fi
	@mv $@.tmp $@
endef

$(PC_FILE): scripts/bgfetch.pc.in FORCE
	$(generate)

$(DIST_TARGET_DIR)/cmake/%.cmake: scripts/%.cmake.in FORCE
	$(generate)

examples:
	$(MAKE) -C examples-c

demo:
	bash scripts/demo.sh

install: dist-lib pc cmake
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(CMAKEDIR)
	$(INSTALL) -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libbgfetch.so.$(VERSION)
	ln -sf libbgfetch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbgfetch.so
	$(INSTALL) -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libbgfetch.a
	$(INSTALL) -m 0644 include/bgfetch.h $(DESTDIR)$(INCLUDEDIR)/bgfetch.h
	$(INSTALL) -m 0644 include/bgfetch.hpp $(DESTDIR)$(INCLUDEDIR)/bgfetch.hpp
	$(INSTALL) -m 0644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc
	$(INSTALL) -m 0644 $(CMAKE_FILES) $(DESTDIR)$(CMAKEDIR)/
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
	    $(DESTDIR)$(INCLUDEDIR)/bgfetch.h $(DESTDIR)$(INCLUDEDIR)/bgfetch.hpp \
	    $(DESTDIR)$(PKGCONFIGDIR)/bgfetch.pc \
	    $(DESTDIR)$(CMAKEDIR)/bgfetchConfig.cmake $(DESTDIR)$(CMAKEDIR)/bgfetchConfigVersion.cmake
	rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

check-install:
	bash scripts/check-install.sh

clean:
	rm -rf $(DIST_TARGET_DIR) target/demo
	$(MAKE) -C examples-c clean
