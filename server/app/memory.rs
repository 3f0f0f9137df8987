//! Giving memory back. glibc's allocator keeps a heap per thread that allocates, and
//! hands memory freed in the middle of one back to the system only when asked. After a
//! burst of work — many publishes, a flood of events — the freed memory would stay
//! resident for good; the `return_memory` job asks for it every ten seconds.

/// Returns the allocator's free memory to the system.
pub(super) fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is safe to call
    // from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
