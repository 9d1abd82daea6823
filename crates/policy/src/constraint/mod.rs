//! Queue constraints: the six fields, the six operators, parsing a `BatchJobConstraint` into
//! typed rules once, and evaluating them against a job's values.
//!
//! | field      | operators                                   | value syntax            |
//! |------------|---------------------------------------------|-------------------------|
//! | WallTime   | LessThan GreaterThan Equal In NotIn Exists  | duration (`30m`, `1h`)  |
//! | Memory     | same                                        | quantity (`123Mi`)      |
//! | Cpu        | same                                        | quantity (`100m`)       |
//! | Gpu        | same                                        | whole number (`0`, `2`) |
//! | GpuModel   | Equal In NotIn Exists                       | string                  |
//! | RetryLimit | LessThan GreaterThan Equal In NotIn Exists  | whole number            |

mod parse;

pub use parse::ConstraintSet;

use crate::duration::WallTime;
use crate::quantity::Quantity;
use std::cmp::Ordering;
use std::fmt;

/// The job property a constraint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `maxWallTime` of each task group.
    WallTime,
    /// Effective pod memory of one task.
    Memory,
    /// Effective pod CPU of one task.
    Cpu,
    /// `nvidia.com/gpu` of one task.
    Gpu,
    /// `spec.batchNodeSelector.gpuType` of the job.
    GpuModel,
    /// `retryLimit` of each task group.
    RetryLimit,
}

impl Field {
    /// Every field, in the SPEC's order.
    pub const ALL: [Field; 6] = [
        Field::WallTime,
        Field::Memory,
        Field::Cpu,
        Field::Gpu,
        Field::GpuModel,
        Field::RetryLimit,
    ];

    /// The name written in a constraint.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::WallTime => "WallTime",
            Field::Memory => "Memory",
            Field::Cpu => "Cpu",
            Field::Gpu => "Gpu",
            Field::GpuModel => "GpuModel",
            Field::RetryLimit => "RetryLimit",
        }
    }

    /// Parses a constraint's `name`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether the field may be used with `operator`.
    pub fn allows(self, operator: Operator) -> bool {
        match self {
            Field::GpuModel => !matches!(operator, Operator::LessThan | Operator::GreaterThan),
            _ => true,
        }
    }

    /// Parses one value written for this field.
    pub fn parse_value(self, text: &str) -> Result<Value, String> {
        match self {
            Field::WallTime => WallTime::parse(text)
                .map(Value::Duration)
                .map_err(|e| e.to_string()),
            Field::Memory | Field::Cpu => Quantity::parse(text)
                .map_err(|e| e.to_string())
                .and_then(|q| {
                    if q.is_negative() {
                        Err(format!("{text:?} is negative"))
                    } else {
                        Ok(Value::Quantity(q))
                    }
                }),
            Field::Gpu => Quantity::parse(text)
                .map_err(|e| e.to_string())
                .and_then(|q| {
                    if q.is_negative() || q.nanos() % 1_000_000_000 != 0 {
                        Err(format!(
                            "{text:?} is not a whole number of GPUs (0, 1, 2, …)"
                        ))
                    } else {
                        Ok(Value::Quantity(q))
                    }
                }),
            // retryLimit is an int32 in the job, so larger operands could never be compared.
            Field::RetryLimit => match text.parse::<i32>() {
                Ok(n) if n >= 0 => Ok(Value::Integer(i64::from(n))),
                _ => Err(format!(
                    "{text:?} is not a whole number from 0 to 2147483647"
                )),
            },
            Field::GpuModel => {
                if text.is_empty() {
                    Err("a GPU model cannot be empty".to_owned())
                } else {
                    Ok(Value::Text(text.to_owned()))
                }
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the job's value is compared with the constraint's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// Strictly below the single value.
    LessThan,
    /// Strictly above the single value.
    GreaterThan,
    /// Equal to the single value.
    Equal,
    /// Equal to one of the values.
    In,
    /// Equal to none of the values (an unset field satisfies it).
    NotIn,
    /// Set at all; takes no values.
    Exists,
}

impl Operator {
    /// Every operator.
    pub const ALL: [Operator; 6] = [
        Operator::LessThan,
        Operator::GreaterThan,
        Operator::Equal,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
    ];

    /// The name written in a constraint.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::LessThan => "LessThan",
            Operator::GreaterThan => "GreaterThan",
            Operator::Equal => "Equal",
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
        }
    }

    /// Parses a constraint's `operator`.
    pub fn parse(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether `count` values are right for this operator, and if not what is expected.
    pub fn check_arity(self, count: usize) -> Result<(), &'static str> {
        match self {
            Operator::LessThan | Operator::GreaterThan | Operator::Equal if count != 1 => {
                Err("exactly one value")
            }
            Operator::In | Operator::NotIn if count == 0 => Err("at least one value"),
            Operator::Exists if count != 0 => Err("no values"),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed value of one of the fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// WallTime.
    Duration(WallTime),
    /// Memory, Cpu, Gpu.
    Quantity(Quantity),
    /// RetryLimit.
    Integer(i64),
    /// GpuModel.
    Text(String),
}

impl Value {
    /// Orders two values of the same field; `None` across fields (never compared).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
            (Value::Quantity(a), Value::Quantity(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Duration(d) => write!(f, "{d}"),
            Value::Quantity(q) => write!(f, "{q}"),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

/// One parsed rule of a `BatchJobConstraint`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// The job property.
    pub field: Field,
    /// The comparison.
    pub operator: Operator,
    /// The operands, typed for `field`.
    pub values: Vec<Value>,
    /// The operands as written, for messages and for defaults copied into jobs.
    pub raw_values: Vec<String>,
    /// An explicit `default`, typed and as written.
    pub default: Option<(Value, String)>,
}

impl Constraint {
    /// Whether a job whose value is `actual` (`None` when unset) satisfies the rule.
    ///
    /// An unset value satisfies only `NotIn`.
    pub fn holds(&self, actual: Option<&Value>) -> bool {
        let Some(actual) = actual else {
            return self.operator == Operator::NotIn;
        };
        let is = |v: &Value, wanted: Ordering| actual.compare(v) == Some(wanted);
        match self.operator {
            Operator::LessThan => self.values.iter().all(|v| is(v, Ordering::Less)),
            Operator::GreaterThan => self.values.iter().all(|v| is(v, Ordering::Greater)),
            Operator::Equal | Operator::In => self.values.iter().any(|v| is(v, Ordering::Equal)),
            Operator::NotIn => !self.values.iter().any(|v| is(v, Ordering::Equal)),
            Operator::Exists => true,
        }
    }

    /// The value given to a job that leaves the field unset: the explicit `default`, else the
    /// single value of `Equal`, else the first value of `In`.
    pub fn default_value(&self) -> Option<(&Value, &str)> {
        if let Some((v, raw)) = &self.default {
            return Some((v, raw));
        }
        match self.operator {
            Operator::Equal | Operator::In => self
                .values
                .first()
                .zip(self.raw_values.first())
                .map(|(v, raw)| (v, raw.as_str())),
            _ => None,
        }
    }

    /// The rule as an administrator wrote it, e.g. `WallTime LessThan 24h`.
    pub fn describe(&self) -> String {
        match self.operator {
            Operator::Exists => format!("{} {}", self.field, self.operator),
            Operator::In | Operator::NotIn => format!(
                "{} {} [{}]",
                self.field,
                self.operator,
                self.raw_values.join(", ")
            ),
            _ => format!(
                "{} {} {}",
                self.field,
                self.operator,
                self.raw_values.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests;
