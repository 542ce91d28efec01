#!/usr/bin/env bash
# Proves that `make install` produces a usable installation, in a temporary prefix:
#   - the build: `make -n install` runs no `cargo build`, and a second `make install` rebuilds
#     nothing (the installed library keeps its bytes, cargo's output its timestamp)
#   - the files: lib/libbgfetch.so.VERSION with the soname libbgfetch.so.SOVERSION (0.MINOR
#     during 0.x, MAJOR from 1.0 on), the two symlinks, lib/libbgfetch.a, include/bgfetch.h,
#     lib/pkgconfig/bgfetch.pc, lib/cmake/bgfetch/bgfetchConfig{,Version}.cmake; the .so is
#     stripped, neither library carries debug info
#   - pkg-config, dynamic: `cc x.c $(pkg-config --cflags --libs bgfetch)
#     -Wl,-rpath,$(pkg-config --variable=libdir bgfetch)` records NEEDED libbgfetch.so.SOVERSION
#     and runs without LD_LIBRARY_PATH, with the installed library (ldd); as C++17 too if a
#     C++ compiler exists
#   - pkg-config, static: the README's recipe (the archive from libdir + libs_private) runs
#     and does not depend on libbgfetch.so (readelf, ldd)
#   - CMake (skipped with a message when cmake is not installed):
#     find_package(bgfetch MAJOR.MINOR CONFIG REQUIRED) with CMAKE_PREFIX_PATH builds and runs
#     the program against bgfetch::bgfetch and bgfetch::bgfetch_static; the version file
#     accepts only this ABI line (0.MINOR during 0.x); the package is relocatable
#   - DESTDIR staging keeps PREFIX in the .pc file; uninstall removes everything
# The test program calls only bgfetch_version() and bgfetch_status_name(), which no version
# changes. Run by `make check-install`. Exits non-zero at the first failed check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
make="${MAKE:-make}"
cc="${CC:-cc}"
cxx="${CXX:-c++}"
readelf="${READELF:-readelf}"
cmake="${CMAKE:-cmake}"

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
# not_linked_to_so BINARY: neither NEEDED nor ldd names libbgfetch.so.
not_linked_to_so() {
    if "$readelf" -d "$1" | grep -q 'NEEDED.*libbgfetch'; then
        fail "$(basename "$1") depends on the shared library (readelf -d)"
    fi
    if command -v ldd >/dev/null 2>&1 && ldd "$1" | grep -q libbgfetch; then
        fail "$(basename "$1") depends on the shared library (ldd)"
    fi
    echo "  no libbgfetch.so in readelf -d or ldd"
}
# uses_installed_so BINARY: records NEEDED soname, and ldd resolves it into $lib.
uses_installed_so() {
    "$readelf" -d "$1" | grep -q "NEEDED.*\[$soname\]" \
        || fail "$(basename "$1") does not record NEEDED $soname"
    local resolved
    resolved="$(env -u LD_LIBRARY_PATH ldd "$1" \
        | sed -n "s/^[[:space:]]*$soname => \([^ ]*\).*/\1/p")"
    [ "$resolved" = "$lib/$soname" ] \
        || fail "$(basename "$1"): ldd resolves $soname to '$resolved', not $lib/$soname"
    echo "  NEEDED $soname, found by ldd at $lib/$soname"
}

for tool in pkg-config "$readelf" "$cc" ldd; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is needed but not found"
done

version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml")"
IFS=. read -r major minor _ <<<"$version"
if [ "$major" = 0 ]; then soversion="0.$minor"; else soversion="$major"; fi
soname="libbgfetch.so.$soversion"
lib="$prefix/lib"

step "build: make install runs no 'cargo build'"
if "$make" -n -C "$root" install PREFIX="$prefix" | grep -q 'cargo build'; then
    fail "make install would run cargo build"
fi
echo "  ok (make -n install)"

step "make install PREFIX=$prefix"
"$make" -s -C "$root" install PREFIX="$prefix"

step "files"
for f in "lib/libbgfetch.so.$version" "lib/libbgfetch.a" "include/bgfetch.h" "include/bgfetch.hpp" \
         "lib/pkgconfig/bgfetch.pc" "lib/cmake/bgfetch/bgfetchConfig.cmake" \
         "lib/cmake/bgfetch/bgfetchConfigVersion.cmake"; do
    [ -f "$prefix/$f" ] || fail "missing $f"
    echo "  $f"
done
[ "$(readlink "$lib/$soname")" = "libbgfetch.so.$version" ] \
    || fail "lib/$soname is not a symlink to libbgfetch.so.$version"
[ "$(readlink "$lib/libbgfetch.so")" = "$soname" ] \
    || fail "lib/libbgfetch.so is not a symlink to $soname"
