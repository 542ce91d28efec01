#!/usr/bin/env bash
# Proves that `make install` produces a usable installation, in a temporary prefix:
#   - the files: lib/libbgfetch.so.VERSION with soname libbgfetch.so.SOVERSION (0.MINOR
#     during 0.x, MAJOR from 1.0 on), the two symlinks,
#     lib/libbgfetch.a, include/bgfetch.h, lib/pkgconfig/bgfetch.pc
#   - pkg-config --cflags --libs bgfetch, --modversion
#   - a C11 program built with `cc x.c $(pkg-config --cflags --libs bgfetch)` records
#     NEEDED libbgfetch.so.SOVERSION and runs with LD_LIBRARY_PATH
#   - the same program linked statically against libbgfetch.a (pkg-config --static) runs
#     without it, and (if a C++ compiler exists) compiles and runs as C++17
#   - DESTDIR staging keeps PREFIX in the .pc file; uninstall removes everything
# Run by `make check-install`. Exits non-zero at the first failed check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
make="${MAKE:-make}"
cc="${CC:-cc}"
cxx="${CXX:-c++}"
readelf="${READELF:-readelf}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bgfetch-check-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

step() { echo "== $*"; }
fail() { echo "check-install: FAILED: $*" >&2; exit 1; }
# run NAME CMD...: runs a test program, indents its output, fails with NAME if it fails.
run() {
    local name="$1" out
    shift
    out="$("$@" 2>&1)" || { printf '%s\n' "$out" >&2; fail "$name failed"; }
    printf '%s\n' "$out" | sed 's/^/  /'
}

for tool in pkg-config "$readelf" "$cc"; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is needed but not found"
done

step "make install PREFIX=$prefix"
"$make" -s -C "$root" install PREFIX="$prefix"

version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml")"
IFS=. read -r major minor _ <<<"$version"
# The soname carries MAJOR.MINOR during 0.x, MAJOR from 1.0 on.
if [ "$major" = 0 ]; then soversion="0.$minor"; else soversion="$major"; fi
lib="$prefix/lib"

step "files"
for f in "lib/libbgfetch.so.$version" "lib/libbgfetch.a" "include/bgfetch.h" \
         "lib/pkgconfig/bgfetch.pc"; do
    [ -f "$prefix/$f" ] || fail "missing $f"
    echo "  $f"
done
[ "$(readlink "$lib/libbgfetch.so.$soversion")" = "libbgfetch.so.$version" ] \
    || fail "lib/libbgfetch.so.$soversion is not a symlink to libbgfetch.so.$version"
[ "$(readlink "$lib/libbgfetch.so")" = "libbgfetch.so.$soversion" ] \
    || fail "lib/libbgfetch.so is not a symlink to libbgfetch.so.$soversion"
echo "  lib/libbgfetch.so.$soversion -> libbgfetch.so.$version, lib/libbgfetch.so -> libbgfetch.so.$soversion"
cmp -s "$root/include/bgfetch.h" "$prefix/include/bgfetch.h" || fail "installed header differs"

step "soname"
soname="$("$readelf" -d "$lib/libbgfetch.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
echo "  $soname"
[ "$soname" = "libbgfetch.so.$soversion" ] || fail "soname is '$soname', not libbgfetch.so.$soversion"

step "pkg-config"
export PKG_CONFIG_PATH="$lib/pkgconfig"
pkg-config --exists --print-errors bgfetch || fail "pkg-config does not find bgfetch"
modversion="$(pkg-config --modversion bgfetch)"
[ "$modversion" = "$version" ] || fail "pkg-config --modversion is '$modversion', not $version"
flags="$(pkg-config --cflags --libs bgfetch)"
echo "  pkg-config --cflags --libs bgfetch: $flags"
echo "  pkg-config --static --libs bgfetch: $(pkg-config --static --libs bgfetch)"
[[ "$flags" == *"-I$prefix/include"* && "$flags" == *"-L$lib"* && "$flags" == *"-lbgfetch"* ]] \
    || fail "unexpected pkg-config output: $flags"

# A program that uses the installed header and library: version macros against
# bgfetch_version(), a manager opened and closed on a fresh store, an error path.
# Valid C11 and C++17.
cat > "$tmp/x.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <bgfetch.h>

