//! What a job costs: hourly prices × effective pod requests × task counts × wall time.
//!
//! - `cpu` is priced per vCPU-hour, `memory` per GiB-hour (2³⁰ bytes), `nvidia.com/gpu` per
//!   GPU-hour, all from the effective request of one task's pod
//!   ([`crate::resources::effective_request`]).
//! - A job that requires preemptible VMs (`usePreemptibleVM` `Equals` `Require`) pays
//!   `preemptibleVMCostMultiplier` × the price; `Prefer` may land on regular nodes and pays
//!   the full price.
//! - The reservation of a task group is its hourly cost × `maxWallTime`, and a job's
//!   reservation is the sum over its groups (the SPEC's "hourly cost of all its tasks ×
//!   maxWallTime"). **Retries do not multiply it**: every group runs as one `batch/v1` Job
//!   whose `activeDeadlineSeconds` is `maxWallTime`, which bounds the Job's whole life,
//!   retries included. A job that somehow runs longer is charged its reservation and no more
//!   (the refund never goes below zero).
//! - Everything is computed exactly (256-bit intermediates) and rounded once per group:
//!   reservations **up** to the nano-unit, so the budget never under-charges.

use super::money::Money;
use super::wide::U256;
use crate::api::{BatchCostModelSpec, BatchJobSpec};
use crate::duration::WallTime;
use crate::resources::{GPU, effective_request};

/// Nano-units per unit, as an unsigned factor.
const NANO: u128 = 1_000_000_000;
/// Bytes per GiB.
const GIB: u128 = 1 << 30;
/// Nanoseconds per hour.
const NANOS_PER_HOUR: u128 = 3_600 * NANO;
/// Denominator of an hourly rate numerator: price nanos × quantity nanos × multiplier nanos
/// × 2³⁰ (memory is priced per GiB), over nano-currency.
const RATE_DENOMINATOR: u128 = NANO * NANO * GIB;

/// Hourly prices of a BatchCostModel, parsed once.
///
/// ```
/// use kbatch_policy::api::BatchCostModelSpec;
/// use kbatch_policy::budget::{CostModel, Money};
///
/// let spec: BatchCostModelSpec = serde_json::from_value(serde_json::json!({
///     "resources": {"cpu": 0.031611, "memory": 0.004237, "nvidia.com/gpu": 0.35},
///     "preemptibleVMCostMultiplier": 0.3
/// })).unwrap();
/// let model = CostModel::from_spec(&spec).unwrap();
/// assert_eq!(model.cpu, Money::parse("0.031611").unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostModel {
    /// Price per vCPU-hour.
    pub cpu: Money,
    /// Price per GiB-hour of memory.
    pub memory: Money,
    /// Price per GPU-hour.
    pub gpu: Money,
    /// Factor applied to jobs that require preemptible VMs (1 when unset).
    pub preemptible_multiplier: Money,
}

/// Why a job (or a cost model) cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// A price or the multiplier is not a finite amount ≥ 0.
    #[error("cost model: {field}: {message}")]
    BadPrice {
        /// `cpu`, `memory`, `nvidia.com/gpu` or `preemptibleVMCostMultiplier`.
        field: String,
        /// Why.
        message: String,
    },
    /// The task group has no (or a malformed) `maxWallTime`: its reservation is unbounded.
    #[error("task group {group}: {message}")]
    WallTime {
        /// Task group name.
        group: String,
        /// Why.
        message: String,
    },
    /// A resource quantity of the pod does not parse or is negative.
    #[error("task group {group}: {path}: {message}")]
    Resource {
        /// Task group name.
        group: String,
        /// Path below the pod spec.
        path: String,
        /// Why.
        message: String,
    },
    /// `indexSpec.taskCount` is below 1.
    #[error("task group {group}: taskCount {count} is below 1")]
    TaskCount {
        /// Task group name.
        group: String,
        /// The count.
        count: i32,
    },
    /// The cost exceeds what kbatch can count (about 10²⁹ currency units).
    #[error("the job's cost is too large to count")]
    Overflow,
}

impl CostModel {
    /// A model with a multiplier of 1.
    pub fn new(cpu: Money, memory: Money, gpu: Money) -> CostModel {
        CostModel {
            cpu,
            memory,
            gpu,
            preemptible_multiplier: Money::from_units(1),
        }
    }

