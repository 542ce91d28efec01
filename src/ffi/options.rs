//! `bgfetch_options`: the options of a fetch (its UI and download total).

use std::ffi::c_char;

use parking_lot::Mutex;

use super::status::*;
use super::{boundary, free_raw, into_raw, try_opt_str, try_ref, try_str};
use crate::request::{FetchOptions, Icon};

/// Options of a fetch (opaque): title, icons, download total. Owned by the caller; free with
/// `bgfetch_options_free`. Thread safety: usable from any thread; changes are serialized.
/// Lifetime: independent of any manager; `bgfetch_fetch` and `update_ui` copy it.
pub struct bgfetch_options {
    pub(crate) inner: Mutex<FetchOptions>,
}

/// New options: no title, no icons, no download total. Owned: free with
/// `bgfetch_options_free`.
#[no_mangle]
pub extern "C" fn bgfetch_options_new() -> *mut bgfetch_options {
    super::boundary_value(std::ptr::null_mut(), || {
        Ok(into_raw(bgfetch_options {
            inner: Mutex::new(FetchOptions::default()),
        }))
    })
}

/// Sets the title.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_options_set_title(
    o: *mut bgfetch_options,
    title: *const c_char,
) -> bgfetch_status {
    boundary(|| {
        let o = try_ref(o, "options")?;
        let t = try_str(title, "title")?;
        o.inner.lock().title = Some(t.to_string());
        Ok(())
    })
}

/// Adds an icon. `src` is required; `sizes`, `type` and `label` may be NULL.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_options_add_icon(
    o: *mut bgfetch_options,
    src: *const c_char,
    sizes: *const c_char,
    mime_type: *const c_char,
    label: *const c_char,
) -> bgfetch_status {
    boundary(|| {
        let o = try_ref(o, "options")?;
        let src = try_str(src, "src")?;
        if src.is_empty() {
            return Err(crate::error::Error::invalid("src is empty"));
        }
        let icon = Icon {
            src: src.to_string(),
            sizes: try_opt_str(sizes, "sizes")?.unwrap_or("").to_string(),
            type_: try_opt_str(mime_type, "mime_type")?
                .unwrap_or("")
                .to_string(),
            label: try_opt_str(label, "label")?.unwrap_or("").to_string(),
        };
        o.inner.lock().icons.push(icon);
        Ok(())
    })
}

/// Sets the download total: the most bytes the responses may hold in all; 0 = no limit.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_options_set_download_total(
    o: *mut bgfetch_options,
    bytes: u64,
) -> bgfetch_status {
    boundary(|| {
        try_ref(o, "options")?.inner.lock().download_total = bytes;
        Ok(())
    })
}

/// Whether the fetch starts paused (stored durably; it runs once
/// `bgfetch_registration_resume` is called). Default `false`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_options_set_start_paused(
    o: *mut bgfetch_options,
    paused: bool,
) -> bgfetch_status {
    boundary(|| {
        try_ref(o, "options")?.inner.lock().start_paused = paused;
        Ok(())
    })
}

/// Frees options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_options_free(o: *mut bgfetch_options) {
    super::boundary_value((), || {
        free_raw(o);
        Ok(())
    })
}
