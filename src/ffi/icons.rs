//! `bgfetch_icons`: a registration's icons, as an owned list.

use std::ffi::{c_char, CString};

use super::status::*;
use super::{boundary, boundary_value, cstring, free_raw, try_ref};
use crate::error::Error;
use crate::request::Icon;

/// A list of icons (opaque). Owned: free with `bgfetch_icons_free`. Thread safety: read-only,
/// usable from any thread. Lifetime: a copy, independent of the registration or options it
/// came from.
pub struct bgfetch_icons {
    items: Vec<[CString; 4]>,
}

impl bgfetch_icons {
    pub(crate) fn new(icons: &[Icon]) -> bgfetch_icons {
        bgfetch_icons {
            items: icons
                .iter()
                .map(|i| {
                    [
                        cstring(&i.src),
                        cstring(&i.sizes),
                        cstring(&i.type_),
                        cstring(&i.label),
                    ]
                })
                .collect(),
        }
    }
}

/// Number of icons; 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_icons_len(icons: *const bgfetch_icons) -> usize {
    boundary_value(0, || Ok(try_ref(icons, "icons")?.items.len()))
}

/// Icon `i`: its `src`, `sizes`, `type` and `label` (`""` where not given). Any out-pointer may
/// be NULL to skip it. The strings are borrowed from the list. `BGFETCH_E_INVALID_ARGUMENT` if
/// `i` is out of range.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_icons_get(
    icons: *const bgfetch_icons,
    i: usize,
    src: *mut *const c_char,
    sizes: *mut *const c_char,
    mime_type: *mut *const c_char,
    label: *mut *const c_char,
) -> bgfetch_status {
    boundary(|| {
        let outs = [src, sizes, mime_type, label];
        for o in outs {
            if !o.is_null() {
                super::try_out(o, "out")?;
            }
        }
        let icons = try_ref(icons, "icons")?;
        let item = icons
            .items
            .get(i)
            .ok_or_else(|| Error::invalid(format!("icon index {i} is out of range")))?;
        for (o, s) in outs.into_iter().zip(item.iter()) {
            if !o.is_null() {
                *super::try_out(o, "out")? = s.as_ptr();
            }
        }
        Ok(())
    })
}

/// Frees a list of icons. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_icons_free(icons: *mut bgfetch_icons) {
    boundary_value((), || {
        free_raw(icons);
        Ok(())
    })
}
