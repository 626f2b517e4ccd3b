//! Strings and byte buffers across the boundary: borrowed on the way in, library-owned on the way out.

use crate::error::{guard, Error, FdStatus, Res};
use std::ffi::{c_char, CStr, CString};

/// Bytes the library allocated (a frame to send); free them with `fd_bytes_free`, never with `free()`.
#[repr(C)]
#[derive(Debug)]
pub struct FdBytes {
    /// First byte; NULL when `len` is 0.
    pub data: *mut u8,
    /// Number of bytes.
    pub len: usize,
}

impl FdBytes {
    /// The empty buffer written before a call fills it, so error paths leave nothing to free.
    pub const EMPTY: FdBytes = FdBytes { data: std::ptr::null_mut(), len: 0 };

    /// Hands a vector to C; the capacity is trimmed so `len` alone rebuilds it.
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.is_empty() {
            return FdBytes::EMPTY;
        }
        let b = v.into_boxed_slice();
        let len = b.len();
        FdBytes { data: Box::into_raw(b) as *mut u8, len }
    }
}

/// A borrowed, NUL-terminated UTF-8 argument; `what` names it in the error message.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Res<&'a str> {
    if p.is_null() {
        return Err(Error::null(what));
    }
    CStr::from_ptr(p).to_str().map_err(|_| Error::new(FdStatus::FD_ERR_INVALID_UTF8, format!("{what} is not valid UTF-8")))
}

/// Like [`arg_str`], but NULL means "not given".
pub(crate) unsafe fn arg_opt_str<'a>(p: *const c_char, what: &str) -> Res<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_str(p, what).map(Some)
    }
}

/// A borrowed array of `n` strings; NULL is fine only when `n` is 0.
pub(crate) unsafe fn arg_str_array(items: *const *const c_char, n: usize, what: &str) -> Res<Vec<String>> {
    if n == 0 {
        return Ok(vec![]);
    }
    if items.is_null() {
        return Err(Error::null(what));
    }
    (0..n).map(|i| arg_str(*items.add(i), &format!("{what}[{i}]")).map(str::to_owned)).collect()
}

/// A borrowed byte buffer; NULL is fine only when `len` is 0.
pub(crate) unsafe fn arg_bytes<'a>(data: *const u8, len: usize, what: &str) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::null(what));
    }
    Ok(std::slice::from_raw_parts(data, len))
}

/// Checks an out-pointer before any work is done, so a NULL never costs a state change.
pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> Res<*mut T> {
    if p.is_null() {
        Err(Error::null(what))
    } else {
        Ok(p)
    }
}

/// Moves a string into C ownership (freed by `fd_string_free`).
pub(crate) fn into_c_string(s: String) -> Res<*mut c_char> {
    CString::new(s).map(CString::into_raw).map_err(|_| Error::new(FdStatus::FD_ERR_INTERNAL, "output contains a NUL byte"))
}

/// Frees a string returned by the library; NULL is a no-op. Never pass it to `free()`.
///
/// # Safety
/// `s` must be NULL or a string returned through a `char **` out-parameter of this library and not
/// yet freed.
#[no_mangle]
pub unsafe extern "C" fn fd_string_free(s: *mut c_char) {
    if !s.is_null() {
        let _ = guard(|| {
            drop(CString::from_raw(s));
            Ok(())
        });
    }
}

/// Frees a byte buffer returned by the library and resets it to empty; NULL or empty is a no-op.
///
/// # Safety
/// `bytes` must be NULL or point to an `FdBytes` filled by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fd_bytes_free(bytes: *mut FdBytes) {
    if bytes.is_null() || (*bytes).data.is_null() {
        return;
    }
    let b = &mut *bytes;
    let _ = guard(|| {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(b.data, b.len)));
        Ok(())
    });
    *b = FdBytes::EMPTY;
}
