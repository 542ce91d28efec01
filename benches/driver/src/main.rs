//! Benchmark driver for libbgfetch, used by `benches/run.sh` (through `benches/bench.py`).
//!
//! It uses only the public Rust API with the default configuration, except the connection
//! count (and, where a mode says so, the progress interval; the HTTPS and bad-link rows set
//! the CA file and the retry policy). Every mode prints one JSON object
//! on stdout and exits non-zero if the work did not succeed.
//!
//! ```text
//! bgfetch-bench get   --store DIR --base URL --template /w2/f{i}.bin --count N
//!                     [--conns C] [--progress] [--progress-interval MS] [--expect-bytes B]
//!                     [--poll-ms MS]   (diagnostic: poll the result instead of `wait`)
//!                     [--ca-file PEM] [--retries N --backoff MS] [--max-backoff MS]
//!                     [--no-progress-timeout MS] [--split N]
//! bgfetch-bench scale-fetch --store DIR --base URL --template T --count N [--reps R]
//! bgfetch-bench ids   --store DIR --base URL --template T --count N [--files F]
//! bgfetch-bench caps  (the options `get` takes, as JSON: benches/bench.py passes an option
//!                      of a newer driver, such as issue 21's `--split N`, only if listed)
//! ```
//! `{i}` in the template is replaced by the request index (modulo `--files` in `ids`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgfetch::{Config, FetchOptions, FetchResult, Manager, Request};

/// A global allocator that can count live heap bytes (only switched on by `ids`).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if COUNTING.load(Ordering::Relaxed) && !p.is_null() {
            LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        }
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if COUNTING.load(Ordering::Relaxed) && !q.is_null() {
            LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("bgfetch-bench: {msg}");
    std::process::exit(1)
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse(rest: &[String]) -> Args {
        let mut m = HashMap::new();
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                die(format!("unexpected argument {a:?}"))
            };
            if name == "progress" {
                m.insert(name.to_string(), "1".to_string());
                continue;
            }
            let v = it
                .next()
                .unwrap_or_else(|| die(format!("--{name} needs a value")));
            m.insert(name.to_string(), v.clone());
        }
        Args(m)
    }
    fn str(&self, k: &str) -> &str {
        self.0
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| die(format!("--{k} is required")))
    }
    fn num(&self, k: &str, default: Option<u64>) -> u64 {
        match self.0.get(k) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(format!("--{k}: not a number"))),
            None => default.unwrap_or_else(|| die(format!("--{k} is required"))),
        }
    }
    fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// VmRSS and VmHWM of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn config(a: &Args, store: &str) -> Config {
    let mut c = Config::new(store);
    c.set_base_url(a.str("base")).unwrap_or_else(|e| die(e));
    if a.has("conns") {
        let n = a.num("conns", None) as u32;
        c.set_max_connections(n).unwrap_or_else(|e| die(e));
        c.set_max_connections_per_fetch(n)
            .unwrap_or_else(|e| die(e));
    }
    if a.has("progress-interval") {
        c.set_progress_interval(a.num("progress-interval", None) as u32);
    }
    if a.has("ca-file") {
        c.set_ca_file(a.str("ca-file")).unwrap_or_else(|e| die(e));
    }
    if a.has("retries") {
        let backoff = a.num("backoff", Some(1000)) as u32;
        c.set_retries(a.num("retries", None) as u32, backoff)
            .unwrap_or_else(|e| die(e));
    }
    if a.has("max-backoff") {
        c.set_max_backoff(a.num("max-backoff", None) as u32);
    }
    if a.has("no-progress-timeout") {
        c.set_no_progress_timeout(a.num("no-progress-timeout", None));
    }
    if a.has("split") {
        // Issue 21: a large body over N connections (as the CLI's --split: a fetch may use N
        // connections, and the manager at least as many).
        let n = a.num("split", None) as u32;
        c.set_max_segments(n).unwrap_or_else(|e| die(e));
        if !a.has("conns") {
            c.set_max_connections_per_fetch(n.max(4))
                .unwrap_or_else(|e| die(e));
            c.set_max_connections(n.max(8)).unwrap_or_else(|e| die(e));
        }
    }
    c
}

