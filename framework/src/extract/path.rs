//! `Path<T>`: the route's `:param` / `*rest` captures, typed through serde.
//!
//! - One capture: `Path(id): Path<u64>` (or `String`, `bool`, an enum of
//!   unit variants ...).
//! - Several, in order: `Path((user, post)): Path<(u64, u64)>`.
//! - By name: `Path(p): Path<Params>` with `#[derive(Deserialize)] struct
//!   Params { user: u64, post: u64 }`.
//!
//! A capture that does not parse as its type (`/todos/abc` for a `u64`) is
//! **404**: the path names no resource, as if no route had matched. A type
//! that does not fit the route's captures (two for one) is a bug in the app:
//! 500, logged.

use http::StatusCode;
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

use super::{FromRequestParts, Rejection};
use crate::handler::Request;

/// The route's captures, typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts for Path<T> {
    type Rejection = Rejection;

    fn from_request_parts(req: &Request) -> Result<Self, Rejection> {
        // Up to 8 captures on the stack (no allocation); more in a Vec.
        let mut stack = [("", ""); 8];
        let mut n = 0;
        let mut heap = Vec::new();
        for pair in req.params() {
            if n < stack.len() {
                stack[n] = pair;
                n += 1;
            } else {
                if heap.is_empty() {
                    heap.extend_from_slice(&stack);
                }
                heap.push(pair);
            }
        }
        let pairs: &[(&str, &str)] = if heap.is_empty() { &stack[..n] } else { &heap };
        T::deserialize(Captures(pairs))
            .map(Path)
            .map_err(|e| match e {
                PathError::NoMatch(m) => Rejection::new(StatusCode::NOT_FOUND, m),
                PathError::Shape(m) => {
                    tracing::error!(path = req.path(), "Path<T> does not fit the route: {m}");
                    Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                }
            })
    }
}

/// Why captures could not be typed.
#[derive(Debug)]
enum PathError {
    /// A value does not parse as its type: no such resource (404).
    NoMatch(String),
    /// The type does not fit the route's captures (500).
    Shape(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::NoMatch(m) | PathError::Shape(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        PathError::NoMatch(msg.to_string())
    }
}

/// Methods of [`Captures`] that want exactly one capture.
macro_rules! one_capture {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                match self.0 {
                    [(_, value)] => Value(value).$method(visitor),
                    _ => Err(shape(self.0.len())),
                }
            }
        )*
    };
}

/// All captures: one value, a sequence (tuple) or a map (struct).
struct Captures<'a>(&'a [(&'a str, &'a str)]);

impl<'de> Deserializer<'de> for Captures<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0 {
            [(_, value)] => Value(value).deserialize_any(visitor),
            _ => self.deserialize_map(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_map(de::value::MapDeserializer::new(
            self.0.iter().map(|&(k, v)| (k, Value(v))),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(de::value::SeqDeserializer::new(
            self.0.iter().map(|&(_, v)| Value(v)),
        ))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if len != self.0.len() {
            return Err(PathError::Shape(format!(
                "a tuple of {len} for {} captures",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    one_capture! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_option
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        match self.0 {
            [(_, value)] => Value(value).deserialize_enum(name, variants, visitor),
            _ => Err(shape(self.0.len())),
        }
    }

    serde::forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct identifier ignored_any
    }
}

fn shape(captures: usize) -> PathError {
    PathError::Shape(format!("one value for {captures} captures"))
}

/// One capture's text, parsed as whatever is asked of it.
#[derive(Clone, Copy)]
struct Value<'a>(&'a str);

impl<'de> IntoDeserializer<'de, PathError> for Value<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                match self.0.parse::<$ty>() {
                    Ok(v) => visitor.$visit(v),
                    Err(_) => Err(PathError::NoMatch(format!(
                        "`{}` is not a valid {}", self.0, stringify!($ty)
                    ))),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Value<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_as! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        de::value::BorrowedStrDeserializer::<PathError>::new(self.0)
            .deserialize_enum(name, variants, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if len != 1 {
            return Err(PathError::Shape(format!("a tuple of {len} for 1 capture")));
        }
        visitor.visit_seq(de::value::SeqDeserializer::new(std::iter::once(self)))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PathError> {
        Err(PathError::Shape("a sequence for one capture".into()))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PathError> {
        Err(PathError::Shape("a map for one capture".into()))
    }

    serde::forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct tuple_struct struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn typed<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> Result<T, PathError> {
        T::deserialize(Captures(pairs))
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Ids {
        user: u64,
        post: String,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Open,
        Done,
    }

    #[test]
    fn one_value_a_tuple_and_a_struct() {
        assert_eq!(typed::<u64>(&[("id", "42")]).unwrap(), 42);
        assert_eq!(typed::<String>(&[("name", "a b")]).unwrap(), "a b");
        assert_eq!(typed::<Kind>(&[("k", "done")]).unwrap(), Kind::Done);
        assert_eq!(
            typed::<(u64, String)>(&[("a", "7"), ("b", "x")]).unwrap(),
            (7, "x".to_string())
        );
        assert_eq!(
            typed::<Ids>(&[("post", "hello"), ("user", "3")]).unwrap(),
            Ids {
                user: 3,
                post: "hello".into()
            }
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_no_match_and_a_wrong_shape_is_a_bug() {
        for bad in ["abc", "-1", "", "18446744073709551616"] {
            assert!(
                matches!(typed::<u64>(&[("id", bad)]), Err(PathError::NoMatch(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            typed::<Kind>(&[("k", "other")]),
            Err(PathError::NoMatch(_))
        ));
        assert!(matches!(
            typed::<(u64, u64)>(&[("a", "1")]),
            Err(PathError::Shape(_))
        ));
    }
}
