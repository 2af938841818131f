//! The `with_*` builder methods of Quiver's option structs, defined once.
//!
//! Option structs are `#[non_exhaustive]`: outside the crate they are built from `Default` and
//! these setters, so a new option never breaks a caller.

/// Implements, for each `method => field: Type`, a `pub fn method(self, value: Type) -> Self`
/// that sets `field` (to `Some(value)` with `as Some`, for optional fields).
macro_rules! with_setters {
    ($ty:ty { $( $(#[doc = $doc:expr])* $method:ident => $field:ident : $t:ty $(as $wrap:ident)? ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[doc = $doc])*
                pub fn $method(mut self, value: $t) -> Self {
                    self.$field = $crate::options::with_setters!(@wrap value $($wrap)?);
                    self
                }
            )*
        }
    };
    (@wrap $v:ident) => { $v };
    (@wrap $v:ident Some) => { Some($v) };
}

pub(crate) use with_setters;