fn requests(template: &str, count: u64, modulo: u64) -> Vec<Request> {
    (0..count)
        .map(|i| Request::new(&template.replace("{i}", &(i % modulo).to_string())))
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One registration of `count` requests; waits for it to succeed.
fn cmd_get(a: &Args) {
    let t0 = Instant::now();
    let count = a.num("count", Some(1));
    let reqs = requests(a.str("template"), count, u64::MAX);
    let m = Manager::open(config(a, a.str("store"))).unwrap_or_else(|e| die(e));
    let t_open = t0.elapsed();
    let calls = Arc::new(AtomicU64::new(0));
    let sink = Arc::new(AtomicU64::new(0));
    let cb_ns = Arc::new(AtomicU64::new(0));
    let t1 = Instant::now();
    let reg = m
        .fetch("bench", &reqs, &FetchOptions::default())
        .unwrap_or_else(|e| die(e));
    let t_fetch = t1.elapsed();
    drop(reqs); // a host need not keep its request list once `fetch` returned
    if a.has("progress") {
        let (calls, sink, cb_ns) = (calls.clone(), sink.clone(), cb_ns.clone());
        reg.set_progress_callback(Some(Arc::new(move |r| {
            let t = Instant::now();
            // Read every counter, as a host updating its UI would.
            let s = r.snapshot();
            let v = s.upload_total
                ^ s.uploaded
                ^ s.download_total
                ^ s.downloaded
                ^ s.result as u64
                ^ s.failure_reason as u64
                ^ s.records_available as u64;
            sink.fetch_xor(v, Ordering::Relaxed);
            calls.fetch_add(1, Ordering::Relaxed);
            cb_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        })))
        .unwrap_or_else(|e| die(e));
    }
    if a.has("poll-ms") {
        // Diagnostic only (not used by run.sh): poll instead of blocking in `wait`, to measure
        // what the wake-ups of a waiting host cost the transfer.
        let every = Duration::from_millis(a.num("poll-ms", None));
        while reg.snapshot().result == FetchResult::None {
            std::thread::sleep(every);
        }
    } else {
        reg.wait(None).unwrap_or_else(|e| die(e));
    }
    let t_done = t1.elapsed();
    let snap = reg.snapshot();
    let t2 = Instant::now();
    m.close();
    let t_close = t2.elapsed();
    if snap.result != FetchResult::Success {
        die(format!(
            "the fetch ended with {:?} / {:?}",
            snap.result, snap.failure_reason
        ));
    }
    if a.has("expect-bytes") && snap.downloaded != a.num("expect-bytes", None) {
        die(format!(
            "downloaded {} bytes, expected {}",
            snap.downloaded,
            a.num("expect-bytes", None)
        ));
    }
    let (rss, hwm) = rss_kib();
    println!(
        "{{\"ok\":true,\"count\":{count},\"downloaded\":{},\"open_ms\":{:.3},\"fetch_ms\":{:.3},\
         \"done_ms\":{:.3},\"close_ms\":{:.3},\"total_ms\":{:.3},\"progress_calls\":{},\
         \"progress_cb_us\":{:.1},\"rss_kib\":{rss},\"hwm_kib\":{hwm}}}",
        snap.downloaded,
        ms(t_open),
        ms(t_fetch),
        ms(t_done),
        ms(t_close),
        ms(t0.elapsed()),
        calls.load(Ordering::Relaxed),
        cb_ns.load(Ordering::Relaxed) as f64 / 1e3,
    );
}

/// How long `fetch` of `count` requests takes to return (median over `reps` fresh stores).
fn cmd_scale_fetch(a: &Args) {
    let count = a.num("count", Some(10_000));
    let reps = a.num("reps", Some(5));
    let reqs = requests(a.str("template"), count, u64::MAX);
    let mut times = Vec::new();
    for r in 0..reps {
        let store = format!("{}/rep{r}", a.str("store"));
        let m = Manager::open(config(a, &store)).unwrap_or_else(|e| die(e));
        let t = Instant::now();
        let reg = m
            .fetch("scale", &reqs, &FetchOptions::default())
            .unwrap_or_else(|e| die(e));
        times.push(ms(t.elapsed()));
        let _ = reg.abort();
        m.close();
        let _ = std::fs::remove_dir_all(&store);
    }
    let all = times
        .iter()
        .map(|t| format!("{t:.3}"))
        .collect::<Vec<_>>()
        .join(",");
    let med = median(&mut times);
    println!(
        "{{\"ok\":true,\"count\":{count},\"fetch_ms_median\":{med:.3},\"fetch_ms_max\":{:.3},\
         \"fetch_ms\":[{all}]}}",
        times.last().copied().unwrap_or(0.0)
    );
}

/// Median, 99th percentile and maximum time of 200 `get_ids` calls, in ms.
fn time_get_ids(m: &Manager, expect: usize) -> (f64, f64, f64) {
    let mut v = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let ids = m.get_ids().unwrap_or_else(|e| die(e));
        v.push(ms(t.elapsed()));
        if ids.len() != expect {
            die(format!(
                "get_ids returned {} ids, expected {expect}",
                ids.len()
            ));
        }
        std::hint::black_box(ids);
    }
    let max = v.iter().cloned().fold(0.0, f64::max);
    let med = median(&mut v); // sorts v
    (med, v[v.len() * 99 / 100], max)
}

