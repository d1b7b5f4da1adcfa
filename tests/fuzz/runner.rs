//! The time-bounded runner, and what every target shares.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{
    Config, RngAlgorithm, TestCaseError, TestCaseResult, TestError, TestRng, TestRunner,
};
use sha2::{Digest, Sha256};

/// Prefix of every secret the fake puts in an answer. Nothing else generates it.
pub const MARK: &str = "SEKRET-";
/// The name `find_by_name` looks for; generated app names are often exactly this.
pub const NAME: &str = "fuzz-app";

fn fuzz_secs() -> f64 {
    match std::env::var("APPAUTH_FUZZ_SECS") {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or_else(|| panic!("APPAUTH_FUZZ_SECS={v:?}: expected a number of seconds")),
        Err(_) => 3.0,
    }
}

fn fuzz_seed() -> u64 {
    match std::env::var("APPAUTH_FUZZ_SEED") {
        Ok(v) => {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|_| panic!("APPAUTH_FUZZ_SEED={v:?}: expected a u64"))
        }
        Err(_) => rand::random(),
    }
}

/// Runs `test` on values of `strategy` until the deadline; panics with the minimal failing
/// input. Each target derives its own ChaCha seed from the run's seed and its name.
pub fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let seed = fuzz_seed();
    let secs = fuzz_secs();
    println!("fuzz {target}: seed {seed} (APPAUTH_FUZZ_SEED={seed} replays this target)");
    let key: [u8; 32] = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(target.as_bytes())
        .finalize()
        .into();
    let config = Config {
        failure_persistence: None,
        fork: false,
        timeout: 0,
        max_shrink_time: 120_000,
        max_shrink_iters: 50_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut cases = 0u64;
    loop {
        let tree = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("fuzz {target}: cannot generate a case: {e}"));
        match runner.run_one(tree, &test) {
            Ok(_) => cases += 1,
            Err(TestError::Fail(reason, minimal)) => panic!(
                "fuzz {target}: case {} failed (APPAUTH_FUZZ_SEED={seed}): {reason}\n\
                 minimal failing input: {minimal:#?}",
                cases + 1
            ),
            Err(TestError::Abort(reason)) => panic!("fuzz {target}: aborted: {reason}"),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    println!(
        "fuzz {target}: {cases} cases in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

pub fn fail<T>(why: impl Into<String>) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(why.into()))
}
