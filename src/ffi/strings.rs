//! `bgfetch_strings`: an owned list of strings (the ids of `bgfetch_get_ids`).

use std::ffi::{c_char, CString};

use super::{boundary_value, free_raw};

/// A list of strings (opaque). Owned by the caller: free with `bgfetch_strings_free`.
/// Thread safety: read-only, usable from any thread. Lifetime: a copy, independent of its
/// manager.
pub struct bgfetch_strings {
    pub(crate) items: Vec<CString>,
}

/// Number of strings; 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_strings_len(s: *const bgfetch_strings) -> usize {
    boundary_value(0, || Ok(super::try_ref(s, "strings")?.items.len()))
}

/// String `i`, or NULL if `i` is out of range. Borrowed: lives as long as the list.
#[no_mangle]
pub extern "C" fn bgfetch_strings_get(s: *const bgfetch_strings, i: usize) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        let s = super::try_ref(s, "strings")?;
        Ok(s.items.get(i).map_or(std::ptr::null(), |c| c.as_ptr()))
    })
}

/// Frees a list. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_strings_free(s: *mut bgfetch_strings) {
    boundary_value((), || {
        free_raw(s);
        Ok(())
    })
}