/// `count` settled, unreleased registrations: memory per registration and `get_ids` time, in
/// the manager that made them and in a manager that reopens the store.
fn cmd_ids(a: &Args) {
    let count = a.num("count", Some(1000));
    let files = a.num("files", Some(count)).max(1);
    let store = a.str("store").to_string();
    let template = a.str("template").to_string();
    COUNTING.store(true, Ordering::SeqCst);

    // Memory per registration is the slope between the first and the second half, so that
    // the fixed costs (worker buffers, pooled connections) that the first fetches bring in are
    // not counted.
    let m = Manager::open(config(a, &store)).unwrap_or_else(|e| die(e));
    let half = count / 2;
    let t = Instant::now();
    let mut heap_at = [0i64; 2];
    let mut rss_at = [0u64; 2];
    for (phase, range) in [(0usize, 0..half), (1, half..count)] {
        let mut regs = Vec::with_capacity(count as usize);
        for i in range {
            let req = Request::new(&template.replace("{i}", &(i % files).to_string()));
            let reg = m
                .fetch(&format!("reg-{i:06}"), &[req], &FetchOptions::default())
                .unwrap_or_else(|e| die(e));
            regs.push(reg);
        }
        for r in &regs {
            r.wait(None).unwrap_or_else(|e| die(e));
            if r.snapshot().result != FetchResult::Success {
                die("a registration did not succeed");
            }
        }
        drop(regs); // the host keeps no handles: the registrations are idle in the manager
        std::thread::sleep(Duration::from_millis(300)); // the event thread drops its timers
        heap_at[phase] = LIVE.load(Ordering::SeqCst);
        rss_at[phase] = rss_kib().0;
    }
    let t_create = ms(t.elapsed());
    let (heap0, heap1) = (heap_at[0], heap_at[1]);
    let (rss0, rss1) = (rss_at[0], rss_at[1]);
    let (ids_med, ids_p99, ids_max) = time_get_ids(&m, count as usize);
    m.close();
    drop(m);

    // Reopen: the registrations are restored from the store. Baseline: a manager on an empty
    // store opened just before, in the same state of the process.
    let empty = format!("{store}-empty");
    let heap_e0 = LIVE.load(Ordering::SeqCst);
    let m = Manager::open(config(a, &empty)).unwrap_or_else(|e| die(e));
    let heap_e1 = LIVE.load(Ordering::SeqCst);
    m.close();
    drop(m);
    let _ = std::fs::remove_dir_all(&empty);
    let heap2 = LIVE.load(Ordering::SeqCst) + (heap_e1 - heap_e0);
    let (rss2, _) = rss_kib();
    let t = Instant::now();
    let m = Manager::open(config(a, &store)).unwrap_or_else(|e| die(e));
    let t_reopen = ms(t.elapsed());
    let heap3 = LIVE.load(Ordering::SeqCst);
    let (rss3, _) = rss_kib();
    let (ids2_med, ids2_p99, ids2_max) = time_get_ids(&m, count as usize);
    m.close();

    let per = |d: i64| d as f64 / count as f64;
    let per_half = |d: i64| d as f64 / (count - half).max(1) as f64;
    println!(
        "{{\"ok\":true,\"count\":{count},\"create_and_wait_ms\":{t_create:.1},\
         \"get_ids_ms_median\":{ids_med:.4},\"get_ids_ms_p99\":{ids_p99:.4},\"get_ids_ms_max\":{ids_max:.4},\
         \"heap_per_reg_bytes\":{:.0},\"rss_per_reg_bytes\":{:.0},\
         \"reopen_ms\":{t_reopen:.1},\"reopen_get_ids_ms_median\":{ids2_med:.4},\
         \"reopen_get_ids_ms_p99\":{ids2_p99:.4},\"reopen_get_ids_ms_max\":{ids2_max:.4},\"reopen_heap_per_reg_bytes\":{:.0},\
         \"reopen_rss_per_reg_bytes\":{:.0}}}",
        per_half(heap1 - heap0),
        per_half((rss1 as i64 - rss0 as i64) * 1024),
        per(heap3 - heap2),
        per((rss3 as i64 - rss2 as i64) * 1024),
    );
}

/// The options `get` takes. Issue 21: add "split" once `--split N` (`max_segments`) is
/// implemented; benches/bench.py then passes `--split 8` on its segmented rows.
const GET_OPTIONS: &[&str] = &[
    "store",
    "base",
    "template",
    "count",
    "conns",
    "progress",
    "progress-interval",
    "expect-bytes",
    "poll-ms",
    "ca-file",
    "retries",
    "backoff",
    "max-backoff",
    "no-progress-timeout",
    "split",
];

fn cmd_caps() {
    let list: Vec<String> = GET_OPTIONS.iter().map(|o| format!("\"{o}\"")).collect();
    println!("{{\"get\":[{}]}}", list.join(","));
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first() else {
        die("usage: bgfetch-bench get|scale-fetch|ids|caps --store DIR --base URL --template T ...")
    };
    let a = Args::parse(&argv[1..]);
    match cmd.as_str() {
        "get" => cmd_get(&a),
        "scale-fetch" => cmd_scale_fetch(&a),
        "ids" => cmd_ids(&a),
        "caps" => cmd_caps(),
        other => die(format!("unknown mode {other:?}")),
    }
}
