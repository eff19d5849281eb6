use serde::{Deserialize, Serialize};

/// Element type of stored vectors. Vectors keep their native type on disk (u8 stays u8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    U8,
    I8,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::U8 | DType::I8 => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::U8 => "u8",
            DType::I8 => "i8",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// A scalar type vectors may be stored in: f32, u8 or i8. Sealed, because the
/// kernels dispatch on `DTYPE` and reinterpret slices as that concrete type.
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + 'static + Default + std::fmt::Debug
{
    const DTYPE: DType;
    fn to_f32(self) -> f32;
    /// Reinterprets little-endian bytes as a slice of `Self`. Returns None when the
    /// buffer is misaligned or its length is not a multiple of the element size.
    fn cast_slice(bytes: &[u8]) -> Option<&[Self]>;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn cast_slice(bytes: &[u8]) -> Option<&[Self]> {
        if !bytes.len().is_multiple_of(4)
            || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>())
        {
            return None;
        }
        // SAFETY: alignment and length checked above; every bit pattern is a valid f32.
        Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4) })
    }
}

impl Element for u8 {
    const DTYPE: DType = DType::U8;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn cast_slice(bytes: &[u8]) -> Option<&[Self]> {
        Some(bytes)
    }
}

impl Element for i8 {
    const DTYPE: DType = DType::I8;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn cast_slice(bytes: &[u8]) -> Option<&[Self]> {
        // SAFETY: i8 and u8 have the same size and alignment.
        Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const i8, bytes.len()) })
    }
}

/// A slice of some `Element` seen as its concrete type, so generic entry points can
/// dispatch to kernels written per type.
pub(crate) enum Native<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
    I8(&'a [i8]),
}

pub(crate) fn native<T: Element>(x: &[T]) -> Native<'_> {
    let (p, n) = (x.as_ptr(), x.len());
    // SAFETY: `Element` is implemented only for f32, u8 and i8, and `DTYPE` names the
    // implementing type, so each cast reinterprets a slice as its own type.
    unsafe {
        match T::DTYPE {
            DType::F32 => Native::F32(std::slice::from_raw_parts(p as *const f32, n)),
            DType::U8 => Native::U8(std::slice::from_raw_parts(p as *const u8, n)),
            DType::I8 => Native::I8(std::slice::from_raw_parts(p as *const i8, n)),
        }
    }
}
