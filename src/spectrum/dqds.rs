//! Singular values of an upper bidiagonal matrix by the shifted differential qd
//! algorithm (dqds; Fernando & Parlett 1994, shift and deflation rules after
//! LAPACK's `dlasq3`/`dlasq4` in simplified form), one problem at a time or two
//! interleaved.
//!
//! # The sweep
//! On the squares `q_k = d_k²`, `e_k = e_k²` of the bidiagonal `B` (diagonal
//! `d`, superdiagonal `e`), one sweep with shift `τ` computes the arrays of
//! `B̂ᵀB̂ = BBᵀ − τI`:
//!
//! ```text
//! d ← q_0 − τ
//! for k = 0 .. n−2:   q̂_k = d + e_k,   t = q_{k+1} / q̂_k,   ê_k = e_k · t,   d ← d·t − τ
//! q̂_{n−1} = d
//! ```
//!
//! using only positive quantities, so every eigenvalue `σ_k²` keeps high relative
//! accuracy. A shift that makes some `d` negative is rejected and retried
//! smaller (`τ + d_min` after a failure in the last entry, `τ/4`, then `0`, which
//! cannot fail). The last one or two eigenvalues are deflated when their
//! coupling is below `(100ε)²` relative to them, or below `ε²·‖B‖²` (an
//! absolute change of at most `ε·σ_1` in every singular value).
//!
//! # Two problems at once
//! The sweep is one long chain of dependent operations — an addition, a
//! division, a multiplication and a subtraction per entry, about 25 cycles of
//! latency — while the core could issue several such chains at once. Two
//! independent problems (the bidiagonals of two Hankel blocks) are therefore
//! swept in one loop, entry `k` of each per iteration ([`dqds_values_pair`]);
//! each problem keeps its own shifts, deflations and sweep count, and its
//! arithmetic is exactly that of [`dqds_values`] on it alone, so the values are
//! bitwise the same.

use crate::scalar::Scalar;

/// The sweep limit both the dense path and the cores give dqds for a bidiagonal
/// of order `n`: about twice what the hardest problems need (up to 13.5 sweeps
/// per value in `convergence_tests`' battery; a 16 × 16 structured core takes
/// about 20 sweeps in all).
pub(crate) fn sweep_limit(n: usize) -> usize {
    30 * n + 100
}

/// Singular values of the upper bidiagonal matrix (`d`, `e`), largest entry at
/// most 1, by dqds (see the [module docs](self)). Writes the values to `d`
/// (unordered) and returns `true`; returns `false` and leaves `d` untouched when
/// the data has a zero (or underflowing) entry or `max_sweeps` pass, and the
/// caller falls back to implicit-shift QR.
pub(crate) fn dqds_values<T: Scalar>(d: &mut [T], e: &[T], max_sweeps: usize) -> bool {
    dqds_values_with(d, e, max_sweeps, &mut DqdsBuffers::default())
}

/// [`dqds_values`] with its arrays in `buffers` (reused, no allocation once
/// they are large enough).
pub(crate) fn dqds_values_with<T: Scalar>(
    d: &mut [T],
    e: &[T],
    max_sweeps: usize,
    buffers: &mut DqdsBuffers<T>,
) -> bool {
    let mut problem = match Problem::start_on(d, e, max_sweeps, std::mem::take(buffers)) {
        Start::Trivial(ok, b) => {
            *buffers = b;
            return ok;
        }
        Start::Running(p) => p,
    };
    problem.sweep_to_end();
    let ok = problem.state == State::Done && problem.finish(d);
    *buffers = problem.b;
    ok
}

/// [`dqds_values`] on two independent problems, their sweeps interleaved (see the
/// [module docs](self)); returns the two success flags. Each result is bitwise
/// the one [`dqds_values`] gives on that problem alone.
pub(crate) fn dqds_values_pair<T: Scalar>(
    (d_a, e_a, max_a): (&mut [T], &[T], usize),
    (d_b, e_b, max_b): (&mut [T], &[T], usize),
) -> (bool, bool) {
    let (mut buf_a, mut buf_b) = (DqdsBuffers::default(), DqdsBuffers::default());
    dqds_values_pair_with((d_a, e_a, max_a, &mut buf_a), (d_b, e_b, max_b, &mut buf_b))
}

