//! The integration test suite, as one test binary.
//!
//! One binary instead of one per file: the library is generic over its scalar, so
//! every test binary compiles its own copy of the library's code. With twenty
//! binaries that copy was most of `cargo test`'s build time (and of every
//! mutant's rebuild under `scripts/mutants.sh`); with one it is made once.
//!
//! Modules mirror `src/` (`operator_attention` tests `src/operator/attention.rs`,
//! `structured` the structured spectrum path, ...); `common` holds the oracles and
//! generators they share, each computed independently of the crate's ESS code.
//! Run one module with `cargo test --test suite lowrank::`, one test by its path.
//! `tests/serde.rs` stays a binary of its own: it needs the `serde` feature.

mod common;

mod analyses;
mod dense_nested;
mod ess;
mod featurizer;
mod foundation;
mod gradient;
mod hard_cases;
mod lowrank;
mod numerics;
mod operator_attention;
mod operator_convolution;
mod operator_dense;
mod operator_linear_attention;
mod operator_state_space;
mod oracles;
mod reduction;
mod robustness;
mod scalar;
mod structured;
mod workflows;
