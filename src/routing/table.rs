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
    /// Bucket of this key in a table of `1 << bits` slots (Fibonacci hashing
    /// of the length and first 8 bytes: two instructions, no byte loop).
    fn bucket(self, bits: u32) -> usize {
        let mixed = (self.prefix ^ (self.length as u64).rotate_right(8))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - bits)) as usize
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
    text: Box<str>,
    node: Node,
}

/// Slot value of an empty bucket in `Node::literal_index`.
const EMPTY_SLOT: u32 = u32::MAX;

/// From this many literal children on, a node looks them up through a small
/// open-addressed hash of their keys instead of scanning the keys.
const INDEX_LITERALS_FROM: usize = 8;

impl Node {
    /// The literal child equal to `text`, whose key is `key`. Few children
    /// are scanned (their keys sit together in one compact array, so a miss
    /// costs two compares and no memcmp); a busy node -- the ~30 literals
    /// under `/repos/{owner}/{repo}` -- is looked up through its hash index,
    /// a probe or two whatever the number of children.
    #[inline]
    fn find_literal(&self, key: LiteralKey, text: &[u8]) -> Option<usize> {
        let same = |position: usize| {
            self.literal_keys[position] == key
                && (key.length <= 8
                    || self.literals[position].text.as_bytes().get(8..) == text.get(8..))
        };
        if self.literal_index.is_empty() {
            return (0..self.literal_keys.len()).find(|&position| same(position));
        }
        let bits = self.literal_index.len().trailing_zeros();
        let mask = self.literal_index.len() - 1;
        let mut bucket = key.bucket(bits);
        loop {
            let slot = self.literal_index[bucket];
            if slot == EMPTY_SLOT {
                return None;
            }
            if same(slot as usize) {
                return Some(slot as usize);
            }
            bucket = (bucket + 1) & mask;
        }
    }

    fn push_literal(&mut self, key: LiteralKey, text: String) -> usize {
        self.literal_keys.push(key);
        self.literals.push(Literal {
            text: text.into_boxed_str(),
            node: Node::default(),
        });
        self.rebuild_literal_index();
        self.literals.len() - 1
    }

    /// Rebuilt on every insertion: registration is rare and the table tiny
    /// (a power of two at least twice the children, so probes stay short).
    fn rebuild_literal_index(&mut self) {
        let count = self.literal_keys.len();
        if count < INDEX_LITERALS_FROM {
            self.literal_index = Box::default();
            return;
        }
        let size = (count * 2).next_power_of_two();
        let bits = size.trailing_zeros();
        let mut index = vec![EMPTY_SLOT; size];
        for (position, key) in self.literal_keys.iter().enumerate() {
            let mut bucket = key.bucket(bits);
            while index[bucket] != EMPTY_SLOT {
                bucket = (bucket + 1) & (size - 1);
            }
            index[bucket] = position as u32;
        }
        self.literal_index = index.into_boxed_slice();
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Keys (length and first 8 bytes as a number) of the literal children,
    /// parallel to `literals`: compared without memcmp, which was a third of
    /// the resolve time when comparing strings.
    literal_keys: Vec<LiteralKey>,
    /// Open-addressed index into `literals` for nodes with many of them
    /// (empty otherwise).
    literal_index: Box<[u32]>,
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

    /// The segment starting at byte `start` (just after a '/'): where it
    /// ends, where the next one starts, its literal key and whether it holds
    /// a `%`.
    fn cut(&self, start: usize) -> Cut {
        let bytes = self.path.as_bytes();
        let (end, escaped, first_word) = segment_end(bytes, start);
        let length = end - start;
        // The key comes from the first word the scan loaded (bytes past the
        // segment masked off): no second read.
        let prefix = if length >= 8 {
            first_word
        } else {
            first_word & ((1u64 << (length * 8)) - 1)
        };
        Cut {
            end,
            next: (end < bytes.len()).then_some(end + 1),
            key: LiteralKey { length, prefix },
            escaped,
        }
    }
}

/// One segment of the request path, as `PathCursor::cut` found it.
struct Cut {
    end: usize,
    next: Option<usize>,
    /// The key of the raw segment (not meaningful when `escaped`).
    key: LiteralKey,
    escaped: bool,
}

/// The 8 bytes of `bytes` from `at` as a little-endian word, zero-filled
/// past the end. Near the end it loads the last 8 bytes and shifts, so a
/// path's final segment needs no byte loop either.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    if let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*chunk);
    }
    let missing = (at + 8).saturating_sub(bytes.len()).min(8);
    match bytes.last_chunk::<8>() {
        Some(last) if missing < 8 => u64::from_le_bytes(*last) >> (missing * 8),
        Some(_) => 0,
        None => {
            let mut padded = [0u8; 8];
            let rest = bytes.get(at..).unwrap_or_default();
            padded[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(padded)
        }
    }
}

