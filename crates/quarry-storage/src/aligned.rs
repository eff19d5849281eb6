//! A heap buffer aligned to 4 KiB, as O_DIRECT requires of the memory it reads into.

use crate::layout::ALIGN;
use std::alloc::Layout;

/// One 4 KiB block; a `Vec` of them is 4 KiB-aligned memory, viewed as bytes
/// through bytemuck (no padding, every bit pattern valid).
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

const _: () = assert!(std::mem::align_of::<Block>() == ALIGN);

#[derive(Default)]
pub struct AlignedBuf {
    blocks: Vec<Block>,
    len: usize,
}

impl AlignedBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the length to `len` bytes, reallocating (zeroed) when capacity is short.
    pub fn resize(&mut self, len: usize) {
        if len > self.capacity() {
            // Free first, so the old and new buffers are never held together.
            self.blocks = Vec::new();
            // Zeroed by the allocator (calloc-style), not by a write pass; out of
            // memory aborts, as for any allocation.
            let n = len.div_ceil(ALIGN);
            self.blocks = bytemuck::try_zeroed_vec(n).unwrap_or_else(|()| {
                std::alloc::handle_alloc_error(Layout::array::<Block>(n).expect("aligned layout"))
            });
        }
        self.len = len;
    }

    /// Bytes allocated (at least `len`).
    pub fn capacity(&self) -> usize {
        self.blocks.len() * ALIGN
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.blocks)[..self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.blocks)[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_grows_by_blocks() {
        let mut b = AlignedBuf::new();
        assert!(b.is_empty() && b.as_slice().is_empty() && b.capacity() == 0);
        b.resize(10);
        assert_eq!((b.len(), b.capacity()), (10, ALIGN));
        assert!(b.as_slice().iter().all(|&x| x == 0));
        assert!((b.as_slice().as_ptr() as usize).is_multiple_of(ALIGN));
        b.as_mut_slice()[9] = 7;
        b.resize(ALIGN);
        assert_eq!((b.capacity(), b.as_slice()[9]), (ALIGN, 7));
        b.resize(ALIGN + 1);
        assert_eq!((b.len(), b.capacity()), (ALIGN + 1, 2 * ALIGN));
        assert!(b.as_slice().iter().all(|&x| x == 0));
        assert!((b.as_mut_slice().as_ptr() as usize).is_multiple_of(ALIGN));
        b.resize(0);
        assert!(b.is_empty() && b.capacity() == 2 * ALIGN);
    }
}
