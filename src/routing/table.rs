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
    literals: FxHashMap<String, Node>,
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

/// A request path split into raw and decoded segments (no allocation for
/// paths of up to 8 segments without escapes).
struct Segments<'p> {
    path: &'p str,
    starts: SmallVec<[usize; 8]>,
    decoded: SmallVec<[Option<Cow<'p, str>>; 8]>,
}

impl<'p> Segments<'p> {
    fn split(path: &'p str) -> Option<Segments<'p>> {
        let rest = path.strip_prefix('/')?;
        let mut starts = SmallVec::new();
        let mut decoded = SmallVec::new();
        let mut offset = 1;
        for raw in rest.split('/') {
            starts.push(offset);
            decoded.push(percent_decode(raw, false));
            offset += raw.len() + 1;
        }
        Some(Segments {
            path,
            starts,
            decoded,
        })
    }

    fn len(&self) -> usize {
        self.decoded.len()
    }

    /// The decoded rest of the path from segment `index` on, slashes kept.
    fn remainder(&self, index: usize) -> Option<Cow<'p, str>> {
        let start = *self.starts.get(index)?;
        percent_decode(&self.path[start..], false)
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
                    node = node.literals.entry(decoded).or_default();
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
        let Some(segments) = Segments::split(path) else {
            return Resolution::NotFound;
        };
        let mut search = Search {
            method: Some(method),
            first_match: None,
            found: None,
            captured: SmallVec::new(),
        };
        self.walk(&self.root, &segments, 0, &mut search);
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
            let Some(segments) = Segments::split(&toggled) else {
                return Resolution::NotFound;
            };
            let mut search = Search {
                method: None,
                first_match: None,
                found: None,
                captured: SmallVec::new(),
            };
            self.walk(&self.root, &segments, 0, &mut search);
            search.first_match.is_some()
        };
        if matched {
            Resolution::RedirectSlash { location: toggled }
        } else {
            Resolution::NotFound
        }
    }

    /// Depth-first in precedence order; returns true once the search is over.
    fn walk<'p>(
        &self,
        node: &Node,
        segments: &Segments<'p>,
        index: usize,
        search: &mut Search<'_, 'p>,
    ) -> bool {
        if index == segments.len() {
            return node.leaf.is_some_and(|leaf| self.visit(leaf, search));
        }
        let Some(segment) = segments.decoded[index].as_ref() else {
            return false; // not UTF-8 once decoded: matches nothing
        };
        if let Some(child) = node.literals.get(segment.as_ref()) {
            if self.walk(child, segments, index + 1, search) {
                return true;
            }
        }
        for (kind, child) in &node.params {
            if kind.matches(segment) {
                search.captured.push(segment.clone());
                let done = self.walk(child, segments, index + 1, search);
                search.captured.pop();
                if done {
                    return true;
                }
            }
        }
        if let Some(leaf) = node.catch_all {
            if let Some(rest) = segments.remainder(index).filter(|rest| !rest.is_empty()) {
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
                search.found = Some((leaf, search.captured.clone()));
                true
            }
            Some(_) => false,
        }
    }
}
