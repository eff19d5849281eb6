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

/// A scalar type vectors may be stored in. Kernels are generic over it so one
/// unrolled loop serves f32, u8 and i8 (the conversion vectorises).
pub trait Element: Copy + Send + Sync + 'static + Default + std::fmt::Debug {
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
        if bytes.len() % 4 != 0 || (bytes.as_ptr() as usize) % std::mem::align_of::<f32>() != 0 {
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
