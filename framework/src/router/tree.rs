//! [`Node`]: the segment tree that maps a raw request path to an
//! [`Endpoint`].
//!
//! Each node stands for one path segment position. Its children are tried in
//! precedence order for the next segment: the static child with exactly that
//! text, then the `:param` child, then the `*rest` leaf. When a branch dead-ends
//! the search backtracks to the next candidate, so `/a/b/c` finds `/a/:x/c`
//! even though `/a/b` exists. The segment position of a node is fixed by its
//! depth, so a lookup visits each node at most once: linear in the tree size
//! in the worst case, a handful of byte compares in the common one.

use http::Method;

use super::endpoint::Endpoint;
use super::error::RouteError;
use super::params::Params;
use super::pattern::{Pattern, Segment};

/// One segment position of the tree.
#[derive(Debug)]
pub(super) struct Node<T> {
    /// Static children, in insertion order. Linear search: nodes rarely have
    /// more than a dozen children, and comparing short byte strings is cheap.
    statics: Vec<(Box<[u8]>, Node<T>)>,
    /// The `:param` child (one per node; routes name it as they like).
    param: Option<Box<Node<T>>>,
    /// The `*rest` leaf.
    rest: Option<Endpoint<T>>,
    /// Routes whose pattern ends at this node.
    endpoint: Option<Endpoint<T>>,
}

impl<T> Node<T> {
    pub(super) fn new() -> Self {
        Self {
            statics: Vec::new(),
            param: None,
            rest: None,
            endpoint: None,
        }
    }

    /// Adds a route under the root `self`, creating nodes as needed.
    pub(super) fn insert(
        &mut self,
        method: Method,
        text: &str,
        pattern: Pattern<'_>,
        value: T,
    ) -> Result<(), RouteError> {
        let mut node = self;
        let mut leaf = None;
        for segment in &pattern.segments {
            match *segment {
                Segment::Static(s) => {
                    let i = match node.statics.iter().position(|(k, _)| **k == *s.as_bytes()) {
                        Some(i) => i,
                        None => {
                            node.statics.push((Box::from(s.as_bytes()), Node::new()));
                            node.statics.len() - 1
                        }
                    };
                    node = &mut node.statics[i].1;
                }
                Segment::Param => node = node.param.get_or_insert_with(|| Box::new(Node::new())),
                // The parser guarantees `*rest` is the last segment.
                Segment::Rest => leaf = Some(node.rest.get_or_insert_with(Endpoint::new)),
            }
        }
        let endpoint = match leaf {
            Some(leaf) => leaf,
            None => node.endpoint.get_or_insert_with(Endpoint::new),
        };
        endpoint.insert(method, text, pattern.names, value)
    }

    /// Finds the endpoint for `path[start..]`, where `start` follows a `/`
    /// and `self` is the node whose children match the segment there.
    ///
    /// On success `params` holds the decoded captures. A candidate endpoint
    /// whose captures are not valid UTF-8 once decoded does not match, and
    /// the search goes on.
    /// Every route below this node, as (method, pattern, value).
    pub(super) fn into_routes(self, out: &mut Vec<(Method, Box<str>, T)>) {
        for (_, child) in self.statics {
            child.into_routes(out);
        }
        if let Some(child) = self.param {
            child.into_routes(out);
        }
        for endpoint in [self.rest, self.endpoint].into_iter().flatten() {
            endpoint.into_routes(out);
        }
    }

    pub(super) fn find<'r>(
        &'r self,
        path: &[u8],
        start: usize,
        params: &mut Params,
    ) -> Option<&'r Endpoint<T>> {
        let end = path[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(path.len(), |i| start + i);
        let segment = &path[start..end];

        if let Some((_, child)) = self.statics.iter().find(|(k, _)| **k == *segment) {
            if let Some(found) = child.descend(path, end, params) {
                return Some(found);
            }
        }
        // Empty segments only match empty static segments.
        if let (Some(child), false) = (&self.param, segment.is_empty()) {
            params.push_raw(start..end);
            if let Some(found) = child.descend(path, end, params) {
                return Some(found);
            }
            params.pop_raw();
        }
        if let Some(rest) = &self.rest {
            params.push_raw(start..path.len());
            if params.decode(path) {
                return Some(rest);
            }
            params.pop_raw();
        }
        None
    }

    /// Continues below `self`, which matched the segment ending at `end`.
    fn descend<'r>(
        &'r self,
        path: &[u8],
        end: usize,
        params: &mut Params,
    ) -> Option<&'r Endpoint<T>> {
        if end < path.len() {
            // path[end] is the '/' before the next segment.
            return self.find(path, end + 1, params);
        }
        let endpoint = self.endpoint.as_ref()?;
        params.decode(path).then_some(endpoint)
    }
}
