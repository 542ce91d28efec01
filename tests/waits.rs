//! What a fetch waits for (issue 19, API.md "What a fetch waits for (0.3)"), from the Rust
//! API, under the default retry policy: record and fetch states, attempts, retry timing and
//! last errors; the expected total; the progress callback on state changes and when it is
//! set late; bounded body reads and saves.

mod common;
use common::*;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgfetch::*;

/// A store whose relative URLs go to `server`, with the library's default retry policy.
fn default_config(server: &TestServer, name: &str) -> Config {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(&server.base()).unwrap();
    c
}

/// The states the progress callbacks of `reg` saw, through a channel.
fn watch_states(reg: &Arc<Registration>) -> mpsc::Receiver<(RecordState, RecordStatus)> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        let _ = tx.lock().unwrap().send((r.state(), r.record_status(0)));
    })))
    .unwrap();
    rx
}

#[test]
fn a_refused_connection_is_shown_as_a_retry_wait_with_its_reason_at_once() {
    let server = TestServer::start();
    let m = Manager::open(default_config(&server, "refused")).unwrap();
    let dead = format!("http://127.0.0.1:{}/x", closed_port());
    let reg = fetch_urls(&m, "f", &[&dead]);
    // The progress callback fires on the state change: no polling.
    let seen = watch_states(&reg);
    let (state, record) = loop {
        let (state, record) = seen
            .recv_timeout(Duration::from_secs(30))
            .expect("no progress callback showed the retry wait");
        if state == RecordState::RetryWait {
            break (state, record);
        }
    };
    assert_eq!(state, RecordState::RetryWait);
    assert_eq!(record.state, RecordState::RetryWait);
    assert!(record.attempts >= 1, "{record:?}");
    let why = record.last_error.clone().unwrap_or_default();
    assert!(why.to_lowercase().contains("refused"), "{record:?}");
    assert!(record.retry_in.is_some(), "{record:?}");
    assert!(
        record.retry_in.unwrap() <= Duration::from_millis(1500),
        "the first backoff is at most 1.5 s: {record:?}"
    );
    assert!(reg.last_error().unwrap_or_default().contains("refused"));
    assert_eq!(reg.snapshot().result, FetchResult::None);
    // The live record says the same.
    let now = reg.record_status(0);
    assert!(matches!(
        now.state,
        RecordState::RetryWait | RecordState::Active
    ));
    assert!(reg.abort().unwrap());
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.state(), RecordState::Failed);
    assert_eq!(reg.record_status(0).state, RecordState::Failed);
}

#[test]
fn offline_and_paused_fetches_say_so_and_a_settled_one_is_done() {
    let server = TestServer::start();
    let m = Manager::open(default_config(&server, "offline")).unwrap();
    let slow = fetch_urls(&m, "slow", &["/bytes/400000?rate=200000"]);
    wait_until("the transfer to start", || slow.snapshot().downloaded > 0);
    assert_eq!(slow.state(), RecordState::Active);
    assert_eq!(slow.record_status(0).state, RecordState::Active);
    assert_eq!(slow.record_status(0).attempts, 1);

    m.set_offline(true).unwrap();
    assert_eq!(slow.state(), RecordState::Offline);
    assert_eq!(slow.record_status(0).state, RecordState::Offline);
    assert_eq!(slow.record_status(0).retry_in, None);
    slow.pause().unwrap();
    assert_eq!(
        slow.state(),
        RecordState::Paused,
        "paused wins over offline"
    );
    m.set_offline(false).unwrap();
    assert_eq!(slow.state(), RecordState::Paused);
    slow.resume().unwrap();
    slow.wait(WAIT).unwrap();
    assert_eq!(slow.snapshot().result, FetchResult::Success);
    assert_eq!(slow.state(), RecordState::Done);
    assert_eq!(slow.record_status(0).state, RecordState::Done);
    assert_eq!(slow.last_error(), None);

    // A fetch that failed with a response is settled as failed; its record is done.
    let bad = fetch_urls(&m, "bad", &["/status/404"]);
    bad.wait(WAIT).unwrap();
    assert_eq!(bad.state(), RecordState::Failed);
    assert_eq!(bad.record_status(0).state, RecordState::Done);
}