/// [`dqds_values_pair`] with the arrays of each problem in its buffers.
pub(crate) fn dqds_values_pair_with<T: Scalar>(
    (d_a, e_a, max_a, buf_a): (&mut [T], &[T], usize, &mut DqdsBuffers<T>),
    (d_b, e_b, max_b, buf_b): (&mut [T], &[T], usize, &mut DqdsBuffers<T>),
) -> (bool, bool) {
    let start_a = Problem::start_on(d_a, e_a, max_a, std::mem::take(buf_a));
    let start_b = Problem::start_on(d_b, e_b, max_b, std::mem::take(buf_b));
    let (mut a, mut b) = match (start_a, start_b) {
        (Start::Running(a), Start::Running(b)) => (a, b),
        (Start::Trivial(ok, ba), b) => {
            *buf_a = ba;
            *buf_b = b.into_buffers();
            return (ok, dqds_values_with(d_b, e_b, max_b, buf_b));
        }
        (a, Start::Trivial(ok, bb)) => {
            *buf_a = a.into_buffers();
            *buf_b = bb;
            return (dqds_values_with(d_a, e_a, max_a, buf_a), ok);
        }
    };
    // Each pass counts a sweep of both (see `sweep_to_end`).
    for _ in 0..=max_a.max(max_b) {
        if !(a.state == State::Sweep && b.state == State::Sweep) {
            break;
        }
        sweep_both(&mut a, &mut b);
    }
    a.sweep_to_end();
    b.sweep_to_end();
    let ok_a = a.state == State::Done && a.finish(d_a);
    let ok_b = b.state == State::Done && b.finish(d_b);
    (*buf_a, *buf_b) = (a.b, b.b);
    (ok_a, ok_b)
}

/// The arrays of one dqds problem, kept between calls so that a caller solving
/// many small problems allocates them once ([`dqds_values_with`]).
#[derive(Debug, Clone)]
pub(crate) struct DqdsBuffers<T> {
    q: Vec<T>,
    ee: Vec<T>,
    qh: Vec<T>,
    eh: Vec<T>,
    out: Vec<T>,
}

impl<T> Default for DqdsBuffers<T> {
    fn default() -> Self {
        Self { q: Vec::new(), ee: Vec::new(), qh: Vec::new(), eh: Vec::new(), out: Vec::new() }
    }
}

/// What a problem needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A sweep with the chosen shift.
    Sweep,
    /// Every eigenvalue is deflated.
    Done,
    /// A zero pivot or too many sweeps: the caller falls back to QR.
    Failed,
}

/// A problem of order at most 1, or with a zero entry (decided at once), or one
/// to iterate.
enum Start<T: Scalar> {
    Trivial(bool, DqdsBuffers<T>),
    Running(Problem<T>),
}

impl<T: Scalar> Start<T> {
    /// The buffers back, unused (the problem is solved again from the start).
    fn into_buffers(self) -> DqdsBuffers<T> {
        match self {
            Start::Trivial(_, b) => b,
            Start::Running(p) => p.b,
        }
    }
}

/// One dqds problem between sweeps.
struct Problem<T: Scalar> {
    /// `q_k` and `e_k` of the active part (`b.q[..active]`, `b.ee[..active-1]`);
    /// the sweep's output `b.qh`, `b.eh` (swapped with them when it is
    /// accepted); the deflated eigenvalues `σ_k²` in `b.out`.
    b: DqdsBuffers<T>,
    /// The accumulated shift.
    sigma: T,
    active: usize,
    sweeps: usize,
    max_sweeps: usize,
    /// `(d_min, d_n)` of the last accepted sweep, and the same for the arrays
    /// without their last one or two entries (valid after a deflation: `d_k`
    /// depends only on the entries above `k`).
    last_dmin: Option<(T, T)>,
    shorter: [Option<(T, T)>; 2],
    tol2: T,
    absolute: T,
    /// The shift of the next sweep, and how often it was reduced.
    tau: T,
    tries: u32,
    state: State,
}

/// The running quantities of one sweep.
struct Lane<T: Scalar> {
    dd: T,
    dmin: T,
    /// `(d_k, min d_{≤k})` for `k = last-1` and `last-2` (`(d_0, d_0)` where the
    /// sweep has fewer entries).
    at: [(T, T); 2],
    /// The entry whose `d` went negative (or non-finite), if any.
    failed_at: Option<usize>,
}

