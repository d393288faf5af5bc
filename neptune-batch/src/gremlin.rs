//! The Gremlin language as the sink, its transport and its queries speak it: traversals in
//! bytecode form and the typed values they carry and return.
//!
//! * [`Bytecode`] (with [`Instruction`] and [`anon`] for `__.` traversals): a traversal as a
//!   list of steps whose arguments are values, never text to splice.
//! * [`GValue`]: a value in a request or an answer, read from GraphSON 3.0 or GraphBinary 1.0
//!   alike; [`T`], [`Direction`], [`Merge`], [`Order`], [`Column`] and [`Cardinality`]: the
//!   tokens used as
//!   arguments.
//!
//! ```
//! use neptune_batch::gremlin::{anon, Bytecode, GValue, T};
//!
//! let followers = Bytecode::new()
//!     .step("V", ["1"])
//!     .step("in", ["follows"])
//!     .step("project", ["id"])
//!     .step("by", [T::Id])
//!     .step("where", [anon("outE", ["follows"])]);
//! assert_eq!(followers.steps().len(), 5);
//! assert_eq!(followers.steps()[3].arguments, vec![GValue::T(T::Id)]);
//! ```

pub use crate::bytecode::{anon, Bytecode, Instruction};
pub use crate::graphson::{Cardinality, Column, Direction, GValue, Merge, Order, T};