    /// Reads a BatchCostModel spec; unlisted resources cost nothing, resources kbatch does
    /// not price are ignored (validation refuses them).
    pub fn from_spec(spec: &BatchCostModelSpec) -> Result<CostModel, CostError> {
        let price = |field: &str| -> Result<Money, CostError> {
            match spec.resources.get(field) {
                None => Ok(Money::ZERO),
                Some(&p) => non_negative(field, p),
            }
        };
        let multiplier = match spec.preemptible_vm_cost_multiplier {
            None => Money::from_units(1),
            Some(m) => non_negative("preemptibleVMCostMultiplier", m)?,
        };
        Ok(CostModel {
            cpu: price("cpu")?,
            memory: price("memory")?,
            gpu: price(GPU)?,
            preemptible_multiplier: multiplier,
        })
    }

    /// The cost of `spec` under this model.
    ///
    /// ```
    /// use kbatch_policy::api::BatchJobSpec;
    /// use kbatch_policy::budget::{CostModel, Money};
    ///
    /// let model = CostModel::new(Money::parse("0.04").unwrap(), Money::parse("0.005").unwrap(), Money::ZERO);
    /// let job: BatchJobSpec = serde_json::from_value(serde_json::json!({
    ///     "batchQueueName": "default",
    ///     "taskGroups": [{
    ///         "name": "main", "maxWallTime": "2h", "indexSpec": {"taskCount": 5},
    ///         "template": {"spec": {"restartPolicy": "Never", "containers": [{
    ///             "name": "c", "image": "busybox",
    ///             "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}
    ///         }]}}
    ///     }]
    /// })).unwrap();
    /// let cost = model.job_cost(&job).unwrap();
    /// // 5 tasks × (0.5 × 0.04 + 2 × 0.005) per hour = 0.15 per hour; × 2h = 0.30
    /// assert_eq!(cost.hourly.to_string(), "0.15");
    /// assert_eq!(cost.reservation.to_string(), "0.30");
    /// ```
    pub fn job_cost(&self, spec: &BatchJobSpec) -> Result<JobCost, CostError> {
        let preemptible = requires_preemptible(spec);
        let mut groups = Vec::with_capacity(spec.task_groups.len());
        let mut hourly_total = U256::ZERO;
        let mut reservation = Money::ZERO;
        for group in &spec.task_groups {
            let name = &group.name;
            let count = group
                .index_spec
                .as_ref()
                .and_then(|i| i.task_count)
                .unwrap_or(1);
            let tasks = u128::try_from(count)
                .ok()
                .filter(|&c| c > 0)
                .ok_or_else(|| CostError::TaskCount {
                    group: name.clone(),
                    count,
                })?;
            let wall = match group.max_wall_time.as_deref() {
                None => {
                    return Err(CostError::WallTime {
                        group: name.clone(),
                        message: "maxWallTime is not set, so the job cannot be priced".into(),
                    });
                }
                Some(text) => WallTime::parse(text).map_err(|e| CostError::WallTime {
                    group: name.clone(),
                    message: e.to_string(),
                })?,
            };
            let per_task = self.task_rate(group.template.spec.as_ref(), name, preemptible)?;
            let rate = per_task
                .checked_mul_u128(tasks)
                .ok_or(CostError::Overflow)?;
            let group_reservation = reserve(rate, u128::from(wall.as_nanos()))?;
            let retries = u32::try_from(group.retry_limit.unwrap_or(0)).unwrap_or(0);
            groups.push(GroupCost {
                name: name.clone(),
                task_count: count,
                runs_per_task: retries.saturating_add(1),
                max_wall_time: wall,
                hourly: round_rate(rate)?,
                reservation: group_reservation,
            });
            hourly_total = hourly_total.checked_add(rate).ok_or(CostError::Overflow)?;
            reservation = reservation
                .checked_add(group_reservation)
                .ok_or(CostError::Overflow)?;
        }
        Ok(JobCost {
            hourly: round_rate(hourly_total)?,
            reservation,
            groups,
        })
    }

