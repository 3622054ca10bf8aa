//! The route table: an exact map for static paths, a segment trie for the rest.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::pattern::{ParamKind, Pattern, RouteError, Segment};
use crate::http::query::percent_decode;

/// One method of one pattern.
#[derive(Clone, Debug)]
struct Entry {
    method: String,
    route_id: usize,
    pattern: String,
    names: Vec<String>,
    kinds: Vec<ParamKind>,
}

/// Every route of one shape (same literals and converters), across methods.
#[derive(Clone, Debug, Default)]
struct Leaf {
    entries: Vec<Entry>,
    /// The `Allow` header value, kept ready so a 405 allocates nothing.
    allow: String,
}

impl Leaf {
    fn entry(&self, method: &str) -> Option<&Entry> {
        let exact = self.entries.iter().find(|entry| entry.method == method);
        match exact {
            None if method == "HEAD" => self.entries.iter().find(|entry| entry.method == "GET"),
            found => found,
        }
    }

    fn refresh_allow(&mut self) {
        let mut methods: Vec<&str> = self
            .entries
            .iter()
            .map(|entry| entry.method.as_str())
            .collect();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.push("OPTIONS");
        methods.sort_unstable();
        methods.dedup();
        self.allow = methods.join(", ");
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Literal children, scanned comparing lengths first: cheaper than hashing
    /// the segment (measured) for the handful of children most nodes have.
    literals: Vec<(Box<str>, Node)>,
    /// Typed parameters in precedence order (int, uuid, slug, str).
    params: Vec<(ParamKind, Node)>,
    /// A `{name:path}` catch-all ending here: index into `leaves`.
    catch_all: Option<usize>,
    /// Patterns ending exactly here: index into `leaves`.
    leaf: Option<usize>,
}

/// Registered routes, resolved by method and path.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    leaves: Vec<Leaf>,
    root: Node,
    /// Static patterns by their exact text: the fast path for most requests.
    statics: FxHashMap<String, usize>,
    /// `(method, pattern, route_id)` in registration order.
    registered: Vec<(String, String, usize)>,
}

