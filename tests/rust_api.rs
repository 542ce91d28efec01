//! The Rust API as a Rust host uses it (issue 20): `ffi-tests/c/test_fetch.c` ported to the
//! public items of `bgfetch` alone (no index-based reads, no `ffi`), and one test that asks the
//! Rust API and the C API the same questions (header lookup, matching) and compares answers.

mod common;
use common::*;

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::Arc;
use std::time::Duration;

use bgfetch::{
    Config, Error, FetchOptions, FetchResult, Manager, QueryOptions, Record, Registration, Request,
    Response,
};

const T: Option<Duration> = Some(Duration::from_secs(30));
const SIZES: [u64; 3] = [1000, 20000, 70000];

fn open(server: &TestServer, name: &str) -> Manager {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(&server.base()).unwrap();
    Manager::open(c).unwrap()
}

fn three(server: &TestServer, m: &Manager, id: &str) -> Arc<Registration> {
    let reqs: Vec<Request> = SIZES
        .iter()
        .enumerate()
        .map(|(i, n)| Request::new(&server.url(&format!("/bytes/{n}?seed={}", 10 + i))))
        .collect();
    let reg = m.fetch(id, &reqs, &FetchOptions::default()).unwrap();
    assert_eq!(reg.id(), id);
    reg.wait(T).unwrap();
    reg
}

fn response(rec: &Record) -> Response {
    rec.response_ready(T).unwrap()
}

fn indexes(found: bgfetch::Result<Vec<Record>>) -> Vec<usize> {
    found.unwrap().iter().map(Record::index).collect()
}

#[test]
fn a_fetch_of_three_bodies_reads_them_every_way() {
    let server = TestServer::start();
    let m = open(&server, "three");
    let reg = three(&server, &m, "three");
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, SIZES.iter().sum::<u64>());
    let dir = temp_store("three-saved");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, rec) in reg.records().unwrap().iter().enumerate() {
        let want = pattern(SIZES[i], 10 + i as u64);
        let res = response(rec);
        assert_eq!(res.status(), 200);
        assert!(res.ok());
        assert_eq!(res.url(), rec.request().url);
        assert_eq!(
            res.header("CONTENT-length").as_deref(),
            Some(&*SIZES[i].to_string())
        );
        assert!(res.header("x-absent").is_none());
        assert!(res.complete());
        assert_eq!(res.body_size(), SIZES[i]);
        assert!(res.read_to_end(T).unwrap() == want, "read");
        assert!(
            std::fs::read(res.body_path().unwrap()).unwrap() == want,
            "path"
        );
        let dest = dir.join(format!("{i}.bin"));
        std::fs::write(&dest, b"an older file").unwrap();
        res.save(&dest, T).unwrap();
        assert!(
            std::fs::read(&dest).unwrap() == want,
            "save over an existing file"
        );
        // Reads at an offset, at the end, and into an empty buffer.
        let mut buf = [0u8; 16];
        let n = res.read(SIZES[i] - 10, &mut buf, T).unwrap();
        assert_eq!(&buf[..n], &want[want.len() - 10..]);
        assert_eq!(res.read(SIZES[i], &mut buf, T).unwrap(), 0);
        assert_eq!(res.read(5_000_000, &mut buf, T).unwrap(), 0);
        assert_eq!(res.read(0, &mut [], T).unwrap(), 0);
    }
    let res = response(&reg.record(0).unwrap());
    let missing = dir.join("no-such-dir").join("x.bin");
    assert!(!res.save(&missing, T).unwrap_err().message().is_empty());
    assert!(matches!(reg.record(3), Err(Error::InvalidArgument(_))));
}