/// The arrays one sweep of the active part `..=last` reads (`q_{k+1}`, `e_k`) and
/// writes (`q̂_k`, `ê_k`, `k < last`), cut to their lengths so that the loops
/// index them without bounds checks; and the sweep's shift.
struct SweepArrays<'a, T> {
    q: &'a [T],
    ee: &'a [T],
    qh: &'a mut [T],
    eh: &'a mut [T],
    tau: T,
    /// The largest finite value of `T`.
    largest: T,
}

impl<T: Scalar> SweepArrays<'_, T> {
    /// `last`: the number of entries a sweep steps over.
    #[inline(always)]
    fn len(&self) -> usize {
        self.ee.len()
    }

    /// Entry `k` of the sweep (`k < last`); `false` when `d` went negative or
    /// non-finite (recorded in the lane).
    #[inline(always)]
    fn step(&mut self, lane: &mut Lane<T>, k: usize) -> bool {
        let e = self.ee[k];
        let h = lane.dd + e;
        self.qh[k] = h;
        let t = self.q[k] / h;
        self.eh[k] = e * t;
        // `(d_k, min d_{≤k})` of the last two entries stepped over (branch-free:
        // after the sweep they are those of `last-1` and `last-2`).
        lane.at[1] = lane.at[0];
        lane.at[0] = (lane.dd, lane.dmin);
        let dd = lane.dd * t - self.tau;
        lane.dd = dd;
        // The running minimum (a NaN, which fails below, leaves it alone).
        if dd < lane.dmin {
            lane.dmin = dd;
        }
        // `d < 0`, NaN or +∞, in two comparisons (an `is_finite` test compiles
        // to integer bit tests here).
        if !(dd >= T::zero() && dd <= self.largest) {
            lane.failed_at = Some(k + 1);
            return false;
        }
        true
    }

    /// The rest of a sweep from entry `from` on.
    #[inline(always)]
    fn steps_from(&mut self, lane: &mut Lane<T>, from: usize) {
        if lane.failed_at.is_none() {
            for k in from..self.len() {
                if !self.step(lane, k) {
                    break;
                }
            }
        }
    }
}

impl<T: Scalar> Problem<T> {
    fn start_on(d: &mut [T], e: &[T], max_sweeps: usize, mut b: DqdsBuffers<T>) -> Start<T> {
        let n = d.len();
        if n <= 1 {
            if let Some(x) = d.first_mut() {
                *x = x.abs();
            }
            return Start::Trivial(true, b);
        }
        let fill = |buf: &mut Vec<T>, from: &[T]| {
            buf.clear();
            buf.extend(from.iter().map(|x| *x * *x));
        };
        fill(&mut b.q, d);
        fill(&mut b.ee, e);
        if b.q.iter().chain(b.ee.iter()).any(|x| *x == T::zero()) {
            return Start::Trivial(false, b);
        }
        let cast = T::cast;
        let norm2 = {
            let dm = d.iter().fold(T::zero(), |m, x| m.max(x.abs()));
            let em = e.iter().fold(T::zero(), |m, x| m.max(x.abs()));
            (dm + em) * (dm + em)
        };
        for buf in [&mut b.qh, &mut b.eh] {
            buf.clear();
            buf.resize(n, T::zero());
        }
        b.out.clear();
        let eps = T::EPSILON;
        let mut problem = Problem {
            b,
            sigma: T::zero(),
            active: n,
            sweeps: 0,
            max_sweeps,
            last_dmin: None,
            shorter: [None, None],
            tol2: (cast(100.0) * eps) * (cast(100.0) * eps),
            absolute: eps * eps * norm2,
            tau: T::zero(),
            tries: 0,
            state: State::Sweep,
        };
        problem.flip();
        problem.prepare();
        Start::Running(problem)
    }

    /// Large entries on top converge fastest: reverses the active part
    /// (`P·Bᵀ·P`) if its last entry is much the larger.
    fn flip(&mut self) -> bool {
        let active = self.active;
        if T::cast(1.5) * self.b.q[0] < self.b.q[active - 1] {
            self.b.q[..active].reverse();
            self.b.ee[..active - 1].reverse();
            true
        } else {
            false
        }
    }

