//! Fault injection: error statuses, latency, throttling and "commit then drop".

use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::state::{State, Svc};

/// A fault as posted to `POST /_sim/faults`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultSpec {
    /// `apig|modelarts|dataarts|roma|iam|*`.
    pub service: String,
    /// An operation name (e.g. `create`) or `*`.
    #[serde(default = "star")]
    pub op: String,
    /// Answer with this status (and the service's error body) without performing the operation.
    #[serde(default)]
    pub status: Option<u16>,
    /// Error code in the body (default per service and status).
    #[serde(default)]
    pub error_code: Option<String>,
    /// Delay before answering.
    #[serde(default)]
    pub latency_ms: u64,
    /// Adds `Retry-After: <secs>` to the error answer.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Perform the operation, then close the connection without a response.
    #[serde(default)]
    pub drop_after_commit: bool,
    /// How many requests the fault applies to; `None` = unlimited.
    #[serde(default)]
    pub times: Option<u64>,
    /// How many matching requests pass untouched before it applies (the second of two calls).
    #[serde(default)]
    pub skip: u64,
    /// Chance that a matching request is affected (seeded RNG).
    #[serde(default = "one")]
    pub probability: f64,
}

fn star() -> String {
    "*".to_string()
}

fn one() -> f64 {
    1.0
}

/// Fields a fault may have (unknown fields are refused, to catch typos).
pub const FAULT_FIELDS: &[&str] = &[
    "service",
    "op",
    "status",
    "error_code",
    "latency_ms",
    "retry_after",
    "drop_after_commit",
    "times",
    "skip",
    "probability",
];

impl FaultSpec {
    /// A fault on `service` (`apig|modelarts|dataarts|roma|iam|cce|metadata|*`) and `op` (or `*`) that
    /// does nothing yet; add effects with the builder methods.
    pub fn new(service: &str, op: &str) -> Self {
        FaultSpec {
            service: service.to_string(),
            op: op.to_string(),
            status: None,
            error_code: None,
            latency_ms: 0,
            retry_after: None,
            drop_after_commit: false,
            times: None,
            skip: 0,
            probability: 1.0,
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn error_code(mut self, code: &str) -> Self {
        self.error_code = Some(code.to_string());
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn drop_after_commit(mut self) -> Self {
        self.drop_after_commit = true;
        self
    }

    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// Parses a fault from JSON, refusing unknown fields.
    pub fn from_json(value: serde_json::Value) -> Result<FaultSpec, String> {
        let obj = value.as_object().ok_or("a fault must be a JSON object")?;
        if let Some(unknown) = obj.keys().find(|k| !FAULT_FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "unknown fault field {unknown}; known: {}",
                FAULT_FIELDS.join(", ")
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("invalid fault: {e}"))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.service != "*" && Svc::parse(&self.service).is_none() {
            return Err(format!(
                "service must be one of apig, modelarts, dataarts, roma, iam, cce, metadata, *; got {}",
                self.service
            ));
        }
        if self.op.is_empty() {
            return Err("op must be an operation name or *".to_string());
        }
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Err("status must be between 400 and 599".to_string());
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err("probability must be between 0 and 1".to_string());
        }
        if self.status.is_none() && !self.drop_after_commit && self.latency_ms == 0 {
            return Err("a fault needs status, latency_ms or drop_after_commit".to_string());
        }
        Ok(())
    }

    fn matches(&self, service: Svc, op: &str) -> bool {
        (self.service == "*" || self.service == service.as_str())
            && (self.op == "*" || self.op == op)
    }
}

/// An installed fault.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// How many requests it has affected so far.
    pub hits: u64,
    /// How many matching requests it has let pass (`skip`).
    #[serde(default)]
    pub passed: u64,
}

impl Fault {
    fn exhausted(&self) -> bool {
        self.spec.times.is_some_and(|t| self.hits >= t)
    }
}

/// What to do to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultAction {
    pub latency_ms: u64,
    pub status: Option<(StatusCode, Option<String>)>,
    pub retry_after: Option<u64>,
    pub drop_after_commit: bool,
}