#[test]
fn matching_follows_the_cache_api_rules() {
    let server = TestServer::start();
    let m = open(&server, "match");
    let reg = three(&server, &m, "m");
    let o = QueryOptions::default();
    let url1 = server.url("/bytes/20000?seed=11");
    let rec = reg.match_request(&Request::new(&url1), o).unwrap().unwrap();
    assert_eq!((rec.index(), rec.request().method.as_str()), (1, "GET"));
    assert!(reg
        .match_request(&Request::new(&server.url("/nothing")), o)
        .unwrap()
        .is_none());
    // Relative to the base URL; the fragment is ignored.
    let rel = reg
        .match_request(&Request::new("/bytes/20000?seed=11#part"), o)
        .unwrap();
    assert_eq!(rel.map(|r| r.index()), Some(1));
    assert_eq!(indexes(reg.match_all(None, o)), vec![0, 1, 2]);
    assert_eq!(
        indexes(reg.match_all(Some(&Request::new(&url1)), o)),
        vec![1]
    );
    // ignoreSearch.
    let no_query = Request::new(&server.url("/bytes/20000"));
    assert!(indexes(reg.match_all(Some(&no_query), o)).is_empty());
    let search = QueryOptions {
        ignore_search: true,
        ..o
    };
    assert_eq!(indexes(reg.match_all(Some(&no_query), search)), vec![1]);
    // ignoreMethod: a POST query matches a GET record only with it.
    let mut post = Request::new(&url1);
    post.set_method("POST").unwrap();
    assert!(indexes(reg.match_all(Some(&post), o)).is_empty());
    let method = QueryOptions {
        ignore_method: true,
        ..o
    };
    assert_eq!(indexes(reg.match_all(Some(&post), method)), vec![1]);
    let both = QueryOptions {
        ignore_method: true,
        ignore_search: true,
        ..o
    };
    let mut post_all = Request::new(&server.url("/bytes/1000"));
    post_all.set_method("POST").unwrap();
    assert_eq!(indexes(reg.match_all(Some(&post_all), both)), vec![0]);
}