echo "  lib/$soname -> libbgfetch.so.$version, lib/libbgfetch.so -> $soname"
cmp -s "$root/include/bgfetch.h" "$prefix/include/bgfetch.h" || fail "installed header differs"
cmp -s "$root/include/bgfetch.hpp" "$prefix/include/bgfetch.hpp" || fail "installed C++ header differs"
echo "  sizes: $(stat -c '%n %s' "$lib/libbgfetch.so.$version" "$lib/libbgfetch.a" \
    | sed "s|$lib/||" | tr '\n' ' ')bytes"

step "soname, symbols, debug info"
got="$("$readelf" -d "$lib/libbgfetch.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
echo "  soname $got"
[ "$got" = "$soname" ] || fail "soname is '$got', not $soname"
if "$readelf" -S "$lib/libbgfetch.so.$version" | grep -qE '\.symtab|\.debug_'; then
    fail "libbgfetch.so.$version is not stripped (.symtab or .debug_* sections)"
fi
if "$readelf" -S "$lib/libbgfetch.a" | grep -q '\.debug_'; then
    fail "libbgfetch.a carries debug info"
fi
echo "  libbgfetch.so.$version: no .symtab, no debug info; libbgfetch.a: no debug info"

step "build: a second make install rebuilds nothing"
dist_dir="${DIST_TARGET_DIR:-target/dist}"
case "$dist_dir" in /*) ;; *) dist_dir="$root/$dist_dir" ;; esac
built="$dist_dir/dist/libbgfetch.so"
before="$(stat -c %Y "$built")"
"$make" -s -C "$root" install PREFIX="$prefix" >"$tmp/second-install.log" 2>&1 \
    || { cat "$tmp/second-install.log" >&2; fail "second make install"; }
if grep -q 'Compiling' "$tmp/second-install.log"; then
    cat "$tmp/second-install.log" >&2
    fail "the second make install compiled something"
fi
[ "$(stat -c %Y "$built")" = "$before" ] || fail "the second make install relinked $built"
echo "  ok: nothing compiled, $built unchanged"

step "pkg-config"
export PKG_CONFIG_PATH="$lib/pkgconfig"
pkg-config --exists --print-errors bgfetch || fail "pkg-config does not find bgfetch"
modversion="$(pkg-config --modversion bgfetch)"
[ "$modversion" = "$version" ] || fail "pkg-config --modversion is '$modversion', not $version"
flags="$(pkg-config --cflags --libs bgfetch)"
static_flags="$(pkg-config --static --libs bgfetch)"
libdir="$(pkg-config --variable=libdir bgfetch)"
libs_private="$(pkg-config --variable=libs_private bgfetch)"
echo "  pkg-config --cflags --libs bgfetch: $flags"
echo "  pkg-config --static --libs bgfetch: $static_flags"
echo "  pkg-config --variable=libdir bgfetch: $libdir"
echo "  pkg-config --variable=libs_private bgfetch: $libs_private"
[[ "$flags" == *"-I$prefix/include"* && "$flags" == *"-L$lib"* && "$flags" == *"-lbgfetch"* ]] \
    || fail "unexpected pkg-config output: $flags"
[ "$libdir" = "$lib" ] || fail "libdir is '$libdir', not $lib"
[ -n "$libs_private" ] || fail "no libs_private variable in bgfetch.pc"
for l in $libs_private; do
    [[ " $static_flags " == *" $l "* ]] || fail "pkg-config --static --libs lacks $l"
done

# Valid C11 and C++17. Only functions no version changes: the header's version macros against
# bgfetch_version(), and bgfetch_status_name().
cat > "$tmp/x.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
#include <bgfetch.h>

int main(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BGFETCH_VERSION_MAJOR, BGFETCH_VERSION_MINOR,
             BGFETCH_VERSION_PATCH);
    if (strcmp(want, bgfetch_version()) != 0) {
        fprintf(stderr, "header %s, library %s\n", want, bgfetch_version());
        return 1;
    }
    const char *name = bgfetch_status_name(BGFETCH_E_TIMEOUT);
    if (name == NULL || strcmp(name, "BGFETCH_E_TIMEOUT") != 0) {
        fprintf(stderr, "bgfetch_status_name(BGFETCH_E_TIMEOUT) = %s\n", name ? name : "NULL");
        return 1;
    }
    printf("libbgfetch %s: ok (%s)\n", bgfetch_version(), name);
    return 0;
}
CEOF

step "pkg-config, dynamic: cc x.c \$(pkg-config --cflags --libs bgfetch) \
-Wl,-rpath,\$(pkg-config --variable=libdir bgfetch)"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is wanted
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/x.c" $(pkg-config --cflags --libs bgfetch) \
    -Wl,-rpath,"$(pkg-config --variable=libdir bgfetch)" -o "$tmp/x_dyn"
uses_installed_so "$tmp/x_dyn"
run x_dyn env -u LD_LIBRARY_PATH "$tmp/x_dyn"

if command -v "$cxx" >/dev/null 2>&1; then
    step "pkg-config, dynamic, C++17: $cxx -std=c++17 -x c++ x.c ..."
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 -Wall -Wextra -Werror -x c++ "$tmp/x.c" -x none \
        $(pkg-config --cflags --libs bgfetch) \
        -Wl,-rpath,"$(pkg-config --variable=libdir bgfetch)" -o "$tmp/x_cxx"
    uses_installed_so "$tmp/x_cxx"
    run x_cxx env -u LD_LIBRARY_PATH "$tmp/x_cxx"

    step "pkg-config, dynamic, the C++ header: $cxx -std=c++17 hpp.cpp ..."
    cat > "$tmp/hpp.cpp" <<'CXXEOF'
#include <bgfetch.hpp>
#include <cstdio>
#include <string>

int main() {
    std::string want = std::to_string(BGFETCH_VERSION_MAJOR) + "." +
                       std::to_string(BGFETCH_VERSION_MINOR) + "." +
                       std::to_string(BGFETCH_VERSION_PATCH);
    if (bgfetch::version() != want) {
        std::fprintf(stderr, "header %s, library %s\n", want.c_str(),
                     std::string(bgfetch::version()).c_str());
        return 1;
    }
    std::printf("libbgfetch %s: ok (C++ header)\n", want.c_str());
    return 0;
}
CXXEOF
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 -Wall -Wextra -Werror "$tmp/hpp.cpp" $(pkg-config --cflags --libs bgfetch) \
        -Wl,-rpath,"$(pkg-config --variable=libdir bgfetch)" -o "$tmp/x_hpp"
    run x_hpp env -u LD_LIBRARY_PATH "$tmp/x_hpp"
else
    echo "== pkg-config, dynamic, C++17: skipped ('$cxx' not found)"
fi

step "pkg-config, static: cc x.c \$(pkg-config --cflags bgfetch) \
\$(pkg-config --variable=libdir bgfetch)/libbgfetch.a \$(pkg-config --variable=libs_private bgfetch)"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/x.c" $(pkg-config --cflags bgfetch) \
    "$(pkg-config --variable=libdir bgfetch)/libbgfetch.a" \
    $(pkg-config --variable=libs_private bgfetch) -o "$tmp/x_static"
not_linked_to_so "$tmp/x_static"
run x_static env -u LD_LIBRARY_PATH "$tmp/x_static"

# cmake_project DIR FIND_ARGS BUILD: writes a project into DIR that calls
# find_package(bgfetch FIND_ARGS) and, with BUILD=1, builds the test program against both
# targets, else (no language enabled) only prints their IMPORTED_LOCATION and include directory.
cmake_project() {
    local dir="$1" find_args="$2" build="$3"
    mkdir -p "$dir"
    cp "$tmp/x.c" "$dir/x.c"
    if [ "$build" = 1 ]; then
        cat > "$dir/CMakeLists.txt" <<CMEOF
cmake_minimum_required(VERSION 3.14)
project(bgfetch_check C)
find_package(bgfetch $find_args)
message(STATUS "bgfetch_VERSION=\${bgfetch_VERSION}")
add_executable(x_cmake_shared x.c)
target_link_libraries(x_cmake_shared PRIVATE bgfetch::bgfetch)
add_executable(x_cmake_static x.c)
target_link_libraries(x_cmake_static PRIVATE bgfetch::bgfetch_static)
CMEOF
    else
        cat > "$dir/CMakeLists.txt" <<CMEOF
cmake_minimum_required(VERSION 3.14)
project(bgfetch_check NONE)
find_package(bgfetch $find_args)
foreach(t bgfetch::bgfetch bgfetch::bgfetch_static)
  get_target_property(loc \${t} IMPORTED_LOCATION)
  get_target_property(inc \${t} INTERFACE_INCLUDE_DIRECTORIES)
  message(STATUS "\${t} LOCATION=\${loc} INCLUDE=\${inc}")
endforeach()
CMEOF
    fi
}

if command -v "$cmake" >/dev/null 2>&1; then
    step "$("$cmake" --version | head -n1): find_package(bgfetch $major.$minor CONFIG REQUIRED)"
    d="$tmp/cmake-build"
    cmake_project "$d" "$major.$minor CONFIG REQUIRED" 1
    "$cmake" -S "$d" -B "$d/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=Release >"$d/configure.log" 2>&1 \
        || { cat "$d/configure.log" >&2; fail "cmake configure"; }
    grep -q "bgfetch_VERSION=$version\$" "$d/configure.log" \
        || { cat "$d/configure.log" >&2; fail "bgfetch_VERSION is not $version"; }
    "$cmake" --build "$d/build" >"$d/build.log" 2>&1 \
        || { cat "$d/build.log" >&2; fail "cmake --build"; }
    echo "  configured and built (bgfetch_VERSION=$version)"
    echo "  bgfetch::bgfetch:"
    uses_installed_so "$d/build/x_cmake_shared"
    run x_cmake_shared env -u LD_LIBRARY_PATH "$d/build/x_cmake_shared"
    echo "  bgfetch::bgfetch_static:"
    not_linked_to_so "$d/build/x_cmake_static"
    run x_cmake_static env -u LD_LIBRARY_PATH "$d/build/x_cmake_static"

    step "CMake: version compatibility (this ABI line is $soversion)"
    next_minor="$major.$((minor + 1))"
    next_major="$((major + 1)).0"
    newer_patch="$major.$minor.$((${version##*.} + 1))"
    accept=("" "$major.$minor" "$version" "$major.$minor...$next_minor")
    reject=("$next_minor" "$next_major" "$newer_patch")
    if [ "$major" = 0 ] && [ "$minor" -gt 0 ]; then
        reject+=("0.$((minor - 1))")   # during 0.x an older minor is another ABI
    elif [ "$major" -gt 0 ]; then
        reject+=("$((major - 1)).0")
    fi
    i=0
    for want in "${accept[@]}" "${reject[@]}"; do
        i=$((i + 1))
        d="$tmp/cmake-version-$i"
        cmake_project "$d" "$want CONFIG QUIET" 0
        printf '%s\n' 'if(NOT bgfetch_FOUND)' '  message(FATAL_ERROR "bgfetch not found")' \
            'endif()' >>"$d/CMakeLists.txt"
        if "$cmake" -S "$d" -B "$d/build" -DCMAKE_PREFIX_PATH="$prefix" >"$d/log" 2>&1; then
            found=1
        else
            found=0
        fi
        expected=0
        for a in "${accept[@]}"; do [ "$a" = "$want" ] && expected=1; done
        [ "$found" = "$expected" ] || { cat "$d/log" >&2;
            fail "find_package(bgfetch $want): found=$found, expected $expected"; }
        label="${want:-no version}"
        if [ "$found" = 1 ]; then echo "  $label: compatible"; else echo "  $label: incompatible"; fi
    done
else
    echo "== CMake: skipped: cmake not found (install cmake to check find_package(bgfetch CONFIG))"
fi

step "DESTDIR: make install DESTDIR=$tmp/stage PREFIX=/usr"
"$make" -s -C "$root" install DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
stage="$tmp/stage/usr"
[ -f "$stage/lib/libbgfetch.so.$version" ] || fail "DESTDIR install: no library"
[ -f "$stage/lib/cmake/bgfetch/bgfetchConfig.cmake" ] || fail "DESTDIR install: no CMake package"
grep -qx 'prefix=/usr' "$stage/lib/pkgconfig/bgfetch.pc" \
    || fail "DESTDIR install: the .pc file does not say prefix=/usr"
echo "  ok: files under the stage, prefix=/usr in bgfetch.pc"
if command -v "$cmake" >/dev/null 2>&1; then
    # The CMake package computes its paths from its own location: found under the stage, it
    # names the staged files (as it would in a moved or unpacked tree).
    d="$tmp/cmake-relocated"
    cmake_project "$d" "$major.$minor CONFIG REQUIRED" 0
    "$cmake" -S "$d" -B "$d/build" -DCMAKE_PREFIX_PATH="$stage" >"$d/log" 2>&1 \
        || { cat "$d/log" >&2; fail "cmake configure against the staged tree"; }
    for want in \
        "bgfetch::bgfetch LOCATION=$stage/lib/libbgfetch.so.$version INCLUDE=$stage/include" \
        "bgfetch::bgfetch_static LOCATION=$stage/lib/libbgfetch.a INCLUDE=$stage/include"; do
        grep -qF -- "-- $want" "$d/log" || { cat "$d/log" >&2; fail "relocated: expected '$want'"; }
    done
    echo "  ok: the CMake package found under the stage names the staged files (relocatable)"
fi

step "make uninstall PREFIX=$prefix"
"$make" -s -C "$root" uninstall PREFIX="$prefix"
left="$(find "$prefix" -type f -o -type l)"
[ -z "$left" ] || fail "uninstall left: $left"
[ ! -e "$lib/cmake/bgfetch" ] || fail "uninstall left lib/cmake/bgfetch"
echo "  ok: nothing left"

# Regenerate the default .pc file (the runs above left one for the last PREFIX).
"$make" -s -C "$root" pc >/dev/null
echo "check-install: all checks passed"
