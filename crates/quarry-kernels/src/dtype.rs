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
/// kernels dispatch on `DTYPE` and view slices as that concrete type.
pub trait Element:
    sealed::Sealed + bytemuck::Pod + Send + Sync + Default + std::fmt::Debug
{
    const DTYPE: DType;
    fn to_f32(self) -> f32;
    /// Reinterprets little-endian bytes as a slice of `Self`. Returns None when the
    /// buffer is misaligned or its length is not a multiple of the element size.
    #[inline]
    fn cast_slice(bytes: &[u8]) -> Option<&[Self]> {
        bytemuck::try_cast_slice(bytes).ok()
    }
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for u8 {
    const DTYPE: DType = DType::U8;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

impl Element for i8 {
    const DTYPE: DType = DType::I8;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// A slice of some `Element` seen as its concrete type, so generic entry points can
/// dispatch to kernels written per type.
pub(crate) enum Native<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
    I8(&'a [i8]),
}

/// `DTYPE` names the implementing type, so each arm casts a slice to its own type
/// (the casts cannot fail, and compile to nothing).
#[inline]
pub(crate) fn native<T: Element>(x: &[T]) -> Native<'_> {
    match T::DTYPE {
        DType::F32 => Native::F32(bytemuck::cast_slice(x)),
        DType::U8 => Native::U8(bytemuck::cast_slice(x)),
        DType::I8 => Native::I8(bytemuck::cast_slice(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_slice_checks_alignment_and_length() {
        let words = [1.5f32, -2.0];
        let bytes: &[u8] = bytemuck::cast_slice(&words);
        assert_eq!(f32::cast_slice(bytes), Some(&words[..]));
        assert_eq!(f32::cast_slice(&bytes[..7]), None);
        assert_eq!(f32::cast_slice(&bytes[1..5]), None);
        assert_eq!(i8::cast_slice(&[255u8, 1]), Some(&[-1i8, 1][..]));
        assert_eq!(u8::cast_slice(&bytes[1..4]).map(<[u8]>::len), Some(3));
        assert!(matches!(native(&[-3i8][..]), Native::I8([-3])));
    }

    #[test]
    fn with_element_binds_the_named_type() {
        fn dtype_of<T: Element>() -> DType {
            T::DTYPE
        }
        for d in [DType::F32, DType::U8, DType::I8] {
            assert_eq!(crate::with_element!(d, T => dtype_of::<T>()), d);
            assert_eq!(
                crate::with_element!(d, E => std::mem::size_of::<E>()),
                d.size()
            );
        }
    }
}
