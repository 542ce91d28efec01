//! The registration's races, deterministically: a fake engine stands in for the manager (a
//! real store on a temporary directory; no worker, no socket, no event thread, no sleep), and
//! each test drives the calls in the order a race would take, then checks what the engine was
//! asked (settle once, progress, retries, kicks) and what waiters and listeners see.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::fake::{counting_listener, fetch, Asked, FakeEngine};
use super::{Engine, Registration};
use crate::error::Error;
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::record::QueryOptions;
use crate::retry::FailureKind;
use crate::web_enum::{FailureReason, FetchResult, RecordState};

fn head(len: u64) -> Arc<ResponseHead> {
    Arc::new(ResponseHead::new::<&str, &str>(
        200,
        "http://127.0.0.1/",
        &[],
        Some(len),
    ))
}

#[test]
fn the_last_record_to_end_settles_the_fetch_once_and_its_state_is_stored() {
    let engine = FakeEngine::new("settle", 0);
    let reg = fetch(&engine, 2);
    let (a, b) = (
        reg.take_job(&*engine).unwrap(),
        reg.take_job(&*engine).unwrap(),
    );
    assert!(reg.take_job(&*engine).is_none());
    assert_eq!(reg.state(), RecordState::Active);
    a.set_head(head(3), true);
    a.reserve(3).unwrap();
    a.commit(3);
    assert!(a.mark_syncing());
    a.finish(Outcome::Done);
    assert_eq!(engine.settles(), 0);
    b.finish(Outcome::Failed("the server went away".into()));
    assert_eq!(engine.settles(), 1, "settled exactly once");
    a.transfer_ended();
    b.transfer_ended();
    assert_eq!(engine.settles(), 1);
    reg.wait(Some(Duration::ZERO)).unwrap();
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::FetchError)
    );
    assert_eq!(reg.last_error().as_deref(), Some("the server went away"));
    // The settled state is on disk: a fresh load says the same.
    let (loaded, problems) = engine.store.load_all();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(loaded[0].state.result, FetchResult::Failure);
}

#[test]
fn an_abort_while_the_last_bytes_are_written_completes_that_body_first() {
    let engine = FakeEngine::new("abort", 0);
    let reg = fetch(&engine, 2);
    let a = reg.take_job(&*engine).unwrap();
    let b = reg.take_job(&*engine).unwrap();
    a.set_head(head(10), true);
    a.reserve(10).unwrap(); // every byte counted, not yet written
    assert!(reg.abort().unwrap());
    assert!(!reg.abort().unwrap(), "once");
    assert_eq!(
        engine.settles(),
        0,
        "a body whose bytes all arrived completes first"
    );
    assert!(b.must_stop(), "the other transfer stops");
    b.transfer_ended();
    a.commit(10);
    assert!(a.mark_syncing());
    a.finish(Outcome::Done);
    assert_eq!(engine.settles(), 1);
    assert_eq!(reg.snapshot().failure_reason, FailureReason::Aborted);
    let recs = reg.records().unwrap();
    assert_eq!(recs[0].status().state, RecordState::Done);
    assert_eq!(recs[1].status().state, RecordState::Failed);
}

#[test]
fn quota_exceeded_while_writing_fails_the_fetch_and_nothing_more_is_written() {
    let engine = FakeEngine::new("quota", 15);
    let reg = fetch(&engine, 1);
    let a = reg.take_job(&*engine).unwrap();
    a.set_head(head(100), true);
    a.reserve(10).unwrap();
    a.commit(10);
    assert!(a.reserve(10).is_err(), "over the quota");
    assert!(a.must_stop());
    assert!(!a.mark_syncing(), "no body completes for an ended record");
    a.transfer_ended();
    assert_eq!(engine.settles(), 1);
    assert_eq!(reg.snapshot().failure_reason, FailureReason::QuotaExceeded);
}

#[test]
fn a_failed_attempt_waits_for_the_retry_timer_and_goes_back_to_the_queue() {
    let engine = FakeEngine::new("retry", 0);
    let reg = fetch(&engine, 1);
    let a = reg.take_job(&*engine).unwrap();
    assert!(a.attempt_failed((FailureKind::Transient, "connection refused"), None));
    a.transfer_ended();
    assert_eq!(engine.asked(), vec![Asked::RetryAt(0)]);
    let status = reg.record(0).unwrap().status();
    assert_eq!(status.state, RecordState::RetryWait);
    assert_eq!(status.attempts, 1);
    assert!(status.retry_in.is_some());
    assert!(reg.take_job(&*engine).is_none(), "waiting, not queued");
    // The timer's turn.
    reg.job(0, &*engine).requeue();
    assert_eq!(engine.asked(), vec![Asked::RetryAt(0), Asked::Kick]);
    assert_eq!(reg.record(0).unwrap().status().state, RecordState::Queued);
    assert!(reg.take_job(&*engine).is_some());
}

#[test]
fn a_listener_is_greeted_once_and_its_guard_removes_it() {
    let engine = FakeEngine::new("listen", 0);
    let reg = fetch(&engine, 1);
    let (calls, guard, id) = counting_listener(&engine, &reg);
    // The greeting and a regular call race: whichever runs first, it is called once each
    // time, and the greeting after a regular call is skipped.
    reg.run_progress_listeners(None);
    reg.run_progress_listeners(Some(id));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    reg.run_progress_listeners(None);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    drop(guard);
    reg.run_progress_listeners(None);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "never after its guard is dropped"
    );
}

#[test]
fn close_and_a_dead_thread_end_waits_and_refuse_calls() {
    let engine = FakeEngine::new("close", 0);
    let reg = fetch(&engine, 1);
    assert!(matches!(
        reg.wait(Some(Duration::ZERO)),
        Err(Error::Timeout(_))
    ));
    engine.life.begin_close();
    assert!(
        matches!(reg.wait(None), Err(Error::Closed(_))),
        "a wait ends"
    );
    assert!(
        reg.add_progress_listener(Arc::new(|_: &Arc<Registration>| {}))
            .is_err(),
        "no listener once closing"
    );
    let broken = FakeEngine::new("broken", 0);
    let reg = fetch(&broken, 1);
    broken.thread_died("the sync thread stopped");
    assert!(matches!(reg.abort(), Err(Error::Internal(_))));
    assert!(matches!(
        reg.match_all(None, QueryOptions::default()),
        Err(Error::Internal(_))
    ));
    assert_eq!(reg.snapshot().result, FetchResult::None, "getters answer");
}