#[test]
fn a_fetch_queued_behind_a_full_slot_is_queued() {
    let server = TestServer::start();
    let mut cfg = default_config(&server, "queued");
    cfg.set_max_connections_per_fetch(1).unwrap();
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/300000?rate=150000", "/bytes/10"]);
    wait_until("the first transfer to start", || {
        reg.record_status(0).state == RecordState::Active
    });
    assert_eq!(reg.record_status(1).state, RecordState::Queued);
    assert_eq!(reg.record_status(1).attempts, 0);
    assert_eq!(
        reg.state(),
        RecordState::Active,
        "the most alive record wins"
    );
    reg.abort().unwrap();
    reg.wait(WAIT).unwrap();
}

#[test]
fn the_expected_total_sums_the_lengths_the_heads_gave() {
    let server = TestServer::start();
    let m = Manager::open(default_config(&server, "total")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/1000", "/bytes/20000"]);
    assert_eq!(reg.snapshot().download_total, 0, "no total declared");
    reg.wait(WAIT).unwrap();
    assert_eq!(
        reg.expected_total(),
        ExpectedTotal {
            bytes: 21_000,
            all_known: true
        }
    );
    // A chunked body has no length: the sum of the others, not all known.
    let chunked = fetch_urls(&m, "c", &["/bytes/1000", "/bytes/500?chunked=1"]);
    chunked.wait(WAIT).unwrap();
    assert_eq!(
        chunked.expected_total(),
        ExpectedTotal {
            bytes: 1000,
            all_known: false
        }
    );
}

#[test]
fn a_progress_callback_set_after_the_fetch_settled_gets_the_final_values() {
    let server = TestServer::start();
    let m = Manager::open(default_config(&server, "late")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/5000"]);
    reg.wait(WAIT).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        let _ = tx.lock().unwrap().send(r.snapshot());
    })))
    .unwrap();
    let s = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a callback set late was never called");
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, 5000);
    // Also after a reopen of the store (a fetch restored settled).
    let store = m.config().store_dir().to_path_buf();
    m.close();
    let m = Manager::open(Config::new(store)).unwrap();
    let reg = m.get("f").unwrap().unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        let _ = tx.lock().unwrap().send(r.snapshot().result);
    })))
    .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).ok(),
        Some(FetchResult::Success)
    );
}

#[test]
fn body_reads_and_saves_of_a_paused_fetch_end_at_their_timeout() {
    let server = TestServer::start();
    let m = Manager::open(default_config(&server, "bounded")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/2000000?rate=400000"]);
    wait_until("some bytes", || reg.snapshot().downloaded > 0);
    reg.pause().unwrap();
    let short = Some(Duration::from_millis(300));
    let mut buf = [0u8; 10];
    let read = reg.read_body(0, 1_999_000, &mut buf, short);
    assert!(matches!(read, Err(Error::Timeout(_))), "{read:?}");
    let dest = temp_store("bounded-save");
    let saved = reg.save_body(0, &dest, short);
    assert!(matches!(saved, Err(Error::Timeout(_))), "{saved:?}");
    assert!(
        !dest.exists(),
        "a save that timed out wrote its destination"
    );
    // Bytes already stored are read at once, whatever the timeout.
    assert_eq!(
        reg.read_body(0, 0, &mut buf, Some(Duration::ZERO)).unwrap(),
        10
    );
    assert_eq!(&buf[..], &pattern(10, 0)[..]);
    reg.resume().unwrap();
    reg.save_body(0, &dest, WAIT).unwrap();
    assert!(std::fs::read(&dest).unwrap() == pattern(2_000_000, 0));
}
