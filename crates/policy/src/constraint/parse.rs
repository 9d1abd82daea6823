//! Turning a `BatchJobConstraint` object into typed rules, refusing anything malformed.

use super::{Constraint, Field, Operator};
use crate::api::BatchJobConstraintSpec;
use crate::violation::{Reason, Violations};

/// The parsed rules of one `BatchJobConstraint` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintSet {
    /// The object's name (constraint objects are cluster-scoped).
    pub name: String,
    /// Its rules, in order.
    pub constraints: Vec<Constraint>,
}

impl ConstraintSet {
    /// Parses and checks every rule of `spec`, reporting every problem with its index.
    ///
    /// ```
    /// use kbatch_policy::api::{BatchJobConstraintSpec, ConstraintSpec};
    /// use kbatch_policy::constraint::ConstraintSet;
    ///
    /// let spec = BatchJobConstraintSpec {
    ///     constraints: vec![ConstraintSpec {
    ///         name: "WallTime".into(),
    ///         operator: "LessThan".into(),
    ///         values: vec!["24h".into()],
    ///         default: None,
    ///     }],
    /// };
    /// let set = ConstraintSet::parse("short", &spec).unwrap();
    /// assert_eq!(set.constraints[0].describe(), "WallTime LessThan 24h");
    /// ```
    pub fn parse(name: &str, spec: &BatchJobConstraintSpec) -> Result<ConstraintSet, Violations> {
        let mut violations = Violations::new();
        let mut constraints = Vec::with_capacity(spec.constraints.len());
        for (i, c) in spec.constraints.iter().enumerate() {
            let at = format!("spec.constraints[{i}]");
            let field = Field::parse(&c.name);
            if field.is_none() {
                violations.push(
                    format!("{at}.name"),
                    Reason::UnknownConstraintField,
                    format!(
                        "unknown constraint field {:?}: expected one of WallTime, Memory, Cpu, Gpu, GpuModel, RetryLimit",
                        c.name
                    ),
                );
            }
            let operator = Operator::parse(&c.operator);
            if operator.is_none() {
                violations.push(
                    format!("{at}.operator"),
                    Reason::UnknownOperator,
                    format!(
                        "unknown operator {:?}: expected one of LessThan, GreaterThan, Equal, In, NotIn, Exists",
                        c.operator
                    ),
                );
            }
            let (Some(field), Some(operator)) = (field, operator) else {
                continue;
            };
            let before = violations.len();
            if !field.allows(operator) {
                violations.push(
                    format!("{at}.operator"),
                    Reason::UnknownOperator,
                    format!("{field} does not support {operator}: use Equal, In, NotIn or Exists"),
                );
            }
            if let Err(expected) = operator.check_arity(c.values.len()) {
                violations.push(
                    format!("{at}.values"),
                    Reason::WrongArity,
                    format!(
                        "{operator} takes {expected}, got {} ({})",
                        c.values.len(),
                        c.values.join(", ")
                    ),
                );
            }
            let mut values = Vec::with_capacity(c.values.len());
            for (j, raw) in c.values.iter().enumerate() {
                match field.parse_value(raw) {
                    Ok(v) => values.push(v),
                    Err(why) => violations.push(
                        format!("{at}.values[{j}]"),
                        Reason::Invalid,
                        format!("not a valid {field} value: {why}"),
                    ),
                }
            }
            let default = match &c.default {
                None => None,
                Some(raw) => match field.parse_value(raw) {
                    Ok(v) => Some((v, raw.clone())),
                    Err(why) => {
                        violations.push(
                            format!("{at}.default"),
                            Reason::Invalid,
                            format!("not a valid {field} value: {why}"),
                        );
                        None
                    }
                },
            };
            if violations.len() > before {
                continue;
            }
            let constraint = Constraint {
                field,
                operator,
                values,
                raw_values: c.values.clone(),
                default,
            };
            // A default that breaks its own rule would make every defaulted job fail.
            if let Some((value, raw)) = &constraint.default
                && !constraint.holds(Some(value))
            {
                violations.push(
                    format!("{at}.default"),
                    Reason::Invalid,
                    format!(
                        "default {raw} does not satisfy the constraint itself ({})",
                        constraint.describe()
                    ),
                );
                continue;
            }
            constraints.push(constraint);
        }
        violations.into_result().map(|()| ConstraintSet {
            name: name.to_owned(),
            constraints,
        })
    }
}
