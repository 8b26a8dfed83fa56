//! The check-order walk over one table, against any [`Call`].

use coconut_abi::{check_order, CheckStep, Errno, Stage, Syscall};

use super::model::Model;
use super::Call;

/// A mutation of a table's base call that trips one row of the error matrix.
#[derive(Clone, Copy)]
pub struct Trip<M> {
    /// A piece of the row's condition text that names exactly one row of the matrix.
    pub row: &'static str,
    /// What the mutation does, for failure messages.
    pub what: &'static str,
    /// The mutation.
    pub mutate: fn(&mut M),
}

/// Shorthand for a [`Trip`].
pub const fn trip<M>(row: &'static str, what: &'static str, mutate: fn(&mut M)) -> Trip<M> {
    Trip { row, what, mutate }
}

/// A named variant of a table's base call that must stay valid.
pub type Variant<M> = (&'static str, fn(&mut M));

/// The conformance table of one syscall.
pub struct Table<M> {
    /// The syscall.
    pub syscall: Syscall,
    /// A call that passes every check before the first kernel-state row.
    pub base: M,
    /// What the base call and each accepted variant answer: the kernel-state answer, in the
    /// state the walk runs in (only a:00000 exists and the caller is root in it), of a call
    /// that passes every check before the first kernel-state row. A function of the call,
    /// because the variants differ in what the kernel state makes of them (`aid` 0 names
    /// a:00000, `aid` 5 no agent).
    pub valid: fn(&M) -> Result<i64, Errno>,
    /// Mutations, each tripping one row; several may trip the same row.
    pub trips: Vec<Trip<M>>,
    /// Rows before the first kernel-state row that no mutation trips, each with the reason.
    pub untripped: Vec<(&'static str, &'static str)>,
    /// Variants of the base call at the edges of the ranges, which must still be valid.
    pub accepted: Vec<Variant<M>>,
}

/// A table of any model, as the runner sees it.
pub trait Conformance {
    /// The syscall.
    fn syscall(&self) -> Syscall;
    /// Walks the table against `call`; returns every failure, empty if none.
    fn walk(&self, call: &mut dyn Call) -> Vec<String>;
}

impl<M: Model> Conformance for Table<M> {
    fn syscall(&self) -> Syscall {
        self.syscall
    }

    fn walk(&self, call: &mut dyn Call) -> Vec<String> {
        walk(self, call)
    }
}

fn show(r: Result<i64, i32>) -> String {
    match r {
        Ok(v) => format!("Ok({v})"),
        Err(e) => Errno::from_raw(e).map_or_else(|| format!("errno {e}"), |e| e.name().to_string()),
    }
}

/// The index of the one row of `matrix` whose condition contains `piece` (`matrix` is the
/// prefix before the first kernel-state row, which the pure checks decide).
fn find_row(matrix: &[CheckStep], piece: &str) -> Result<usize, String> {
    let hits: Vec<usize> = (0..matrix.len())
        .filter(|&i| matrix[i].condition.contains(piece))
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!("no row of the matrix contains `{piece}`")),
        _ => Err(format!("rows {hits:?} of the matrix all contain `{piece}`")),
    }
}

/// Walks `table` against `call`: the base and the accepted variants answer what `valid` says; every row
/// before the first kernel-state row is tripped or explained; each trip alone answers its row's
/// errno; for every two trips of rows i < j, the call mutated both ways answers row i's errno.
pub fn walk<M: Model>(table: &Table<M>, call: &mut dyn Call) -> Vec<String> {
    let name = table.syscall.name();
    let matrix = check_order(table.syscall);
    let mut failures = Vec::new();
    let mut check = |what: String, m: &M, want: Result<i64, Errno>| {
        let inv = m.invocation();
        let got = call.call(&inv);
        let want = want.map_err(Errno::get);
        if got != want {
            failures.push(format!(
                "{name}: {what}: {} answered {}, want {}; {inv:?}",
                call.name(),
                show(got),
                show(want)
            ));
        }
    };
    let reachable = matrix
        .iter()
        .position(|s| s.stage == Stage::Kernel)
        .unwrap_or(matrix.len());
    let prefix = &matrix[..reachable];
    // Resolve every row name first: a table that names rows wrongly fails before any call.
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for t in &table.trips {
        match find_row(prefix, t.row) {
            Ok(i) => rows.push(i),
            Err(e) => problems.push(format!("{name}: trip `{}`: {e}", t.what)),
        }
    }
    let mut explained = Vec::new();
    for (piece, _why) in &table.untripped {
        match find_row(prefix, piece) {
            Ok(i) => explained.push(i),
            Err(e) => problems.push(format!("{name}: untripped row: {e}")),
        }
    }
    for (i, step) in prefix.iter().enumerate() {
        if !rows.contains(&i) && !explained.contains(&i) {
            problems.push(format!(
                "{name}: row {i} ({}) has no mutation and no reason why not",
                step.condition
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    check(
        "the base call".into(),
        &table.base,
        (table.valid)(&table.base),
    );
    for (what, mutate) in &table.accepted {
        let mut m = table.base.clone();
        mutate(&mut m);
        let want = (table.valid)(&m);
        check(format!("accepted variant `{what}`"), &m, want);
    }
    for (t, &i) in table.trips.iter().zip(&rows) {
        let mut m = table.base.clone();
        (t.mutate)(&mut m);
        check(
            format!("row {i} ({}) by `{}`", matrix[i].condition, t.what),
            &m,
            Err(matrix[i].errno),
        );
    }
    for (a, &i) in table.trips.iter().zip(&rows) {
        for (b, &j) in table.trips.iter().zip(&rows) {
            if i >= j {
                continue;
            }
            let mut m = table.base.clone();
            (b.mutate)(&mut m);
            (a.mutate)(&mut m);
            check(
                format!(
                    "rows {i} (`{}`) and {j} (`{}`) both fail; row {i} ({}) must win",
                    a.what, b.what, matrix[i].condition
                ),
                &m,
                Err(matrix[i].errno),
            );
        }
    }
    failures
}