    /// Deflates what has converged, then chooses the next shift; sets the state.
    fn prepare(&mut self) {
        let cast = T::cast;
        let (tol2, absolute) = (self.tol2, self.absolute);
        loop {
            if self.active == 0 {
                self.state = State::Done;
                return;
            }
            let (q, ee, sigma) = (&self.b.q, &self.b.ee, self.sigma);
            let last = self.active - 1;
            if last == 0 {
                self.b.out.push(sigma + q[0]);
                self.active = 0;
                self.state = State::Done;
                return;
            }
            // Deflate one eigenvalue.
            if ee[last - 1] <= tol2 * (sigma + q[last]) || ee[last - 1] <= absolute {
                self.b.out.push(sigma + q[last]);
                self.active -= 1;
                self.last_dmin = self.shorter[0];
                self.shorter = [self.shorter[1], None];
                if self.active > 1 && self.flip() {
                    self.last_dmin = None;
                    self.shorter = [None, None];
                }
                continue;
            }
            // Deflate two: the trailing 2×2 split off.
            if last == 1
                || ee[last - 2] <= tol2 * sigma
                || ee[last - 2] <= tol2 * q[last - 1]
                || ee[last - 2] <= absolute
            {
                let (q1, e1, q2) = (q[last - 1], ee[last - 1], q[last]);
                let sum = q1 + e1 + q2;
                let disc = ((q1 - q2) * (q1 - q2) + e1 * (e1 + cast(2.0) * (q1 + q2))).max(T::zero()).sqrt();
                let big = (sum + disc) * cast(0.5);
                let small = if big > T::zero() { q1 * q2 / big } else { T::zero() };
                self.b.out.push(sigma + big);
                self.b.out.push(sigma + small);
                self.active -= 2;
                self.last_dmin = self.shorter[1];
                self.shorter = [None, None];
                if self.active > 1 && self.flip() {
                    self.last_dmin = None;
                }
                continue;
            }
            self.tau = self.shift(last);
            self.tries = 0;
            self.state = State::Sweep;
            return;
        }
    }

    /// The shift for the next sweep of the active part `..=last`.
    fn shift(&self, last: usize) -> T {
        let cast = T::cast;
        let (q, ee) = (&self.b.q, &self.b.ee);
        let tau = match self.last_dmin {
            Some((dmin, dn)) if dmin == dn && dn > T::zero() => {
                // Minimum at the bottom: a Newton-like lower bound (dlasq4, case 4).
                let b1 = ee[last - 1] / q[last - 1];
                let mut b2 = b1;
                let mut a2 = b1;
                // Upwards from entry last-2 (the ratios are positive: NaN and
                // ∞, which an extreme sweep can leave, stop the walk too).
                for (&ek, &qk) in ee[..last - 1].iter().rev().zip(q[..last - 1].iter().rev()) {
                    let ratio = ek / qk;
                    // NaN, ±∞ or above 0.563 (two comparisons).
                    if !(ratio <= cast(0.563) && ratio >= -T::LARGEST) {
                        break;
                    }
                    b2 *= ratio;
                    a2 += b2;
                    if cast(100.0) * b2.max(b1) < a2 || a2 > cast(0.563) {
                        break;
                    }
                }
                let a2 = cast(1.05) * a2;
                let bound =
                    if a2 < cast(0.563) { dn * (T::one() - a2.sqrt()) / (T::one() + a2) } else { cast(0.25) * dn };
                // The smaller eigenvalue of the trailing 2×2 of the tridiagonal
                // (second order in the coupling, not a guaranteed lower bound):
                // used when it lies between the bound and d_n.
                let a = q[last - 1] + if last >= 2 { ee[last - 2] } else { T::zero() };
                let c = q[last] + ee[last - 1];
                let half = (a - c) * cast(0.5);
                let root = (half * half + ee[last - 1] * q[last - 1]).sqrt();
                let estimate = (a + c) * cast(0.5) - root;
                if estimate > bound && estimate < dn {
                    estimate * (T::one() - cast(4.0) * T::EPSILON)
                } else {
                    bound
                }
            }
            Some((dmin, _)) if dmin > T::zero() => cast(0.25) * dmin,
            _ => T::zero(),
        };
        // Negative, NaN or +∞ (two comparisons).
        if !(tau >= T::zero() && tau <= T::LARGEST) {
            T::zero()
        } else {
            tau
        }
    }

