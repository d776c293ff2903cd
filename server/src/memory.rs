//! The process's memory under large replies.
//!
//! Pull pages and uploads can be a few MiB each. glibc's allocator keeps
//! freed memory in per-thread arenas (one per thread, up to eight per core)
//! and, after the first large free, serves large buffers from them too: a
//! stream of 4 MiB pages left the server holding ~400 MB that no request
//! was using. Two settings keep the resident size near what is in use
//! without paying a fresh `mmap` (and its page faults, which doubled the
//! CPU of a pull attack when tried) for every large buffer: as many arenas
//! as cores, so that freed buffers are reused by whichever thread asks
//! next, and the free memory handed back to the OS once a second by the
//! housekeeping task. Other platforms' allocators are left as they are.

/// Called once, before the runtime's threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores.max(2)).unwrap_or(2);
        // SAFETY: mallopt only changes the allocator's tuning.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Hands memory the allocator holds free back to the operating system
/// (about a millisecond; called from the housekeeping task, off requests).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
