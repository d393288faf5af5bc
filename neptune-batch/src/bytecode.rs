//! Gremlin bytecode: a traversal as a list of steps whose arguments travel as typed values,
//! never spliced into query text.

use crate::graphson::{GValue, Typed};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;

/// One source or step instruction: its name and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The step name, e.g. `V`, `addE`, `mergeE`.
    pub operator: String,
    /// The arguments.
    pub arguments: Vec<GValue>,
}

/// A traversal in bytecode form. [`Bytecode::new`] starts at `g`; the same type serves for
/// anonymous (`__.`) traversals passed as arguments.
///
/// ```
/// use neptune_batch::gremlin::{Bytecode, GValue};
/// let t = Bytecode::new()
///     .step("V", ["a"])
///     .step("outE", ["follows"])
///     .step("count", [] as [GValue; 0]);
/// assert_eq!(t.steps().len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bytecode {
    sources: Vec<Instruction>,
    steps: Vec<Instruction>,
}

impl Bytecode {
    /// An empty traversal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step.
    pub fn step<A, I>(mut self, operator: &str, arguments: I) -> Self
    where
        A: Into<GValue>,
        I: IntoIterator<Item = A>,
    {
        self.push(operator, arguments.into_iter().map(Into::into).collect());
        self
    }

    /// Appends a step without arguments.
    pub fn then(self, operator: &str) -> Self {
        self.step(operator, std::iter::empty::<GValue>())
    }

    /// Appends a step in place.
    pub fn push(&mut self, operator: &str, arguments: Vec<GValue>) {
        self.steps.push(Instruction {
            operator: operator.to_owned(),
            arguments,
        });
    }

    /// Appends a source instruction (e.g. `withSideEffect`).
    pub fn source<A, I>(mut self, operator: &str, arguments: I) -> Self
    where
        A: Into<GValue>,
        I: IntoIterator<Item = A>,
    {
        self.sources.push(Instruction {
            operator: operator.to_owned(),
            arguments: arguments.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// The steps.
    pub fn steps(&self) -> &[Instruction] {
        &self.steps
    }

    /// The source instructions.
    pub fn sources(&self) -> &[Instruction] {
        &self.sources
    }

    /// Encodes as GraphSON 3.0 `g:Bytecode` (the [`Serialize`](serde::Serialize) form as a
    /// JSON tree).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `[operator, arg, ...]`.
impl Serialize for Instruction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.arguments.len() + 1))?;
        seq.serialize_element(&self.operator)?;
        for a in &self.arguments {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

/// `{"@type": "g:Bytecode", "@value": {"step": [...], "source": [...]}}`, written straight to
/// the output.
impl Serialize for Bytecode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Body<'a>(&'a Bytecode);
        impl Serialize for Body<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let b = self.0;
                let fields = usize::from(!b.steps.is_empty()) + usize::from(!b.sources.is_empty());
                let mut m = s.serialize_map(Some(fields))?;
                if !b.steps.is_empty() {
                    m.serialize_entry("step", &b.steps)?;
                }
                if !b.sources.is_empty() {
                    m.serialize_entry("source", &b.sources)?;
                }
                m.end()
            }
        }
        Typed("g:Bytecode", &Body(self)).serialize(s)
    }
}

/// Starts an anonymous traversal (`__.`) with one step.
pub fn anon<A, I>(operator: &str, arguments: I) -> Bytecode
where
    A: Into<GValue>,
    I: IntoIterator<Item = A>,
{
    Bytecode::new().step(operator, arguments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_and_arguments_are_encoded_as_typed_values() {
        let b = Bytecode::new()
            .step("V", ["a'); g.V().drop(); ('"])
            .step("limit", [GValue::Long(10)]);
        assert_eq!(
            b.to_json(),
            json!({"@type":"g:Bytecode","@value":{"step":[
                ["V","a'); g.V().drop(); ('"],
                ["limit",{"@type":"g:Int64","@value":10}]
            ]}})
        );
    }
}
