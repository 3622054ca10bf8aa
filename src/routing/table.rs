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
    method_key: LiteralKey,
    route_id: usize,
    pattern: String,
    names: Vec<String>,
    kinds: Vec<ParamKind>,
}

impl Entry {
    fn found<'t, 'p>(&'t self, path: &'p str, spans: Spans) -> Resolution<'t, 'p> {
        let params = Params {
            names: &self.names,
            kinds: &self.kinds,
            path,
            spans,
        };
        Resolution::Found {
            route_id: self.route_id,
            params,
        }
    }
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
        self.position(method)
            .map(|position| &self.entries[position])
    }

    fn position(&self, method: &str) -> Option<usize> {
        let key = LiteralKey::of(method);
        let same =
            |entry: &Entry| entry.method_key == key && (key.length <= 8 || entry.method == method);
        match self.entries.iter().position(same) {
            None if method == "HEAD" => self.entries.iter().position(|entry| entry.method == "GET"),
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

/// Length and first 8 bytes of a literal, for comparisons without memcmp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LiteralKey {
    length: usize,
    prefix: u64,
}

impl LiteralKey {
    /// The key of `bytes[start..start + length]`, read with one 8-byte load
    /// from the path when it has 8 bytes left (the bytes past the segment are
    /// masked off), instead of a byte loop.
    fn within(bytes: &[u8], start: usize, length: usize) -> LiteralKey {
        let window = bytes.get(start..).and_then(|rest| rest.first_chunk::<8>());
        match window {
            Some(window) if length > 0 => {
                let word = u64::from_le_bytes(*window);
                let prefix = if length >= 8 {
                    word
                } else {
                    word & ((1u64 << (length * 8)) - 1)
                };
                LiteralKey { length, prefix }
            }
            _ => {
                let end = (start + length).min(bytes.len());
                let text = bytes.get(start..end).unwrap_or_default();
                let prefix = text
                    .iter()
                    .take(8)
                    .rev()
                    .fold(0, |prefix, &byte| (prefix << 8) | u64::from(byte));
                LiteralKey { length, prefix }
            }
        }
    }

    fn of(text: &str) -> LiteralKey {
        let bytes = text.as_bytes();
        // One 8-byte load, or a few shifts for short texts: no memcpy, whose
        // byte stores followed by an 8-byte load stalled store forwarding.
        let prefix = match bytes.first_chunk::<8>() {
            Some(head) => u64::from_le_bytes(*head),
            None => bytes
                .iter()
                .rev()
                .fold(0, |prefix, &byte| (prefix << 8) | u64::from(byte)),
        };
        LiteralKey {
            length: bytes.len(),
            prefix,
        }
    }
}

#[derive(Clone, Debug)]
struct Literal {
    key: LiteralKey,
    text: Box<str>,
    node: Node,
}

impl Literal {
    fn matches(&self, key: LiteralKey, text: &str) -> bool {
        self.key == key && (key.length <= 8 || self.text.as_bytes()[8..] == text.as_bytes()[8..])
    }
}

impl Node {
    /// The literal child equal to `text`. A linear scan of the keys: measured
    /// faster than bisecting them, even for the ~25 children of a busy node.
    fn find_literal(&self, key: LiteralKey, text: &str) -> Option<usize> {
        self.literals
            .iter()
            .position(|literal| literal.matches(key, text))
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Literal children. Each carries its length and first 8 bytes as a
    /// number, so a scan rejects non-matches without calling memcmp (which
    /// was a third of the resolve time when comparing strings).
    literals: Vec<Literal>,
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
    /// Bit `n` set when some static pattern is `n` bytes long (the last bit
    /// stands for all longer ones): a dynamic path skips hashing when no
    /// static route could have its length.
    static_lengths: [u64; 4],
    /// `(method, pattern, route_id)` in registration order.
    registered: Vec<(String, String, usize)>,
}

/// Byte ranges of the parameter values in the raw path: small to move
/// around during the search; decoded only when read.
type Spans = SmallVec<[(u32, u32); 4]>;

/// The typed parameters of a match, in pattern order.
#[derive(Debug)]
pub struct Params<'t, 'p> {
    names: &'t [String],
    kinds: &'t [ParamKind],
    path: &'p str,
    spans: Spans,
}

impl<'t, 'p> Params<'t, 'p> {
    /// `(name, decoded value, converter)` of each parameter.
    pub fn iter(&self) -> impl Iterator<Item = (&'t str, Cow<'p, str>, ParamKind)> + '_ {
        self.names
            .iter()
            .zip(self.spans.iter())
            .zip(self.kinds.iter())
            .map(move |((name, &(start, end)), kind)| {
                let raw = &self.path[start as usize..end as usize];
                // Every span was decoded once already during matching, so this succeeds.
                (
                    name.as_str(),
                    percent_decode(raw, false).unwrap_or(Cow::Borrowed(raw)),
                    *kind,
                )
            })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
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

/// The request path being matched: segments are cut lazily at each trie
/// level (no up-front split); one that holds a `%` is decoded, others are
/// borrowed as they are.
struct PathCursor<'p> {
    path: &'p str,
}

impl<'p> PathCursor<'p> {
    fn new(path: &'p str) -> Option<PathCursor<'p>> {
        path.starts_with('/').then_some(PathCursor { path })
    }

    /// The segment starting at byte `start` (just after a '/'), where the next
    /// one starts (`None` at the end of the path), and whether it holds a `%`.
    /// One plain loop: segments are short, and memchr's setup costs more.
    fn segment(&self, start: usize) -> (&'p str, Option<usize>, bool) {
        let bytes = self.path.as_bytes();
        let mut end = start;
        let mut escaped = false;
        while let Some(&byte) = bytes.get(end) {
            if byte == b'/' {
                break;
            }
            escaped |= byte == b'%';
            end += 1;
        }
        let raw = self.path.get(start..end).unwrap_or_default();
        (raw, (end < bytes.len()).then_some(end + 1), escaped)
    }
}

/// Where a search stands: the first leaf that matched the path (for Allow)
/// and, once found, the leaf and entry serving the method.
struct Search<'m> {
    method: Option<&'m str>,
    first_match: Option<usize>,
    /// The leaf, the entry serving the method, and the parameter spans.
    found: Option<(usize, usize, Spans)>,
    captured: Spans,
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
                    let key = LiteralKey::of(&decoded);
                    let position = match node.find_literal(key, &decoded) {
                        Some(position) => position,
                        None => {
                            node.literals.push(Literal {
                                key,
                                text: decoded.into_boxed_str(),
                                node: Node::default(),
                            });
                            node.literals.len() - 1
                        }
                    };
                    node = &mut node.literals[position].node;
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
            method_key: LiteralKey::of(method),
            route_id,
            pattern: pattern.to_owned(),
            names: parsed.param_names().to_vec(),
            kinds: parsed.params().map(|(_, kind)| kind).collect(),
        });
        leaf.refresh_allow();
        if parsed.is_static() {
            self.statics.insert(pattern.to_owned(), leaf_index);
            let bit = pattern.len().min(255);
            self.static_lengths[bit / 64] |= 1 << (bit % 64);
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
        // Fast path: an exact static route that has this method. Skipped
        // without hashing when no static pattern has this path's length.
        let bit = path.len().min(255);
        let could_be_static = self.static_lengths[bit / 64] & (1 << (bit % 64)) != 0;
        if could_be_static && !path.contains('%') {
            if let Some(entry) = self
                .statics
                .get(path)
                .and_then(|&leaf| self.leaves[leaf].entry(method))
            {
                return entry.found(path, SmallVec::new());
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
        if let Some((leaf, position, spans)) = search.found {
            if let Some(entry) = self.leaves[leaf].entries.get(position) {
                return entry.found(path, spans);
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
    /// `start` (`None`: the path is used up); returns true once the search is
    /// over. Where a node offers one way on (the usual case) it loops instead
    /// of recursing; it recurses only where it may have to backtrack.
    fn walk<'p>(
        &self,
        mut node: &Node,
        path: &PathCursor<'p>,
        mut start: Option<usize>,
        search: &mut Search<'_>,
    ) -> bool {
        let depth = search.captured.len();
        loop {
            let Some(at) = start else {
                let done = node.leaf.is_some_and(|leaf| self.visit(leaf, search));
                return done || Self::backtrack(search, depth);
            };
            let (raw, next, escaped) = path.segment(at);
            let segment = if escaped {
                match percent_decode(raw, false) {
                    Some(decoded) => decoded,
                    None => return Self::backtrack(search, depth), // not UTF-8 once decoded
                }
            } else {
                Cow::Borrowed(raw)
            };
            let literal = if node.literals.is_empty() {
                None
            } else {
                let key = if escaped {
                    LiteralKey::of(&segment)
                } else {
                    LiteralKey::within(path.path.as_bytes(), at, raw.len())
                };
                node.find_literal(key, &segment)
            };
            let single_way = node.params.len()
                + usize::from(node.catch_all.is_some())
                + usize::from(literal.is_some())
                <= 1;
            if single_way {
                if let Some(position) = literal {
                    node = &node.literals[position].node;
                    start = next;
                    continue;
                }
                if let [(kind, child)] = node.params.as_slice() {
                    if !kind.matches(&segment) {
                        return Self::backtrack(search, depth);
                    }
                    search.captured.push((at as u32, (at + raw.len()) as u32));
                    node = child;
                    start = next;
                    continue;
                }
            }
            let done = self.branch(node, path, at, raw, &segment, literal, next, search);
            return done || Self::backtrack(search, depth);
        }
    }

    /// Undoes the captures of a failed path; always false, for `||` chains.
    fn backtrack(search: &mut Search<'_>, depth: usize) -> bool {
        search.captured.truncate(depth);
        false
    }

    /// A node with several ways on: try each in precedence order.
    #[allow(clippy::too_many_arguments)]
    fn branch<'p>(
        &self,
        node: &Node,
        path: &PathCursor<'p>,
        at: usize,
        raw: &str,
        segment: &str,
        literal: Option<usize>,
        next: Option<usize>,
        search: &mut Search<'_>,
    ) -> bool {
        if let Some(position) = literal {
            if self.walk(&node.literals[position].node, path, next, search) {
                return true;
            }
        }
        for (kind, child) in &node.params {
            if kind.matches(segment) {
                search.captured.push((at as u32, (at + raw.len()) as u32));
                if self.walk(child, path, next, search) {
                    return true;
                }
                search.captured.pop();
            }
        }
        if let Some(leaf) = node.catch_all {
            let rest_is_valid =
                percent_decode(&path.path[at..], false).is_some_and(|rest| !rest.is_empty());
            if rest_is_valid {
                search.captured.push((at as u32, path.path.len() as u32));
                if self.visit(leaf, search) {
                    return true;
                }
                search.captured.pop();
            }
        }
        false
    }

    fn visit(&self, leaf: usize, search: &mut Search<'_>) -> bool {
        search.first_match.get_or_insert(leaf);
        match search.method {
            // Redirect check: any match will do.
            None => true,
            Some(method) => match self.leaves[leaf].position(method) {
                Some(position) => {
                    // The search ends here, so the captured spans can be moved out.
                    search.found = Some((leaf, position, std::mem::take(&mut search.captured)));
                    true
                }
                None => false,
            },
        }
    }
}