int main(int argc, char **argv) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BGFETCH_VERSION_MAJOR, BGFETCH_VERSION_MINOR,
             BGFETCH_VERSION_PATCH);
    if (strcmp(want, bgfetch_version()) != 0) {
        fprintf(stderr, "header %s, library %s\n", want, bgfetch_version());
        return 1;
    }
    if (argc < 2) return 2;
    bgfetch_config *cfg = bgfetch_config_new(argv[1]);
    bgfetch_manager *m = NULL;
    bgfetch_strings *ids = NULL;
    if (!cfg || bgfetch_manager_open(cfg, &m) != BGFETCH_OK ||
        bgfetch_get_ids(m, &ids) != BGFETCH_OK || bgfetch_strings_len(ids) != 0) {
        fprintf(stderr, "open: %s\n", bgfetch_last_error());
        return 1;
    }
    bgfetch_registration *reg = NULL;
    bgfetch_status s = bgfetch_fetch_urls(m, "x", NULL, 0, NULL, &reg);
    if (s != BGFETCH_E_INVALID_ARGUMENT || reg != NULL) return 1;
    printf("libbgfetch %s: ok (%s: %s)\n", bgfetch_version(), bgfetch_status_name(s),
           bgfetch_last_error());
    bgfetch_strings_free(ids);
    bgfetch_manager_close(m);
    bgfetch_config_free(cfg);
    return 0;
}
EOF

step "C11, dynamic: cc -std=c11 x.c \$(pkg-config --cflags --libs bgfetch)"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is wanted
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/x.c" $(pkg-config --cflags --libs bgfetch) \
    -o "$tmp/x_dyn"
"$readelf" -d "$tmp/x_dyn" | grep -q "NEEDED.*\[libbgfetch.so.$soversion\]" \
    || fail "x_dyn does not record NEEDED libbgfetch.so.$soversion"
echo "  NEEDED libbgfetch.so.$soversion"
run x_dyn env LD_LIBRARY_PATH="$lib" "$tmp/x_dyn" "$tmp/store-dyn"

step "C11, static: libbgfetch.a with pkg-config --static"
private="$(pkg-config --static --libs-only-l bgfetch | sed 's/-lbgfetch//')"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/x.c" $(pkg-config --cflags bgfetch) \
    $(pkg-config --libs-only-L bgfetch) -Wl,-Bstatic -lbgfetch -Wl,-Bdynamic $private \
    -o "$tmp/x_static"
if "$readelf" -d "$tmp/x_static" | grep -q 'NEEDED.*libbgfetch'; then
    fail "x_static depends on the shared library"
fi
run x_static env -u LD_LIBRARY_PATH "$tmp/x_static" "$tmp/store-static"

if command -v "$cxx" >/dev/null 2>&1; then
    step "C++17: $cxx -std=c++17 -x c++ x.c \$(pkg-config --cflags --libs bgfetch)"
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 -Wall -Wextra -Werror -x c++ "$tmp/x.c" -x none \
        $(pkg-config --cflags --libs bgfetch) -o "$tmp/x_cxx"
    run x_cxx env LD_LIBRARY_PATH="$lib" "$tmp/x_cxx" "$tmp/store-cxx"
else
    echo "== C++17: skipped ('$cxx' not found)"
fi

step "DESTDIR: make install DESTDIR=$tmp/stage PREFIX=/usr"
"$make" -s -C "$root" install DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
[ -f "$tmp/stage/usr/lib/libbgfetch.so.$version" ] || fail "DESTDIR install: no library"
grep -qx 'prefix=/usr' "$tmp/stage/usr/lib/pkgconfig/bgfetch.pc" \
    || fail "DESTDIR install: the .pc file does not say prefix=/usr"
echo "  ok: files under the stage, prefix=/usr in bgfetch.pc"

step "make uninstall PREFIX=$prefix"
"$make" -s -C "$root" uninstall PREFIX="$prefix"
left="$(find "$prefix" -type f -o -type l)"
[ -z "$left" ] || fail "uninstall left: $left"
echo "  ok: nothing left"

# Regenerate the default .pc file (the runs above left one for the last PREFIX).
"$make" -s -C "$root" pc >/dev/null
echo "check-install: all checks passed"
