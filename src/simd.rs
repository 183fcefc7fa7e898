//! Runtime CPU-feature dispatch for the hot kernels (the crate's only `unsafe`).
//!
//! The crate is compiled for the baseline of its target (on x86-64: SSE2, two
//! `f64` per vector). The dense path's bidiagonalization is a stream of
//! independent multiply-adds down contiguous columns, and with 256-bit vectors
//! (AVX2) it runs about 1.2× faster (`benches/numpy_dense_peer.py`, `L = 512`).
//! The structured path's per-index core kernel (the triangular core product and
//! the bidiagonalization of the `N × N` core) runs through it too.
//! A [`Kernel`] run through [`run`] is compiled twice: once inside a function
//! with AVX2 enabled, called when the CPU has it (detected once, cached by
//! `std`), and once for the baseline, called otherwise. Only the vector width
//! changes: no fused multiply-add, no reassociation (Rust never reorders
//! floating-point operations), so every result is bitwise the same on every
//! machine. The kernels' unit tests compare both builds bit for bit.
//!
//! A kernel's `run` and everything it calls in the hot loops must be
//! `#[inline(always)]`, or they are compiled for the baseline only.
#![allow(unsafe_code)]

/// A computation to run with the widest vectors the CPU offers.
pub(crate) trait Kernel {
    /// What it returns.
    type Output;
    /// The computation (mark it `#[inline(always)]`).
    fn run(self) -> Self::Output;
}

/// Runs `kernel` with AVX2 enabled when the CPU supports it, for the baseline
/// otherwise; the same results either way.
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: a function compiled with `target_feature(enable = "avx2")`
            // may only be called on a CPU with AVX2, which was just checked.
            return unsafe { run_avx2(kernel) };
        }
    }
    kernel.run()
}

/// [`Kernel::run`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run()
}
