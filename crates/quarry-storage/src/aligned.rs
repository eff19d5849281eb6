//! A heap buffer aligned to 4 KiB, as O_DIRECT requires of the memory it reads into.

use crate::layout::ALIGN;
use std::alloc::{alloc_zeroed, dealloc, Layout};

pub struct AlignedBuf {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    pub fn new() -> Self {
        AlignedBuf {
            ptr: std::ptr::null_mut(),
            cap: 0,
            len: 0,
        }
    }

    /// Sets the length to `len` bytes, reallocating (zeroed) when capacity is short.
    pub fn resize(&mut self, len: usize) {
        if len > self.cap {
            let cap = len.div_ceil(ALIGN) * ALIGN;
            self.free();
            let layout = Layout::from_size_align(cap, ALIGN).expect("aligned layout");
            // SAFETY: cap > 0 because len > self.cap >= 0.
            let ptr = unsafe { alloc_zeroed(layout) };
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            self.ptr = ptr;
            self.cap = cap;
        }
        self.len = len;
    }

    /// Bytes allocated (at least `len`).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr is valid for cap >= len initialised (zeroed or read) bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as above, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    fn free(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: allocated in `resize` with this exact layout.
            unsafe { dealloc(self.ptr, Layout::from_size_align_unchecked(self.cap, ALIGN)) };
            self.ptr = std::ptr::null_mut();
            self.cap = 0;
        }
    }
}

impl Default for AlignedBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        self.free();
    }
}