    /// The hourly rate numerator (over [`RATE_DENOMINATOR`]) of one task.
    fn task_rate(
        &self,
        pod: Option<&k8s_openapi::api::core::v1::PodSpec>,
        group: &str,
        preemptible: bool,
    ) -> Result<U256, CostError> {
        let Some(pod) = pod else {
            return Ok(U256::ZERO);
        };
        let mut sum = U256::ZERO;
        for (resource, price, per_unit_scale) in [
            ("cpu", self.cpu, GIB),
            ("memory", self.memory, 1),
            (GPU, self.gpu, GIB),
        ] {
            let request = effective_request(pod, resource).map_err(|e| CostError::Resource {
                group: group.to_owned(),
                path: e.path,
                message: e.message,
            })?;
            let Some(quantity) = request else { continue };
            let nanos = u128::try_from(quantity.nanos()).map_err(|_| CostError::Resource {
                group: group.to_owned(),
                path: format!("resources[{resource}]"),
                message: format!("{quantity} is negative"),
            })?;
            let price = u128::try_from(price.nanos()).map_err(|_| CostError::BadPrice {
                field: resource.to_owned(),
                message: "negative price".into(),
            })?;
            let term = U256::mul_u128(price, nanos)
                .checked_mul_u128(per_unit_scale)
                .ok_or(CostError::Overflow)?;
            sum = sum.checked_add(term).ok_or(CostError::Overflow)?;
        }
        let multiplier = if preemptible {
            u128::try_from(self.preemptible_multiplier.nanos()).map_err(|_| {
                CostError::BadPrice {
                    field: "preemptibleVMCostMultiplier".into(),
                    message: "negative multiplier".into(),
                }
            })?
        } else {
            NANO
        };
        sum.checked_mul_u128(multiplier).ok_or(CostError::Overflow)
    }
}

fn non_negative(field: &str, value: f64) -> Result<Money, CostError> {
    let bad = |message: String| CostError::BadPrice {
        field: field.to_owned(),
        message,
    };
    let m = Money::from_f64(value).map_err(|e| bad(e.to_string()))?;
    if m.is_negative() {
        return Err(bad(format!("{value} is negative")));
    }
    Ok(m)
}

/// Whether the job must run on preemptible VMs (and so pays the multiplied price).
pub fn requires_preemptible(spec: &BatchJobSpec) -> bool {
    spec.batch_node_selector
        .as_ref()
        .and_then(|s| s.use_preemptible_vm.as_ref())
        .is_some_and(|r| r.operator == "Equals" && r.values.iter().any(|v| v == "Require"))
}

/// An hourly rate rounded up to the nano-unit.
fn round_rate(rate: U256) -> Result<Money, CostError> {
    to_money(rate.div_ceil_u128(RATE_DENOMINATOR))
}

/// `⌈rate × wall / (RATE_DENOMINATOR × 1h)⌉`: dividing by the two factors one after the
/// other, both rounding up, equals one division by their product rounding up. The hour
/// (below 2⁶⁴) goes first: that division is fast and usually brings the value into 128 bits.
fn reserve(rate: U256, wall_nanos: u128) -> Result<Money, CostError> {
    let scaled = rate
        .checked_mul_u128(wall_nanos)
        .ok_or(CostError::Overflow)?;
    to_money(
        scaled
            .div_ceil_u128(NANOS_PER_HOUR)
            .and_then(|x| x.div_ceil_u128(RATE_DENOMINATOR)),
    )
}

fn to_money(value: Option<U256>) -> Result<Money, CostError> {
    value
        .and_then(U256::to_u128)
        .and_then(|v| i128::try_from(v).ok())
        .map(Money::from_nanos)
        .ok_or(CostError::Overflow)
}

/// `amount × used ÷ total`, rounded up, with `used` at most `runs × total`: the cost of task
/// time `used` at the rate that makes `total` cost `amount`, for tasks that may run `runs`
/// times each.
pub(crate) fn prorate_runs_up(
    amount: Money,
    used_nanos: u128,
    total_nanos: u128,
    runs: u32,
) -> Result<Money, CostError> {
    if total_nanos == 0 {
        return Ok(Money::ZERO);
    }
    let most = total_nanos.saturating_mul(u128::from(runs.max(1)));
    let amount = u128::try_from(amount.nanos()).map_err(|_| CostError::Overflow)?;
    to_money(U256::mul_u128(amount, used_nanos.min(most)).div_ceil_u128(total_nanos))
}

/// What one task group costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCost {
    /// Task group name.
    pub name: String,
    /// Its tasks.
    pub task_count: i32,
    /// Runs each task may take: `retryLimit + 1`.
    pub runs_per_task: u32,
    /// Its `maxWallTime`.
    pub max_wall_time: WallTime,
    /// All its tasks for an hour, rounded up.
    pub hourly: Money,
    /// All its tasks for `maxWallTime`, rounded up.
    pub reservation: Money,
}

/// What a job costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCost {
    /// All tasks of all groups for an hour, rounded up.
    pub hourly: Money,
    /// Σ of the groups' reservations: what the budget is charged when the job becomes Ready.
    pub reservation: Money,
    /// Per task group, in spec order.
    pub groups: Vec<GroupCost>,
}