/// The index of the first '/' at or after `start` (or the length), whether a
/// '%' comes before it, and the (zero-filled) first 8 bytes from `start`.
/// Eight bytes per step with the classic zero-byte trick: segments are too
/// short for memchr's setup to pay, and a byte loop was half the resolve
/// time. Zero fill is safe: a NUL byte is neither '/' nor '%'.
pub(super) fn segment_end(bytes: &[u8], start: usize) -> (usize, bool, u64) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// High bit of every byte of `word` equal to `byte`, plus possibly some
    /// above the lowest one (borrows), never below it.
    fn equal_bytes(word: u64, byte: u8) -> u64 {
        let differences = word ^ (ONES * u64::from(byte));
        differences.wrapping_sub(ONES) & !differences & HIGHS
    }
    let first_word = word_at(bytes, start);
    let mut word = first_word;
    let mut at = start;
    let mut escaped = false;
    loop {
        let slashes = equal_bytes(word, b'/');
        let percents = equal_bytes(word, b'%');
        if slashes != 0 {
            // Bits strictly below the first slash's high bit.
            let before = (slashes & slashes.wrapping_neg()) - 1;
            let escaped = escaped || percents & before != 0;
            let end = at + (slashes.trailing_zeros() / 8) as usize;
            return (end, escaped, first_word);
        }
        escaped |= percents != 0;
        at += 8;
        if at >= bytes.len() {
            return (bytes.len(), escaped, first_word);
        }
        word = word_at(bytes, at);
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
                    let position = match node.find_literal(key, decoded.as_bytes()) {
                        Some(position) => position,
                        None => node.push_literal(key, decoded),
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
        // without hashing when no static pattern has this path's length. A
        // raw path equal to a pattern's text means the same thing decoded,
        // so escapes need no check here (other spellings go to the trie).
        let bit = path.len().min(255);
        let could_be_static = self.static_lengths[bit / 64] & (1 << (bit % 64)) != 0;
        if could_be_static {
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
            let cut = path.cut(at);
            if cut.escaped {
                // Rare: decode, then take the general (backtracking) route.
                let raw = path.path.get(at..cut.end).unwrap_or_default();
                let Some(segment) = percent_decode(raw, false) else {
                    return Self::backtrack(search, depth); // not UTF-8 once decoded
                };
                let literal = node.find_literal(LiteralKey::of(&segment), segment.as_bytes());
                let done = self.branch(node, path, at, &cut, segment.as_bytes(), literal, search);
                return done || Self::backtrack(search, depth);
            }
            // Bytes, not &str: slicing a str checks char boundaries, which
            // showed in profiles; the raw path is ASCII-safe to cut at '/'.
            let raw = path.path.as_bytes().get(at..cut.end).unwrap_or_default();
            let literal = if node.literals.is_empty() {
                None
            } else {
                node.find_literal(cut.key, raw)
            };
            let single_way = node.params.len()
                + usize::from(node.catch_all.is_some())
                + usize::from(literal.is_some())
                <= 1;
            if single_way {
                if let Some(position) = literal {
                    node = &node.literals[position].node;
                    start = cut.next;
                    continue;
                }
                if let [(kind, child)] = node.params.as_slice() {
                    if !kind.matches_bytes(raw) {
                        return Self::backtrack(search, depth);
                    }
                    search.captured.push((at as u32, cut.end as u32));
                    node = child;
                    start = cut.next;
                    continue;
                }
            }
            let done = self.branch(node, path, at, &cut, raw, literal, search);
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
        cut: &Cut,
        segment: &[u8],
        literal: Option<usize>,
        search: &mut Search<'_>,
    ) -> bool {
        if let Some(position) = literal {
            if self.walk(&node.literals[position].node, path, cut.next, search) {
                return true;
            }
        }
        for (kind, child) in &node.params {
            if kind.matches_bytes(segment) {
                search.captured.push((at as u32, cut.end as u32));
                if self.walk(child, path, cut.next, search) {
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