/// Picks the first installed fault that matches and fires (probability), and consumes it.
pub fn pick(state: &mut State, service: Svc, op: &str) -> Option<FaultAction> {
    let State {
        faults, fault_rng, ..
    } = state;
    for fault in faults.iter_mut() {
        if fault.exhausted() || !fault.spec.matches(service, op) {
            continue;
        }
        if fault.passed < fault.spec.skip {
            fault.passed += 1;
            continue;
        }
        let p = fault.spec.probability;
        let fires = p >= 1.0 || (p > 0.0 && fault_rng.random::<f64>() < p);
        if !fires {
            continue;
        }
        fault.hits += 1;
        let status = fault
            .spec
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .map(|s| (s, fault.spec.error_code.clone()));
        return Some(FaultAction {
            latency_ms: fault.spec.latency_ms,
            status,
            retry_after: fault.spec.retry_after,
            drop_after_commit: fault.spec.drop_after_commit,
        });
    }
    None
}

/// Installs a fault and returns its id.
pub fn add(state: &mut State, spec: FaultSpec) -> Result<u64, String> {
    spec.validate()?;
    let id = state.next_fault_id;
    state.next_fault_id += 1;
    state.faults.push(Fault {
        id,
        spec,
        hits: 0,
        passed: 0,
    });
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn spec(json: serde_json::Value) -> FaultSpec {
        serde_json::from_value(json).expect("fault spec")
    }

    #[test]
    fn times_limits_and_matching() {
        let mut st = State::new(Config::default());
        add(
            &mut st,
            spec(serde_json::json!({"service": "apig", "op": "create", "status": 500, "times": 2})),
        )
        .expect("add");
        assert!(pick(&mut st, Svc::Apig, "list").is_none());
        assert!(pick(&mut st, Svc::Roma, "create").is_none());
        assert!(pick(&mut st, Svc::Apig, "create").is_some());
        assert!(pick(&mut st, Svc::Apig, "create").is_some());
        assert!(pick(&mut st, Svc::Apig, "create").is_none());
        add(
            &mut st,
            spec(serde_json::json!({"service": "roma", "op": "*", "status": 500, "skip": 1, "times": 1})),
        )
        .expect("add");
        assert!(
            pick(&mut st, Svc::Roma, "list").is_none(),
            "the first passes"
        );
        assert!(
            pick(&mut st, Svc::Roma, "delete").is_some(),
            "the second fails"
        );
        assert!(pick(&mut st, Svc::Roma, "list").is_none(), "and only it");
    }

    #[test]
    fn probability_is_repeatable_with_a_seed() {
        let run = || {
            let mut st = State::new(Config::default());
            add(
                &mut st,
                spec(serde_json::json!({"service": "*", "status": 503, "probability": 0.5})),
            )
            .expect("add");
            (0..64)
                .map(|_| pick(&mut st, Svc::Iam, "token").is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let fired = a.iter().filter(|f| **f).count();
        assert!(fired > 10 && fired < 54, "fired {fired} of 64");
    }

    #[test]
    fn validation() {
        assert!(
            spec(serde_json::json!({"service": "nope", "status": 500}))
                .validate()
                .is_err()
        );
        assert!(
            spec(serde_json::json!({"service": "apig", "status": 200}))
                .validate()
                .is_err()
        );
        assert!(
            spec(serde_json::json!({"service": "apig"}))
                .validate()
                .is_err()
        );
        assert!(
            spec(serde_json::json!({"service": "apig", "probability": 2.0, "status": 500}))
                .validate()
                .is_err()
        );
        assert!(FaultSpec::from_json(serde_json::json!({"service": "apig", "bogus": 1})).is_err());
        let fault = Fault {
            id: 1,
            spec: spec(serde_json::json!({"service": "apig", "status": 500})),
            hits: 2,
            passed: 1,
        };
        let round: Fault =
            serde_json::from_value(serde_json::to_value(&fault).expect("ser")).expect("de");
        assert_eq!(round, fault);
    }
}
