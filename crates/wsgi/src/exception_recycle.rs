//! [`ExceptionRecycle`]: `reload-on-exception-type`, `-value` and `-repr`, the app
//! exceptions after which a worker recycles itself.
//!
//! The bridge compares every exception the app raises while serving a request (the one
//! answered with a 500, or that closes the connection after the head) with the options,
//! each option with what its name says (uWSGI 2.0 compares `str()` for all three):
//! - `reload-on-exception-type`: the type written as uWSGI writes it, `module.Name`
//!   (`builtins.ValueError`, `myapp.errors.Gone`), or `Name` alone;
//! - `reload-on-exception-value`: `str(exception)`;
//! - `reload-on-exception-repr`: `module.Name: str(exception)`.
//!
//! Every comparison is of the whole string. A match is remembered; the process manager
//! takes it ([`ExceptionRecycle::take`]) when that request is done and recycles the worker
//! (`reload-on-exception` recycles after any exception without asking the bridge).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;

use crate::options::Options;

/// Whether an app exception asked for this worker's recycling (see the module doc).
/// Cloning shares it.
#[derive(Debug, Clone)]
pub struct ExceptionRecycle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    types: Vec<String>,
    values: Vec<String>,
    reprs: Vec<String>,
    /// Set by the request thread whose exception matched, taken by the process manager.
    asked: AtomicBool,
}

impl ExceptionRecycle {
    /// The rules `opts` give; `None` when none of the three options is set.
    pub(crate) fn new(opts: &Options) -> Option<ExceptionRecycle> {
        let inner = Inner {
            types: opts.reload_on_exception_type.clone(),
            values: opts.reload_on_exception_value.clone(),
            reprs: opts.reload_on_exception_repr.clone(),
            asked: AtomicBool::new(false),
        };
        if inner.types.is_empty() && inner.values.is_empty() && inner.reprs.is_empty() {
            return None;
        }
        Some(ExceptionRecycle {
            inner: Arc::new(inner),
        })
    }

    /// Compares the app's exception `e` with the rules; on a match, logs which option
    /// matched and remembers it for [`ExceptionRecycle::take`].
    pub(crate) fn check(&self, py: Python<'_>, e: &PyErr) {
        if let Some((option, what)) = self.matching(py, e) {
            log::info!("the app raised {what}, which {option} names: the worker will recycle");
            self.inner.asked.store(true, Ordering::Release);
        }
    }

    /// The option that `e` matches and what of `e` it matched, if any.
    fn matching(&self, py: Python<'_>, e: &PyErr) -> Option<(&'static str, String)> {
        let inner = &*self.inner;
        let ty = e.get_type(py);
        let name = ty
            .getattr(intern!(py, "__name__"))
            .and_then(|n| n.extract::<String>())
            .ok()?;
        // uWSGI: the part of the type's name after its last dot, behind its `__module__`
        // (but Python 2's `exceptions`).
        let name = name.rsplit('.').next().unwrap_or(&name).to_string();
        let module = ty
            .getattr(intern!(py, "__module__"))
            .and_then(|m| m.extract::<String>())
            .ok()
            .filter(|m| m != "exceptions");
        let qualified = match &module {
            Some(module) => format!("{module}.{name}"),
            None => name.clone(),
        };
        if inner.types.iter().any(|t| *t == qualified || *t == name) {
            return Some(("reload-on-exception-type", qualified));
        }
        let value = e.value(py).str().ok()?.to_string();
        if inner.values.contains(&value) {
            return Some((
                "reload-on-exception-value",
                format!("{qualified}({value:?})"),
            ));
        }
        let repr = format!("{qualified}: {value}");
        if inner.reprs.contains(&repr) {
            return Some(("reload-on-exception-repr", repr));
        }
        None
    }

    /// Whether an exception matched since the last call (and forgets it): the process
    /// manager calls it after each request whose app raised.
    pub fn take(&self) -> bool {
        self.inner.asked.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(types: &[&str], values: &[&str], reprs: &[&str]) -> ExceptionRecycle {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        ExceptionRecycle::new(&Options {
            reload_on_exception_type: strings(types),
            reload_on_exception_value: strings(values),
            reload_on_exception_repr: strings(reprs),
            ..Options::default()
        })
        .expect("rules are set")
    }

    fn raised(py: Python<'_>, code: &std::ffi::CStr) -> PyErr {
        py.run(code, None, None).expect_err("the code raises")
    }

    #[test]
    fn no_option_no_rules() {
        assert!(ExceptionRecycle::new(&Options::default()).is_none());
    }

    #[test]
    fn each_option_compares_what_it_names() {
        crate::interp::test_init();
        Python::attach(|py| {
            let value_error = raised(py, c"raise ValueError('boom 42')");
            let key_error = raised(py, c"raise KeyError('k')");
            let r = rules(&["builtins.ValueError"], &[], &[]);
            assert_eq!(
                r.matching(py, &value_error),
                Some(("reload-on-exception-type", "builtins.ValueError".into()))
            );
            assert_eq!(r.matching(py, &key_error), None);
            assert!(rules(&["ValueError"], &[], &[])
                .matching(py, &value_error)
                .is_some());
            assert!(rules(&["boom 42"], &[], &[])
                .matching(py, &value_error)
                .is_none());
            let r = rules(&[], &["boom 42"], &[]);
            assert_eq!(
                r.matching(py, &value_error).map(|m| m.0),
                Some("reload-on-exception-value")
            );
            assert_eq!(r.matching(py, &key_error), None);
            let r = rules(&[], &[], &["builtins.KeyError: 'k'"]);
            assert_eq!(
                r.matching(py, &key_error).map(|m| m.0),
                Some("reload-on-exception-repr")
            );
            assert_eq!(r.matching(py, &value_error), None);
        });
    }

    #[test]
    fn a_match_is_taken_once() {
        crate::interp::test_init();
        let r = rules(&["ZeroDivisionError"], &[], &[]);
        Python::attach(|py| r.check(py, &raised(py, c"1 / 0")));
        assert!(r.clone().take());
        assert!(!r.take());
    }
}
