#!/usr/bin/env bash
# The podcast demo, end to end, with no network: builds libbgfetch (release) and the C
# examples, generates a podcast episode (~8 MiB ep-5.mp3, ep-5-artwork.jpg, ep-5-icon.png)
# in a temporary directory, serves it from a local server on 127.0.0.1 (a free port, about
# 4 MiB/s so that the progress is visible), runs examples-c/build/podcast against it, and
# stops the server whatever happens.
#
#   scripts/demo.sh            (or: make demo)
#
# Environment:
#   BGFETCH_DEMO_STORE   the store directory (default target/demo/podcast-store); it is kept
#                        between runs: run the demo twice, or interrupt it and run it again.
#   BGFETCH_DEMO_RATE    bytes per second the server sends per connection (default 4194304;
#                        0 = as fast as possible)
#   BGFETCH_DEMO_MIB     size of ep-5.mp3 in MiB (default 8)
#   CARGO                cargo command (default cargo); CARGO_FLAGS e.g. --offline
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

store="${BGFETCH_DEMO_STORE:-$root/target/demo/podcast-store}"
rate="${BGFETCH_DEMO_RATE:-4194304}"
mib="${BGFETCH_DEMO_MIB:-8}"
cargo="${CARGO:-cargo}"

for tool in python3 "${CC:-cc}" make; do
    command -v "$tool" >/dev/null 2>&1 || { echo "demo: '$tool' is needed but not found" >&2; exit 1; }
done

echo "== building libbgfetch (release) and the C examples"
# shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
"$cargo" build --release ${CARGO_FLAGS:-}
make -s -C examples-c BUILD_LIB=0 ${DEMO_MAKE_TARGETS:-}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bgfetch-demo.XXXXXX")"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

echo "== generating the episode in $tmp/site"
mkdir -p "$tmp/site"
python3 - "$tmp/site" "$mib" <<'PY'
import os, sys, zlib, struct
site, mib = sys.argv[1], int(sys.argv[2])
# "Audio": an ID3 tag then pseudo-random bytes (any bytes will do for the demo).
with open(os.path.join(site, "ep-5.mp3"), "wb") as f:
    f.write(b"ID3\x04\x00\x00\x00\x00\x00\x00")
    left = mib * 1024 * 1024 - 10
    while left > 0:
        n = min(left, 1 << 20)
        f.write(os.urandom(n))
        left -= n
# "Artwork": a JPEG marker, then filler.
with open(os.path.join(site, "ep-5-artwork.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200 * 1024) + b"\xff\xd9")
# The icon: a real 300x300 grey PNG.
def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
raw = b"".join(b"\x00" + b"\x80" * 300 for _ in range(300))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 300, 300, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
with open(os.path.join(site, "ep-5-icon.png"), "wb") as f:
    f.write(png)
PY
ls -l "$tmp/site" | sed 1d

echo "== starting the local server"
python3 "$root/scripts/demo_server.py" "$tmp/site" --rate "$rate" \
    --port-file "$tmp/port" >/dev/null 2>"$tmp/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 100); do                 # up to 10 s
    if [ -s "$tmp/port" ]; then port="$(cat "$tmp/port")"; break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo: the local server did not start:" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi
base="http://127.0.0.1:$port/"
echo "serving $tmp/site at $base (about $((rate / 1024)) KiB/s per connection)"

echo "== running: examples-c/build/podcast $base $store"
mkdir -p "$(dirname "$store")"
status=0
"$root/examples-c/build/podcast" "$base" "$store" || status=$?
echo "== server log"
sed 's/^/  /' "$tmp/server.log"
if [ "$status" -ne 0 ]; then
    echo "demo: podcast exited with status $status" >&2
    exit "$status"
fi
echo "== demo done"
