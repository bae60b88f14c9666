//! [`ResponseEdits`]: what routing does to one request's response head, carried by its
//! [`Reply`](crate::Reply) and applied once, to the first head it is given — the app's,
//! or an answer of routing's own (a `redirect` gets the `addheader` headers too, as in
//! uWSGI).

use std::sync::Arc;

use super::{run, End, Routes, State};
use crate::handler::ResponseHead;
use crate::reply::{HeadEdit, Notes, Replacement};
use crate::static_files::Answer;

/// One request's routing state on its way to the response (see the module doc).
#[derive(Debug)]
pub(crate) struct ResponseEdits {
    routes: Arc<Routes>,
    state: State,
}

impl ResponseEdits {
    pub(crate) fn new(routes: Arc<Routes>, state: State) -> Box<ResponseEdits> {
        Box::new(ResponseEdits { routes, state })
    }
}

impl HeadEdit for ResponseEdits {
    fn apply(self: Box<Self>, head: &mut ResponseHead, notes: &mut Notes) -> Option<Replacement> {
        let end = (*self).edit(head, notes)?;
        Some(match end {
            End::Answer(Answer::Bytes(head, body)) => Replacement::Bytes(head, body),
            End::Answer(Answer::File(head, file, offset, len)) => {
                Replacement::File(head, file, offset, len)
            }
            End::Answer(Answer::Fail) => Replacement::Fail,
            End::Close => Replacement::Close,
        })
    }
}

impl ResponseEdits {
    /// Applies the edits to `head`, in uWSGI's order: the error rules run, `pull-header`
    /// and `collect-header` copy the response's headers into variables (pulled ones leave
    /// the head), the response rules run, then `delheader` drops the app's headers and `addheader`
    /// adds its own. The `donotlog` and `logvar` notes go to `notes`. `Some` when a rule
    /// answers in place of the app: that answer, with the same headers dropped and added.
    fn edit(self, head: &mut ResponseHead, notes: &mut Notes) -> Option<End> {
        let ResponseEdits { routes, mut state } = self;
        let status = Some(head.status);
        let mut end = match routes.error.is_empty() {
            true => None,
            false => run(&routes, &routes.error, &mut state, status),
        };
        if end.is_none() && !routes.collect.is_empty() {
            // uWSGI's order: a pulled header sets its variable and leaves; one that is not
            // pulled sets the variable of every collect that names it.
            head.headers.retain(|(name, value)| {
                let named = |pull: bool| {
                    routes
                        .collect
                        .iter()
                        .filter(move |(h, _, p)| *p == pull && name.eq_ignore_ascii_case(h))
                };
                if let Some((_, var, _)) = named(true).next() {
                    state.vars.set(var, value);
                    return false;
                }
                for (_, var, _) in named(false) {
                    state.vars.set(var, value);
                }
                true
            });
        }
        if end.is_none() && !routes.response.is_empty() {
            end = run(&routes, &routes.response, &mut state, status);
        }
        notes.no_log |= state.no_log;
        for (name, value) in state.logvars.drain(..) {
            notes.set_var(name, value);
        }
        // As uWSGI, whose removed names are compared with the app's headers only, never
        // with the lines `addheader` adds.
        let edit = |head: &mut ResponseHead| {
            if !state.del.is_empty() {
                head.headers
                    .retain(|(n, _)| !state.del.iter().any(|d| n.eq_ignore_ascii_case(d)));
            }
            head.headers.extend(state.add.iter().cloned());
        };
        match &mut end {
            None => edit(head),
            Some(End::Answer(Answer::Bytes(h, _) | Answer::File(h, ..))) => edit(h),
            Some(End::Answer(Answer::Fail) | End::Close) => {}
        }
        end
    }
}
