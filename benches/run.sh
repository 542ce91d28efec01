#!/usr/bin/env bash
# libbgfetch benchmarks against curl, aria2c and wget on loopback (issues 6 and 12).
#
#   benches/run.sh             full run (>= 5 runs per tool, tmpfs and disk); rewrites the
#                              generated part of BENCHMARKS.md
#   benches/run.sh --quick     smoke: tiny sizes, 1 run, needs only python3 and cargo; uses
#                              nginx and the comparison tools when present; writes nothing
#                              outside target/
#   benches/run.sh --install   first installs the missing tools with apt-get (explicitly)
#   benches/run.sh --serve     only generate the files and serve them (for profiling by hand)
#   benches/run.sh --report-only  rewrite BENCHMARKS.md from the last results (no runs)
#
# Other options are passed to benches/bench.py (see `benches/bench.py --help`), e.g.
# `--runs 7`, `--only w1,w3`, `--fs tmpfs`, `--no-write`; `--only https,badlink` runs only the
# rows of issue 12 (HTTPS with a CA made for the run; a bad link through benches/faultproxy.py);
# `--only throttled,uncapped` the rows of issue 21 (a 64 MiB body from nginx with a per-
# connection limit_rate, and without). The small-body rows (w2, w3) also count the system calls
# per body of libbgfetch and curl on tmpfs (one extra run each, under perf or strace;
# `--no-syscalls` skips it).
#
# Nothing is installed unless --install is given. Network traffic goes to 127.0.0.1 only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

quick=0
install=0
pass=()
for a in "$@"; do
    case "$a" in
        --quick) quick=1; pass+=("$a") ;;
        --install) install=1 ;;
        -h|--help)
            sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *) pass+=("$a") ;;
    esac
done

# --- tools -------------------------------------------------------------------------------
# command -> Debian package
declare -A pkg=( [nginx]=nginx [curl]=curl [aria2c]=aria2 [wget]=wget [/usr/bin/time]=time
                 [openssl]=openssl )
have() {
    case "$1" in
        /*) [ -x "$1" ] ;;
        nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}
missing=()
for t in nginx curl aria2c wget /usr/bin/time openssl; do
    have "$t" || missing+=("$t")
done

if [ "${#missing[@]}" -gt 0 ] && [ "$install" = 1 ]; then
    pkgs=()
    for t in "${missing[@]}"; do pkgs+=("${pkg[$t]}"); done
    echo "run.sh: installing ${pkgs[*]} (--install)"
    sudo_=""
    [ "$(id -u)" = 0 ] || sudo_="sudo"
    $sudo_ apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y "${pkgs[@]}"
    missing=()
    for t in nginx curl aria2c wget /usr/bin/time openssl; do
        have "$t" || missing+=("$t")
    done
fi

if [ "${#missing[@]}" -gt 0 ]; then
    pkgs=()
    for t in "${missing[@]}"; do pkgs+=("${pkg[$t]}"); done
    if [ "$quick" = 1 ]; then
        echo "run.sh --quick: missing ${missing[*]} (Debian: ${pkgs[*]}); the smoke goes on" \
             "without them (a Python HTTP server stands in for nginx)"
    else
        echo "run.sh: missing: ${missing[*]}" >&2
        echo "  install them with:  apt-get install nginx curl aria2 wget time openssl" >&2
        echo "  (only the missing ones: apt-get install ${pkgs[*]}), or rerun with --install;" >&2
        echo "  'benches/run.sh --quick' runs a smoke without them." >&2
        exit 2
    fi
fi
command -v python3 >/dev/null 2>&1 || { echo "run.sh: python3 is required" >&2; exit 2; }
command -v cargo >/dev/null 2>&1 || { echo "run.sh: cargo is required" >&2; exit 2; }

# --- the driver ----------------------------------------------------------------------------
# Its own package and target dir: the library's build is never touched.
target_dir="$repo/target/bench-driver"
if [ "$quick" = 1 ]; then profile=quick; else profile=release; fi
for a in "${pass[@]}"; do case "$a" in --serve|--report-only) profile=none ;; esac; done
driver=""
if [ "$profile" != none ]; then
    echo "run.sh: building the driver ($profile profile) ..."
    t0=$(date +%s)
    cargo build --quiet --profile "$profile" \
        --manifest-path "$here/driver/Cargo.toml" --target-dir "$target_dir"
    echo "run.sh: driver built in $(( $(date +%s) - t0 )) s"
    driver="$target_dir/$profile/bgfetch-bench"
fi

exec python3 "$here/bench.py" --driver "$driver" "${pass[@]}"
