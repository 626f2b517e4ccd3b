//! Live heap bytes, counted by a global allocator the server binary installs, so memory per
//! session is measured exactly (RSS also counts the allocator's free lists and fragmentation).
//! Off unless asked for (`--count-heap`): the count is one shared atomic per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The system allocator, counting live bytes while [`enable`] is in force.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Adds `bytes` (negative when freed) while counting is on.
fn count(bytes: isize) {
    if ON.load(Relaxed) {
        LIVE.fetch_add(bytes, Relaxed);
    }
}

// SAFETY: every call is passed unchanged to `System`; the counter is only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n as isize - l.size() as isize);
        unsafe { System.realloc(p, l, n) }
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