#[test]
fn get_ids_duplicates_and_refused_fetches() {
    let server = TestServer::start();
    let m = open(&server, "ids");
    let reg = three(&server, &m, "a");
    let again = m.get("a").unwrap().unwrap();
    assert!(Arc::ptr_eq(&reg, &again));
    assert!(m.get("zz").unwrap().is_none());
    assert_eq!(m.get_ids().unwrap(), vec!["a".to_string()]);
    let one = [Request::new("/bytes/1")];
    assert!(matches!(
        m.fetch("a", &one, &FetchOptions::default()),
        Err(Error::DuplicateId(_))
    ));
    let refused = |id: &str, urls: &[&str]| {
        let reqs: Vec<Request> = urls.iter().map(|u| Request::new(u)).collect();
        let r = m.fetch(id, &reqs, &FetchOptions::default());
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{id}: {r:?}");
        assert!(m.get(id).map_or(true, |g| g.is_none()), "{id} registered");
    };
    refused("empty", &[]);
    refused("bad-url", &["http://"]);
    refused("bad-url-2", &["http://[::1"]);
    refused("ftp", &["ftp://127.0.0.1/x"]);
    refused("file", &["file:///etc/passwd"]);
    refused("data", &["data:,x"]);
    refused("cred", &["http://u:p@127.0.0.1/x"]);
    refused("port-25", &["http://127.0.0.1:25/x"]);
    refused("port-6667", &["http://127.0.0.1:6667/x"]);
    refused("", &["/bytes/1"]);
    refused("one-bad", &["/bytes/1", "http://"]);
    let mut r = Request::new("/x");
    for bad in ["CONNECT", "TRACE", "TRACK", "GE T", "", "GET\r\n"] {
        assert!(r.set_method(bad).is_err(), "{bad:?}");
    }
    r.set_method("delete").unwrap();
    assert_eq!(r.method(), "DELETE");
    assert!(r.add_header("bad name", "v").is_err());
    assert!(r.add_header("X-Ok", "a\r\nb").is_err());
    // Odd ids work and stay inside the store; a 64 KiB id works.
    for id in ["a/b", "..", ".", "é/ü", &"x".repeat(65_536)] {
        let reg = m.fetch(id, &one, &FetchOptions::default()).unwrap();
        reg.wait(T).unwrap();
        assert_eq!(reg.id(), id);
    }
    // A relative URL without a base URL is refused.
    let bare = Manager::open(Config::new(temp_store("no-base"))).unwrap();
    assert!(matches!(
        bare.fetch("r", &one, &FetchOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn relative_duplicate_and_chunked_urls() {
    let server = TestServer::start();
    let m = open(&server, "urls");
    let reqs = [
        Request::new("bytes/10?seed=1"),
        Request::new("bytes/10?seed=1"),
        Request::new(&server.url("/bytes/5000?seed=2&chunked=1")),
        Request::new(""),
    ];
    let reg = m.fetch("u", &reqs, &FetchOptions::default()).unwrap();
    reg.wait(T).unwrap();
    let recs = reg.records().unwrap();
    assert_eq!(recs[0].request().url, server.url("/bytes/10?seed=1"));
    assert_eq!(
        recs[1].request().url,
        recs[0].request().url,
        "duplicates are two records"
    );
    assert!(response(&recs[2]).read_to_end(T).unwrap() == pattern(5000, 2));
    assert_eq!(
        recs[3].request().url,
        server.base(),
        "an empty URL is the base URL"
    );
}

/// The Rust API and the C API answer the same questions alike: header lookup (Fetch's
/// `Headers.get`: every value of a name joined with ", ", any case) and matching.
#[test]
fn the_rust_and_c_apis_give_the_same_answers() {
    use bgfetch::ffi::config::*;
    use bgfetch::ffi::manager::*;
    use bgfetch::ffi::record::*;
    use bgfetch::ffi::registration::*;
    use bgfetch::ffi::request::*;
    use bgfetch::ffi::response::*;
    use bgfetch::ffi::status::BGFETCH_OK;

    let server = TestServer::start();
    let c = |s: &str| CString::new(s).unwrap();
    let store = c(temp_store("same").to_str().unwrap());
    let base = c(&server.base());
    let cfg = bgfetch_config_new(store.as_ptr());
    assert_eq!(bgfetch_config_set_base_url(cfg, base.as_ptr()), BGFETCH_OK);
    let mut m = null_mut();
    assert_eq!(bgfetch_manager_open(cfg, &mut m), BGFETCH_OK);
    bgfetch_config_free(cfg);
    let urls = [
        "/bytes/10?seed=1&header=X-A:1&header=x-a:2&header=X-B:three",
        "/bytes/10?seed=2&vary=Accept-Language",
        "/bytes/10?seed=1&other=1",
    ];
    let curls: Vec<CString> = urls.iter().map(|u| c(u)).collect();
    let ptrs: Vec<*const std::ffi::c_char> = curls.iter().map(|u| u.as_ptr()).collect();
    let id = c("s");
    let mut creg = null_mut();
    assert_eq!(
        bgfetch_fetch_urls(m, id.as_ptr(), ptrs.as_ptr(), ptrs.len(), null(), &mut creg),
        BGFETCH_OK
    );
    assert_eq!(bgfetch_registration_wait(creg, 30_000), BGFETCH_OK);
    let rust = unsafe { &*m }.inner_for_tests().get("s").unwrap().unwrap();

    // Header lookup.
    let rec0 = rust.record(0).unwrap();
    let res = response(&rec0);
    let mut crec = null_mut();
    assert_eq!(
        bgfetch_registration_match_url(creg, curls[0].as_ptr(), 0, &mut crec),
        BGFETCH_OK
    );
    let mut cres = null_mut();
    assert_eq!(bgfetch_record_response(crec, 5000, &mut cres), BGFETCH_OK);
    for name in ["x-a", "X-A", "x-b", "content-length", "x-missing", "ETAG"] {
        let cname = c(name);
        let p = bgfetch_response_header(cres, cname.as_ptr());
        let from_c = (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap());
        assert_eq!(res.header(name).as_deref(), from_c, "header {name}");
    }
    assert_eq!(res.header("x-a").as_deref(), Some("1, 2"));

    // Matching, with each combination of the flags.
    let queries: Vec<(Request, &str)> = vec![
        (Request::new(urls[0]), "GET"),
        (Request::new("/bytes/10"), "GET"),
        (Request::new("/bytes/10?seed=1#frag"), "GET"),
        (Request::new(urls[1]), "GET"),
        (Request::new("/bytes/10?seed=1&other=1"), "POST"),
    ];
    for flags in 0..8u32 {
        let opts = QueryOptions {
            ignore_search: flags & 1 != 0,
            ignore_method: flags & 2 != 0,
            ignore_vary: flags & 4 != 0,
        };
        for (q, method) in &queries {
            let mut q = q.clone();
            q.set_method(method).unwrap();
            let from_rust = indexes(rust.match_all(Some(&q), opts));
            let mut creq = null_mut();
            let url = c(q.url());
            assert_eq!(bgfetch_request_new(url.as_ptr(), &mut creq), BGFETCH_OK);
            let cm = c(method);
            assert_eq!(bgfetch_request_set_method(creq, cm.as_ptr()), BGFETCH_OK);
            let mut list = null_mut();
            assert_eq!(
                bgfetch_registration_match_all(creg, creq, flags, &mut list),
                BGFETCH_OK
            );
            let from_c: Vec<usize> = (0..bgfetch_records_len(list))
                .map(|i| {
                    let url =
                        unsafe { CStr::from_ptr(bgfetch_record_url(bgfetch_records_get(list, i))) };
                    let url = url.to_str().unwrap();
                    rust.records()
                        .unwrap()
                        .iter()
                        .position(|r| r.request().url == url)
                        .unwrap()
                })
                .collect();
            assert_eq!(from_rust, from_c, "{} {method} flags {flags}", q.url());
            bgfetch_records_free(list);
            bgfetch_request_free(creq);
        }
    }
    bgfetch_response_free(cres);
    bgfetch_record_free(crec);
    bgfetch_registration_free(creg);
    bgfetch_manager_close(m);
}
