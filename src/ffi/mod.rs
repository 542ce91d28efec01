//! The C ABI. The only module with `unsafe` code: pointer checks, the panic boundary, the
//! thread's last error, and conversions between C handles and the core's types.
//!
//! Conventions (see README "API conventions"): every exported function runs inside
//! `boundary` (or `boundary_value` for getters), so no panic unwinds into the host;
//! out-pointers are set to NULL/0 first and written only on success; every `_free` accepts
//! NULL.
//!
//! Pointer arguments are the C caller's responsibility (valid or NULL, as the header
//! documents); NULL is always checked. That is the contract of a C ABI, hence the allow below.
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::Error;

// In the order of the header (cbindgen follows it): the user's path from version and errors
// to strings. Blank lines keep rustfmt from sorting them.
pub mod status;

pub mod config;

pub mod manager;

pub mod request;

pub mod options;

pub mod icons;

pub mod registration;

pub mod record;

pub mod response;

pub mod strings;

use status::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if !e.as_bytes().is_empty() {
            *e = CString::default();
        }
    });
}

pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The panic boundary of every fallible exported function: runs `f`, turns its error into a
/// status code and this thread's last error, and a panic into `BGFETCH_E_INTERNAL`.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> bgfetch_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            BGFETCH_OK
        }
        Ok(Err(e)) => {
            set_last_error(e.message());
            status_of(&e)
        }
        Err(p) => {
            set_last_error(&format!("internal error: {}", crate::panic::message(&*p)));
            BGFETCH_E_INTERNAL
        }
    }
}

/// The panic boundary of getters and `_free` functions: `default` on error or panic. A
/// successful call clears this thread's last error, as every successful call does.
pub(crate) fn boundary_value<T>(default: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => {
            clear_last_error();
            v
        }
        Ok(Err(e)) => {
            set_last_error(e.message());
            default
        }
        Err(p) => {
            set_last_error(&format!("internal error: {}", crate::panic::message(&*p)));
            default
        }
    }
}

/// A shared reference from a C pointer, or `InvalidArgument` naming the argument.
pub(crate) fn try_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller passes NULL or a live object of this type (the C contract).
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// Checks and clears an out-pointer; returns it for writing on success.
pub(crate) fn try_out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error>
where
    T: Zeroed,
{
    // SAFETY: the caller passes NULL or a writable location (the C contract).
    let r = unsafe { p.as_mut() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))?;
    *r = T::zeroed();
    Ok(r)
}

/// Values an out-pointer is cleared to.
pub(crate) trait Zeroed {
    fn zeroed() -> Self;
}
impl<T> Zeroed for *mut T {
    fn zeroed() -> Self {
        std::ptr::null_mut()
    }
}
impl<T> Zeroed for *const T {
    fn zeroed() -> Self {
        std::ptr::null()
    }
}
impl Zeroed for bool {
    fn zeroed() -> Self {
        false
    }
}
impl Zeroed for u32 {
    fn zeroed() -> Self {
        0
    }
}
impl Zeroed for usize {
    fn zeroed() -> Self {
        0
    }
}

/// A UTF-8 string from a C string.
pub(crate) fn try_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and NUL-terminated per the C contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// Like [`try_str`], but NULL is `None`.
pub(crate) fn try_opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        Ok(None)
    } else {
        try_str(p, what).map(Some)
    }
}

/// A slice from a C pointer and length (NULL allowed only for length 0).
pub(crate) fn try_slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and `len` elements long per the C contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The body of the `*_read` functions: clears `*n_read`, checks `source` (the object read
/// from), then, unless `cap` is 0, lends `read` the `cap` bytes at `buf` and stores how many
/// it filled.
pub(crate) fn read_into<T>(
    buf: *mut u8,
    cap: usize,
    n_read: *mut usize,
    source: Result<T, Error>,
    read: impl FnOnce(T, &mut [u8]) -> Result<usize, Error>,
) -> Result<(), Error> {
    let n_read = try_out(n_read, "n_read")?;
    let source = source?;
    if cap == 0 {
        return Ok(());
    }
    if buf.is_null() {
        return Err(Error::invalid("buf is NULL"));
    }
    // SAFETY: `buf` holds `cap` writable bytes (the C contract).
    let slice = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    *n_read = read(source, slice)?;
    Ok(())
}

/// Copies `text` to `buf` as `snprintf` does: at most `cap - 1` bytes and a NUL (nothing when
/// `buf` is NULL or `cap` is 0); returns the full length, so that a caller can size its buffer.
pub(crate) fn copy_text_out(text: &str, buf: *mut c_char, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = text.len().min(cap - 1);
        // SAFETY: `buf` holds `cap` writable bytes (the C contract), and n < cap.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, n);
            *buf.add(n) = 0;
        }
    }
    text.len()
}

/// A C timeout in milliseconds (-1 = forever) as a duration (`None` = forever).
pub(crate) fn timeout_of(ms: i64) -> Result<Option<Duration>, Error> {
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        _ => Err(Error::invalid("timeout must be -1 (forever) or >= 0")),
    }
}

/// A C string made from Rust text (interior NULs escaped).
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\\0")).unwrap_or_default())
}

/// Moves a value to the heap for C.
pub(crate) fn into_raw<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Frees what [`into_raw`] made; NULL is a no-op.
pub(crate) fn free_raw<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: made by `into_raw` and not freed before (the C contract).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A userdata finalizer (`free_userdata` of the callback setters): called exactly once with
/// the userdata when the library lets go of it, after the last call of the callback it was
/// given with. May be NULL.
///
/// - Runs on the thread whose call let go of the userdata (the setter that replaced or cleared
///   the callback, `bgfetch_registration_free`, `bgfetch_manager_close`), or on the event
///   thread right after the callback returns when that call came from inside the callback.
/// - It may free the userdata and call `bgfetch_` functions, except the setter or free that is
///   running it.
pub type bgfetch_free_callback = Option<unsafe extern "C" fn(userdata: *mut std::ffi::c_void)>;

/// A `void *` userdata that the host promises may be used from the library's threads, with
/// its finalizer, which runs when the last copy of this value is dropped.
pub(crate) struct UserData {
    ptr: *mut std::ffi::c_void,
    free: bgfetch_free_callback,
}
// SAFETY: the header documents that callbacks and finalizers run on the library's event
// thread (or in dispatch, or in the call that lets go); the host chose to pass this pointer
// under that contract.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes the userdata and its finalizer (which runs when the value is dropped).
    pub(crate) fn new(ptr: *mut std::ffi::c_void, free: bgfetch_free_callback) -> UserData {
        UserData { ptr, free }
    }

    /// The pointer, for the host's callback.
    pub(crate) fn ptr(&self) -> *mut std::ffi::c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free.take() {
            let ptr = self.ptr;
            // The host's finalizer: a panic cannot come out of C, but contain ours anyway.
            crate::panic::contain("userdata finalizer", || {
                // SAFETY: the host's finalizer, called once with its userdata, as documented.
                unsafe { free(ptr) }
            });
        }
    }
}
