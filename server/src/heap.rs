//! The server's allocator: mimalloc, which also counts live heap bytes when asked, so memory per
//! session is measured exactly (RSS also counts the allocator's free lists and fragmentation).
//! Counting is off unless asked for (`--count-heap`): the count is one shared atomic per allocation.

use mimalloc::MiMalloc as Inner;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// mimalloc, counting live bytes while [`enable`] is in force; the server binary installs it.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Adds `bytes` (negative when freed) while counting is on.
fn count(bytes: isize) {
    if ON.load(Relaxed) {
        LIVE.fetch_add(bytes, Relaxed);
    }
}

// SAFETY: every call is passed unchanged to mimalloc; the counter is only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { Inner.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { Inner.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        unsafe { Inner.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n as isize - l.size() as isize);
        unsafe { Inner.realloc(p, l, n) }
    }
}

/// Starts counting. Blocks freed later than that but allocated before subtract what was never
/// added, so the figure is a difference between two readings, not an absolute size.
pub fn enable() {
    ON.store(true, Relaxed);
}

/// Live bytes counted since [`enable`], or `None` when counting is off.
pub fn live() -> Option<isize> {
    ON.load(Relaxed).then(|| LIVE.load(Relaxed))
}

/// Returns freed pages to the OS at once instead of 10 ms later at the allocator's next call,
/// which on an idle server may not come for a long time: an idle server's RSS is then what its
/// sessions hold (3.8 KiB per session at 9,000 rather than 4.1).
pub fn return_freed_pages_at_once() {
    // `mi_option_purge_delay` in mimalloc.h, between `mi_option_eager_commit_delay` (14) and
    // `mi_option_use_numa_nodes` (16), which libmimalloc-sys names; this one it does not.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one integer option; mimalloc reads it whenever it schedules a purge.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}