    /// Starts a sweep: `None` (and the state `Failed`) past `max_sweeps`.
    #[inline(always)]
    fn start(&mut self) -> Option<Lane<T>> {
        self.sweeps += 1;
        if self.sweeps > self.max_sweeps {
            self.state = State::Failed;
            return None;
        }
        let dd = self.b.q[0] - self.tau;
        let failed_at = if dd < T::zero() { Some(0) } else { None };
        Some(Lane { dd, dmin: dd, at: [(dd, dd), (dd, dd)], failed_at })
    }

    /// The arrays of a sweep of the active part.
    #[inline(always)]
    fn arrays(&mut self) -> SweepArrays<'_, T> {
        let last = self.active - 1;
        let b = &mut self.b;
        SweepArrays {
            q: &b.q[1..=last],
            ee: &b.ee[..last],
            qh: &mut b.qh[..last],
            eh: &mut b.eh[..last],
            tau: self.tau,
            largest: T::LARGEST,
        }
    }

    /// Sweeps this problem alone until it is done or has failed. Every pass
    /// starts a sweep, which counts against `max_sweeps` (past it the problem
    /// fails), so `max_sweeps + 1` passes always reach the end; the bound makes
    /// that a loop that cannot run on, whatever a pass does.
    fn sweep_to_end(&mut self) {
        for _ in 0..=self.max_sweeps {
            if self.state != State::Sweep {
                break;
            }
            self.sweep_alone();
        }
    }

    /// One sweep of this problem alone, then its conclusion.
    fn sweep_alone(&mut self) {
        if let Some(mut lane) = self.start() {
            self.arrays().steps_from(&mut lane, 0);
            self.conclude(lane);
        }
    }

    /// Accepts a finished sweep (then deflates and chooses the next shift) or
    /// reduces the shift of a failed one.
    fn conclude(&mut self, lane: Lane<T>) {
        let cast = T::cast;
        let last = self.active - 1;
        match lane.failed_at {
            None if lane.dd.is_finite_value() => {
                self.b.qh[last] = lane.dd;
                // The entries past the active part are never read again.
                std::mem::swap(&mut self.b.q, &mut self.b.qh);
                std::mem::swap(&mut self.b.ee, &mut self.b.eh);
                self.sigma += self.tau;
                self.last_dmin = Some((lane.dmin, lane.dd));
                self.shorter = [
                    Some((lane.at[0].1, lane.at[0].0)),
                    if last >= 2 { Some((lane.at[1].1, lane.at[1].0)) } else { None },
                ];
                self.prepare();
            }
            _ => {
                if self.tau == T::zero() {
                    self.state = State::Failed;
                    return;
                }
                self.tries += 1;
                self.tau = if lane.failed_at == Some(last) && self.tries == 1 && lane.dd.is_finite_value() {
                    // Only the last entry went negative: τ overshot by about −d.
                    ((self.tau + lane.dd) * (T::one() - cast(2.0) * T::EPSILON)).max(T::zero())
                } else if self.tries >= 3 {
                    T::zero()
                } else {
                    cast(0.25) * self.tau
                };
            }
        }
    }

    /// Writes the singular values to `d`; `false` if any is missing or not finite.
    fn finish(&self, d: &mut [T]) -> bool {
        if self.b.out.len() != d.len() || self.b.out.iter().any(|v| !v.is_finite_value()) {
            return false;
        }
        for (x, v) in d.iter_mut().zip(&self.b.out) {
            *x = v.max(T::zero()).sqrt();
        }
        true
    }
}