/// The typed parameters of a match, in pattern order.
#[derive(Debug)]
pub struct Params<'t, 'p> {
    names: &'t [String],
    kinds: &'t [ParamKind],
    values: SmallVec<[Cow<'p, str>; 4]>,
}

impl<'t, 'p> Params<'t, 'p> {
    /// `(name, decoded value, converter)` of each parameter.
    pub fn iter(&self) -> impl Iterator<Item = (&'t str, &str, ParamKind)> + '_ {
        self.names
            .iter()
            .zip(self.values.iter())
            .zip(self.kinds.iter())
            .map(|((name, value), kind)| (name.as_str(), value.as_ref(), *kind))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The outcome of matching one request.
#[derive(Debug)]
pub enum Resolution<'t, 'p> {
    Found {
        route_id: usize,
        params: Params<'t, 'p>,
    },
    /// The path matched, but no route of it has this method.
    MethodNotAllowed {
        allow: &'t str,
    },
    /// Nothing matched, but the path with its trailing slash toggled does.
    RedirectSlash {
        location: String,
    },
    NotFound,
}

fn literal_order(text: &str, wanted: &str) -> std::cmp::Ordering {
    text.len()
        .cmp(&wanted.len())
        .then_with(|| text.as_bytes().cmp(wanted.as_bytes()))
}

/// The request path being matched: segments are cut lazily at each trie
/// level (no up-front split), and decoded only when the path has escapes.
struct PathCursor<'p> {
    path: &'p str,
    escaped: bool,
}

impl<'p> PathCursor<'p> {
    fn new(path: &'p str) -> Option<PathCursor<'p>> {
        let escaped = memchr::memchr(b'%', path.as_bytes()).is_some();
        path.starts_with('/')
            .then_some(PathCursor { path, escaped })
    }

    /// The segment starting at byte `start` (just after a '/'), and where the
    /// next one starts (`None` at the end of the path).
    fn segment(&self, start: usize) -> (&'p str, Option<usize>) {
        let rest = &self.path[start..];
        match memchr::memchr(b'/', rest.as_bytes()) {
            Some(slash) => (&rest[..slash], Some(start + slash + 1)),
            None => (rest, None),
        }
    }

    fn decode(&self, raw: &'p str) -> Option<Cow<'p, str>> {
        if self.escaped {
            percent_decode(raw, false)
        } else {
            Some(Cow::Borrowed(raw))
        }
    }
}

/// Where a search stands: the first leaf that matched the path (for Allow)
/// and, once found, the leaf and entry serving the method.
struct Search<'m, 'p> {
    method: Option<&'m str>,
    first_match: Option<usize>,
    found: Option<(usize, SmallVec<[Cow<'p, str>; 4]>)>,
    captured: SmallVec<[Cow<'p, str>; 4]>,
}

impl RouteTable {
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Registers `pattern` for `method`, as `route_id`.
    pub fn insert(
        &mut self,
        method: &str,
        pattern: &str,
        route_id: usize,
    ) -> Result<(), RouteError> {
        let parsed = Pattern::parse(pattern)?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RouteError::new(format!(
                "invalid HTTP method {method:?} for route {pattern:?}"
            )));
        }
        let mut node = &mut self.root;
        let mut catch_all = false;
        for segment in &parsed.segments {
            match segment {
                Segment::Literal(text) => {
                    let decoded =
                        percent_decode(text, false).map_or_else(|| text.clone(), Cow::into_owned);
                    let position = match node
                        .literals
                        .binary_search_by(|(text, _)| literal_order(text, &decoded))
                    {
                        Ok(position) => position,
                        Err(position) => {
                            node.literals
                                .insert(position, (decoded.into_boxed_str(), Node::default()));
                            position
                        }
                    };
                    node = &mut node.literals[position].1;
                }
                Segment::Param(ParamKind::Path) => catch_all = true,
                Segment::Param(kind) => {
                    let position = match node
                        .params
                        .iter()
                        .position(|(existing, _)| existing == kind)
                    {
                        Some(position) => position,
                        None => {
                            let at = node.params.partition_point(|(existing, _)| existing < kind);
                            node.params.insert(at, (*kind, Node::default()));
                            at
                        }
                    };
                    node = &mut node.params[position].1;
                }
            }
        }
        let slot = if catch_all {
            &mut node.catch_all
        } else {
            &mut node.leaf
        };
        let leaf_index = *slot.get_or_insert_with(|| {
            self.leaves.push(Leaf::default());
            self.leaves.len() - 1
        });
        let leaf = &mut self.leaves[leaf_index];
        if let Some(existing) = leaf.entries.iter().find(|entry| entry.method == method) {
            return Err(RouteError::new(format!(
                "route conflict: {method} {pattern:?} cannot be told apart from {method} {:?} (registered first)",
                existing.pattern
            )));
        }
        leaf.entries.push(Entry {
            method: method.to_owned(),
            route_id,
            pattern: pattern.to_owned(),
            names: parsed.param_names().to_vec(),
            kinds: parsed.params().map(|(_, kind)| kind).collect(),
        });
        leaf.refresh_allow();
        if parsed.is_static() {
            self.statics.insert(pattern.to_owned(), leaf_index);
        }
        self.registered
            .push((method.to_owned(), pattern.to_owned(), route_id));
        Ok(())
    }

    /// `(method, pattern, route_id)` of every registration, in order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.registered
            .iter()
            .map(|(method, pattern, id)| (method.as_str(), pattern.as_str(), *id))
    }

    /// Matches a request. `path` is the raw path (percent-encoded, no query).
    pub fn resolve<'t, 'p>(&'t self, method: &str, path: &'p str) -> Resolution<'t, 'p> {
        // Fast path: an exact static route that has this method.
        if !path.contains('%') {
            if let Some(entry) = self
                .statics
                .get(path)
                .and_then(|&leaf| self.leaves[leaf].entry(method))
            {
                return Resolution::Found {
                    route_id: entry.route_id,
                    params: Params {
                        names: &entry.names,
                        kinds: &entry.kinds,
                        values: SmallVec::new(),
                    },
                };
            }
        }
        let Some(cursor) = PathCursor::new(path) else {
            return Resolution::NotFound;
        };
        let mut search = Search {
            method: Some(method),
            first_match: None,
            found: None,
            captured: SmallVec::new(),
        };
        self.walk(&self.root, &cursor, Some(1), &mut search);
        if let Some((leaf, values)) = search.found {
            if let Some(entry) = self.leaves[leaf].entry(method) {
                return Resolution::Found {
                    route_id: entry.route_id,
                    params: Params {
                        names: &entry.names,
                        kinds: &entry.kinds,
                        values,
                    },
                };
            }
        }
        if let Some(leaf) = search.first_match {
            return Resolution::MethodNotAllowed {
                allow: &self.leaves[leaf].allow,
            };
        }
        self.redirect_for(path)
    }

    fn redirect_for<'t, 'p>(&'t self, path: &str) -> Resolution<'t, 'p> {
        let toggled = match path.strip_suffix('/') {
            Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
            Some(_) => return Resolution::NotFound,
            None => format!("{path}/"),
        };
        let matched = {
            let Some(cursor) = PathCursor::new(&toggled) else {
                return Resolution::NotFound;
            };
            let mut search = Search {
                method: None,
                first_match: None,
                found: None,
                captured: SmallVec::new(),
            };
            self.walk(&self.root, &cursor, Some(1), &mut search);
            search.first_match.is_some()
        };
        if matched {
            Resolution::RedirectSlash { location: toggled }
        } else {
            Resolution::NotFound
        }
    }

    /// Depth-first in precedence order; returns true once the search is over.
    /// Depth-first in precedence order from the segment starting at byte
    /// `start` (`None`: the path is used up); returns true once the search is over.
    fn walk<'p>(
        &self,
        node: &Node,
        path: &PathCursor<'p>,
        start: Option<usize>,
        search: &mut Search<'_, 'p>,
    ) -> bool {
        let Some(start) = start else {
            return node.leaf.is_some_and(|leaf| self.visit(leaf, search));
        };
        let (raw, next) = path.segment(start);
        let Some(segment) = path.decode(raw) else {
            return false; // not UTF-8 once decoded: matches nothing
        };
        let literal = node
            .literals
            .binary_search_by(|(text, _)| literal_order(text, &segment));
        if let Ok(position) = literal {
            let child = &node.literals[position].1;
            if self.walk(child, path, next, search) {
                return true;
            }
        }
        for (kind, child) in &node.params {
            if kind.matches(&segment) {
                search.captured.push(segment.clone());
                let done = self.walk(child, path, next, search);
                search.captured.pop();
                if done {
                    return true;
                }
            }
        }
        if let Some(leaf) = node.catch_all {
            if let Some(rest) = path
                .decode(&path.path[start..])
                .filter(|rest| !rest.is_empty())
            {
                search.captured.push(rest);
                let done = self.visit(leaf, search);
                search.captured.pop();
                return done;
            }
        }
        false
    }

    fn visit(&self, leaf: usize, search: &mut Search<'_, '_>) -> bool {
        search.first_match.get_or_insert(leaf);
        match search.method {
            // Redirect check: any match will do.
            None => true,
            Some(method) if self.leaves[leaf].entry(method).is_some() => {
                // The search ends here, so the captured values can be moved out.
                search.found = Some((leaf, std::mem::take(&mut search.captured)));
                true
            }
            Some(_) => false,
        }
    }
}