/// One sweep of each problem, entry `k` of both per iteration while both run,
/// then the rest of the longer (or surviving) one; then both conclusions.
fn sweep_both<T: Scalar>(a: &mut Problem<T>, b: &mut Problem<T>) {
    let (lane_a, lane_b) = (a.start(), b.start());
    match (lane_a, lane_b) {
        (Some(mut la), Some(mut lb)) => {
            let (mut xa, mut xb) = (a.arrays(), b.arrays());
            let common = xa.len().min(xb.len());
            // Entries done in step: `k` ends one past the last entry both took.
            let mut k = 0;
            if la.failed_at.is_none() && lb.failed_at.is_none() {
                for j in 0..common {
                    let ok_a = xa.step(&mut la, j);
                    let ok_b = xb.step(&mut lb, j);
                    k = j + 1;
                    if !(ok_a && ok_b) {
                        break;
                    }
                }
            }
            xa.steps_from(&mut la, k);
            xb.steps_from(&mut lb, k);
            a.conclude(la);
            b.conclude(lb);
        }
        (Some(mut la), None) => {
            a.arrays().steps_from(&mut la, 0);
            a.conclude(la);
        }
        (None, Some(mut lb)) => {
            b.arrays().steps_from(&mut lb, 0);
            b.conclude(lb);
        }
        (None, None) => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bidiagonal of order `n` of one of four kinds (uniform, graded, clustered
    /// near 1, with tiny entries), drawn from the LCG state `seed`.
    pub(crate) fn random_bidiagonal(n: usize, kind: usize, seed: &mut u64) -> (Vec<f64>, Vec<f64>) {
        let mut rnd = || {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (*seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let d = (0..n)
            .map(|k| match kind {
                0 => rnd(),
                1 => rnd() * 0.5f64.powi(k as i32 % 60),
                2 => 1.0 - 0.5 * rnd() * 1e-9,
                _ => rnd() * if k % 7 == 3 { 1e-12 } else { 1.0 },
            })
            .collect();
        let e = (0..n.saturating_sub(1))
            .map(|k| rnd() * if kind == 1 { 0.5f64.powi(k as i32 % 50) } else { 1.0 })
            .collect();
        (d, e)
    }

    #[test]
    fn a_pair_gives_bitwise_the_values_of_each_problem_alone() {
        let mut seed = 11u64;
        let sizes = [0usize, 1, 2, 3, 5, 17, 64, 200];
        let mut compared = 0;
        for &na in &sizes {
            for &nb in &sizes {
                for kind in 0..4 {
                    let (da, ea) = random_bidiagonal(na, kind, &mut seed);
                    let (db, eb) = random_bidiagonal(nb, (kind + na) % 4, &mut seed);
                    // A sweep limit that some problems reach, so that a failure
                    // of one lane while the other runs on is exercised too.
                    let (max_a, max_b) = (if kind == 3 { na } else { 30 * na + 100 }, 30 * nb + 100);
                    let (mut sa, mut sb) = (da.clone(), db.clone());
                    let alone = (dqds_values(&mut sa, &ea, max_a), dqds_values(&mut sb, &eb, max_b));
                    let (mut pa, mut pb) = (da.clone(), db.clone());
                    let paired = dqds_values_pair((&mut pa, &ea, max_a), (&mut pb, &eb, max_b));
                    assert_eq!(alone, paired, "sizes {na} {nb} kind {kind}");
                    assert_eq!(
                        sa.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        pa.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                    );
                    assert_eq!(
                        sb.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        pb.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                    );
                    compared += usize::from(alone.0 && alone.1);
                }
            }
        }
        assert!(compared > 100, "{compared} pairs where both succeeded");
    }

    #[test]
    fn reused_buffers_change_nothing() {
        let mut seed = 17u64;
        let (mut one, mut two) = (DqdsBuffers::default(), DqdsBuffers::default());
        for n in [5usize, 200, 3, 64, 1, 17, 2] {
            for kind in 0..4 {
                let (d, e) = random_bidiagonal(n, kind, &mut seed);
                let (mut fresh, mut reused) = (d.clone(), d.clone());
                let ok = dqds_values(&mut fresh, &e, 30 * n + 100);
                assert_eq!(ok, dqds_values_with(&mut reused, &e, 30 * n + 100, &mut one));
                assert_eq!(fresh, reused);
                let (mut pa, mut pb) = (d.clone(), d.clone());
                let pair = dqds_values_pair_with((&mut pa, &e, 30 * n + 100, &mut one), (&mut pb, &e, 1, &mut two));
                assert_eq!(pair.0, ok);
                assert_eq!(pa, fresh);
                assert_eq!(pair.1, dqds_values(&mut d.clone(), &e, 1));
            }
        }
    }

    #[test]
    fn a_zero_entry_or_too_few_sweeps_is_refused_and_leaves_d_alone() {
        let mut d = vec![0.5, 0.0, 0.25];
        assert!(!dqds_values(&mut d, &[0.5, 0.5], 100));
        assert_eq!(d, vec![0.5, 0.0, 0.25]);
        let mut d = vec![0.5, 0.4, 0.3, 0.2];
        assert!(!dqds_values(&mut d, &[0.5, 0.5, 0.5], 1));
        assert_eq!(d, vec![0.5, 0.4, 0.3, 0.2]);
        assert!(dqds_values(&mut d, &[0.5, 0.5, 0.5], 1000));
    }
}
