//! Search that matches inside words and forgives a typo, served by equality on an index.
//!
//! Every product stores the distinct words of its name, description, SKU and category
//! (`words`, multikey-indexed). Each replica keeps the catalog's vocabulary (the distinct
//! values of `words`) and expands every query term into the vocabulary words it stands for;
//! the filter is then `{$and: [{words: {$in: expansions of term 1}}, ...]}`: plain equality,
//! which a multikey index serves on real MongoDB and the stand-in alike, and which keeps
//! keyset paging and page tokens (they name the terms, not the expansions) as they were.
//!
//! A term of one or two characters stands for the words it begins ("mu" → "mug": anything
//! looser matches half the vocabulary); a longer term for the words it occurs in ("lamp" →
//! "lamp", "headlamp"). Only when that finds nothing, a term of four or more characters
//! stands for the words that contain it with one edit (Damerau/OSA: a wrong, missing, extra
//! or swapped character; Sellers' approximate substring match): "lamps" and "haedlamp" →
//! "headlamp". Typo matches are a fallback, not a union, because results are sorted by name
//! or price and never by relevance: with both, "lamp" would also list everything "camping"
//! (one substitution away) mixed in with the lamps.
//!
//! Why not trigrams (or other n-grams) on the products: an n-gram filter needs a
//! "matches at least k of the term's n-grams" count per product, which is an aggregation
//! with a score, not a filter that keyset paging can continue, and on the stand-in it would
//! scan every product. The vocabulary is small next to the catalog (distinct words, not
//! products), so matching a term against it in memory is cheap, and exact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A term stands for at most this many words (the most similar first), so one short term
/// cannot turn into an `$in` of thousands of values.
pub const MAX_EXPANSIONS: usize = 64;
/// A replica keeps at most this many distinct words; beyond it search still finds whole
/// words (a term always stands for itself) but not every word a term occurs in.
pub const MAX_VOCABULARY: usize = 200_000;
/// Expansions remembered per vocabulary snapshot; the memo is emptied when it is full.
const MEMO_CAPACITY: usize = 1024;
/// Shorter terms match only at the start of a word.
const INSIDE_FROM_CHARS: usize = 3;
/// Shorter terms are not forgiven a typo: one edit away from a three-letter word is most of
/// the dictionary.
const TYPO_FROM_CHARS: usize = 4;

/// How a vocabulary word matched a term, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Exact,
    Prefix,
    Inside,
    Typo,
}

/// The catalog's distinct words; `true` when a non-archived product has the word, so a
/// shopper's search does not expand into words only archived products have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    words: BTreeMap<String, bool>,
    memo: Memo,
}

/// Expansions already computed from one snapshot of the vocabulary, by term and
/// `include_archived`: paging through a search repeats its terms on every page, and a large
/// vocabulary takes milliseconds per term to scan. A copy or a change of the vocabulary
/// starts empty.
#[derive(Default)]
struct Memo(std::sync::Mutex<HashMap<(String, bool), Vec<String>>>);

impl Memo {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, bool), Vec<String>>> {
        // A panic elsewhere while holding it leaves a map that is still valid.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Memo {
    /// A cache says nothing about the vocabulary it belongs to.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Memo {}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({} expansions)", self.lock().len())
    }
}

impl Vocabulary {
    /// `all` words of every product, of which `live` are words of non-archived products;
    /// at most [`MAX_VOCABULARY`] are kept (the first in `all`'s order).
    pub fn new(all: impl IntoIterator<Item = String>, live: &HashSet<String>) -> Self {
        let mut words = BTreeMap::new();
        for word in all {
            if words.len() >= MAX_VOCABULARY {
                tracing::warn!(
                    max = MAX_VOCABULARY,
                    "the catalog has more distinct words than the search vocabulary keeps; \
                     searches inside longer words miss some"
                );
                break;
            }
            let is_live = live.contains(&word);
            words.insert(word, is_live);
        }
        Self {
            words,
            memo: Memo::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Adds the words of a product this replica just wrote, so its own writes are
    /// searchable at once rather than after the next refresh.
    pub fn add_live(&mut self, words: &[String]) {
        self.memo = Memo::default();
        for word in words {
            if let Some(live) = self.words.get_mut(word) {
                *live = true;
            } else if self.words.len() < MAX_VOCABULARY {
                self.words.insert(word.clone(), true);
            }
        }
    }

    /// The words `term` (normalised, see `domain::search_terms`) stands for, the most
    /// similar first, at most [`MAX_EXPANSIONS`]; always the term itself first, so a whole
    /// word written on another replica since the last refresh is still found.
    pub fn expand(&self, term: &str, include_archived: bool) -> Vec<String> {
        let key = (term.to_owned(), include_archived);
        if let Some(known) = self.memo.lock().get(&key) {
            return known.clone();
        }
        let expansions = self.expand_afresh(term, include_archived);
        let mut memo = self.memo.lock();
        if memo.len() >= MEMO_CAPACITY {
            memo.clear();
        }
        memo.insert(key, expansions.clone());
        expansions
    }

    fn expand_afresh(&self, term: &str, include_archived: bool) -> Vec<String> {
        let candidates = || {
            self.words
                .iter()
                .filter(move |(_, live)| include_archived || **live)
                .map(|(word, _)| word.as_str())
        };
        let term_chars: Vec<char> = term.chars().collect();
        let length = term_chars.len();
        let mut found: Vec<(Fit, usize, &str)> = candidates()
            .filter_map(|word| {
                let fit = if word == term {
                    Fit::Exact
                } else if word.starts_with(term) {
                    Fit::Prefix
                } else if length >= INSIDE_FROM_CHARS && word.contains(term) {
                    Fit::Inside
                } else {
                    return None;
                };
                Some((fit, word.chars().count(), word))
            })
            .collect();
        if found.is_empty() && length >= TYPO_FROM_CHARS {
            let (head, tail) = typo_fragments(&term_chars);
            let mut word_chars = Vec::new();
            for word in candidates() {
                if !word.contains(head.as_str()) && !word.contains(tail.as_str()) {
                    continue;
                }
                word_chars.clear();
                word_chars.extend(word.chars());
                if word_chars.len() + 1 >= length
                    && within_one_edit_of_a_substring(&term_chars, &word_chars)
                {
                    found.push((Fit::Typo, word_chars.len().abs_diff(length), word));
                }
            }
        }
        found.sort_unstable();
        let mut expansions = vec![term.to_owned()];
        expansions.extend(
            found
                .into_iter()
                .filter(|(fit, _, _)| *fit != Fit::Exact)
                .map(|(_, _, word)| word.to_owned())
                .take(MAX_EXPANSIONS - 1),
        );
        expansions
    }
}

/// Two pieces of `term` (its start and its end, around the middle two characters) of which
/// a word within one edit of it must contain at least one as it is: an edit left of the
/// middle leaves the end intact, one right of it the start, and a swap across the middle
/// leaves both. Two substring searches rule out most words before the dynamic programme.
fn typo_fragments(term: &[char]) -> (String, String) {
    let half = term.len() / 2;
    (
        term[..half.saturating_sub(1)].iter().collect(),
        term[(half + 1).min(term.len())..].iter().collect(),
    )
}

/// Whether `term` is at most one edit (insertion, deletion, substitution or swap of two
/// adjacent characters) away from some substring of `word`: Sellers' approximate substring
/// matching, with the optimal-string-alignment transposition. O(|term|·|word|) with three
/// rows, and it stops as soon as every alignment costs two edits.
pub fn within_one_edit_of_a_substring(term: &[char], word: &[char]) -> bool {
    let columns = word.len() + 1;
    // Row i holds, for each end position j in `word`, the fewest edits that turn term[..i]
    // into a substring of `word` ending at j. Row 0 is all zeros: a match may start anywhere.
    let mut before_previous = vec![0usize; columns];
    let mut previous = vec![0usize; columns];
    let mut current = vec![0usize; columns];
    for i in 1..=term.len() {
        current[0] = i;
        for j in 1..columns {
            let substitution = previous[j - 1] + usize::from(term[i - 1] != word[j - 1]);
            let mut edits = substitution.min(previous[j] + 1).min(current[j - 1] + 1);
            if i > 1 && j > 1 && term[i - 1] == word[j - 2] && term[i - 2] == word[j - 1] {
                edits = edits.min(before_previous[j - 2] + 1);
            }
            current[j] = edits;
        }
        // Costs never fall from one row to the next by more than a swap allows, so a row
        // where everything costs 2 already decides (see the tests).
        if current.iter().all(|&edits| edits > 1) {
            return false;
        }
        std::mem::swap(&mut before_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous.iter().any(|&edits| edits <= 1)
}

/// A value derived from the whole catalog (the vocabulary, the category counts): read at
/// most once per `ttl` on this replica, by one caller at a time while the others wait for
/// its answer, so a burst of searches costs one catalog-wide query, not one each.
pub struct Summary<T> {
    what: &'static str,
    ttl: Duration,
    state: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T: Clone> Summary<T> {
    /// `what` names it in logs; `ttl` zero reads the value afresh every time.
    pub fn new(what: &'static str, ttl: Duration) -> Self {
        Self {
            what,
            ttl,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// The value, fetched with `fetch` when there is none younger than the TTL. When the
    /// fetch fails, the previous value (if any) serves for another TTL, so an overloaded
    /// database is not asked again on every request; without one, the error is returned
    /// and the next caller tries again.
    pub async fn get<E, F, Fut>(&self, fetch: F) -> Result<Arc<T>, E>
    where
        E: std::fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = self.state.lock().await;
        if let Some((fetched, value)) = state.as_ref()
            && fetched.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        match fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                *state = Some((Instant::now(), value.clone()));
                Ok(value)
            }
            Err(error) => match state.as_mut() {
                Some((fetched, value)) => {
                    tracing::warn!(summary = self.what, %error, "could not refresh; serving the previous one");
                    *fetched = Instant::now();
                    Ok(value.clone())
                }
                None => Err(error),
            },
        }
    }

    /// Edits the held value, if any, in place (for a change this replica made itself).
    pub async fn update(&self, change: impl FnOnce(&mut T)) {
        if let Some((_, value)) = self.state.lock().await.as_mut() {
            change(Arc::make_mut(value));
        }
    }

    /// Forgets the value, so the next caller reads it afresh.
    pub async fn invalidate(&self) {
        *self.state.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(text: &str) -> Vec<char> {
        text.chars().collect()
    }

    fn near(term: &str, word: &str) -> bool {
        within_one_edit_of_a_substring(&chars(term), &chars(word))
    }

    #[test]
    fn one_edit_of_a_substring_is_near_and_two_are_not() {
        // Exact substrings, anywhere.
        assert!(near("lamp", "headlamp"));
        assert!(near("head", "headlamp"));
        assert!(near("dla", "headlamp"));
        // Each kind of edit, at the start, inside and at the end.
        assert!(near("lamps", "headlamp"), "extra character at the end");
        assert!(
            near("xheadlamp", "headlamp"),
            "extra character at the start"
        );
        assert!(near("headlxamp", "headlamp"), "extra character inside");
        assert!(near("hedlamp", "headlamp"), "missing character");
        assert!(near("headlemp", "headlamp"), "wrong character");
        assert!(near("haedlamp", "headlamp"), "swapped characters");
        assert!(near("headlmap", "headlamp"), "swapped characters");
        assert!(near("ehadlamp", "headlamp"), "swapped first characters");
        assert!(near("headlapm", "headlamp"), "swapped last characters");
        // Two edits are too many.
        assert!(!near("haedlmap", "headlamp"));
        assert!(!near("lampss", "headlamp"));
        assert!(!near("hxdlxmp", "headlamp"));
        assert!(!near("kettle", "headlamp"));
        // Degenerate inputs.
        assert!(near("", "anything"));
        assert!(near("a", ""), "one deletion");
        assert!(!near("ab", ""));
    }

    /// The early exit must never change the answer: compare with the full table on every
    /// pair of short strings over a small alphabet.
    #[test]
    fn the_early_exit_agrees_with_the_full_table() {
        fn full(term: &[char], word: &[char]) -> bool {
            let (m, n) = (term.len(), word.len());
            let mut d = vec![vec![0usize; n + 1]; m + 1];
            for (i, row) in d.iter_mut().enumerate() {
                row[0] = i;
            }
            for i in 1..=m {
                for j in 1..=n {
                    let mut best = (d[i - 1][j - 1] + usize::from(term[i - 1] != word[j - 1]))
                        .min(d[i - 1][j] + 1)
                        .min(d[i][j - 1] + 1);
                    if i > 1 && j > 1 && term[i - 1] == word[j - 2] && term[i - 2] == word[j - 1] {
                        best = best.min(d[i - 2][j - 2] + 1);
                    }
                    d[i][j] = best;
                }
            }
            d[m].iter().any(|&edits| edits <= 1)
        }
        let strings: Vec<Vec<char>> = (0..4)
            .flat_map(|len| {
                (0..3usize.pow(len)).map(move |mut code| {
                    (0..len)
                        .map(|_| {
                            let c = ['a', 'b', 'c'][code % 3];
                            code /= 3;
                            c
                        })
                        .collect()
                })
            })
            .collect();
        for term in &strings {
            for word in &strings {
                assert_eq!(
                    within_one_edit_of_a_substring(term, word),
                    full(term, word),
                    "{term:?} in {word:?}"
                );
            }
        }
    }

    /// The shortcut in `expand` may only skip words that are not near: check it on every
    /// term of 4 to 6 and every word of up to 6 characters over a small alphabet.
    #[test]
    fn typo_fragments_never_rule_out_a_near_word() {
        fn all(length: u32) -> impl Iterator<Item = Vec<char>> {
            (0..3usize.pow(length)).map(move |mut code| {
                (0..length)
                    .map(|_| {
                        let c = ['a', 'b', 'c'][code % 3];
                        code /= 3;
                        c
                    })
                    .collect()
            })
        }
        let words: Vec<Vec<char>> = (0..=6).flat_map(all).collect();
        for term in (4..=6).flat_map(all) {
            let (head, tail) = typo_fragments(&term);
            for word in &words {
                if within_one_edit_of_a_substring(&term, word) {
                    let text: String = word.iter().collect();
                    assert!(
                        text.contains(head.as_str()) || text.contains(tail.as_str()),
                        "{term:?} is near {text:?} but neither {head:?} nor {tail:?} is in it"
                    );
                }
            }
        }
    }

    fn vocabulary(live: &[&str], archived: &[&str]) -> Vocabulary {
        let live_set: HashSet<String> = live.iter().map(|w| w.to_string()).collect();
        Vocabulary::new(
            live.iter().chain(archived).map(|w| w.to_string()),
            &live_set,
        )
    }

    const CATALOG: &[&str] = &[
        "headlamp", "lamp", "camping", "stove", "mug", "summer", "music", "tent", "kettle", "0101",
    ];

    #[test]
    fn terms_expand_to_the_words_they_begin_occur_in_or_nearly_occur_in() {
        let v = vocabulary(CATALOG, &[]);
        assert_eq!(v.expand("lamp", false), ["lamp", "headlamp"]);
        assert_eq!(v.expand("lamps", false), ["lamps", "lamp", "headlamp"]);
        assert_eq!(v.expand("haedlamp", false), ["haedlamp", "headlamp"]);
        assert_eq!(v.expand("headlmap", false), ["headlmap", "headlamp"]);
        assert_eq!(
            v.expand("amp", false),
            ["amp", "lamp", "camping", "headlamp"]
        );
        // Short terms only begin words; three letters are not forgiven a typo.
        assert_eq!(v.expand("mu", false), ["mu", "mug", "music"]);
        assert_eq!(v.expand("um", false), ["um"]);
        assert_eq!(v.expand("mig", false), ["mig"]);
        // Unrelated words stand only for themselves.
        assert_eq!(v.expand("xylophone", false), ["xylophone"]);
        assert_eq!(v.expand("010", false), ["010", "0101"]);
    }

    #[test]
    fn a_typo_match_is_a_fallback_so_camping_is_no_lamp() {
        let v = vocabulary(CATALOG, &[]);
        assert!(near("lamp", "camping"), "one substitution away");
        assert!(!v.expand("lamp", false).contains(&"camping".to_owned()));
        assert!(v.expand("lampin", false).contains(&"camping".to_owned()));
    }

    #[test]
    fn archived_words_only_expand_when_archived_products_are_listed() {
        let v = vocabulary(&["lamp"], &["headlamp"]);
        assert_eq!(v.expand("lamp", false), ["lamp"]);
        assert_eq!(v.expand("lamp", true), ["lamp", "headlamp"]);
        let mut v = v;
        v.add_live(&["headlamp".to_owned()]);
        assert_eq!(
            v.expand("lamp", false),
            ["lamp", "headlamp"],
            "not the remembered expansion from before the change"
        );
        // A word only an archived product has does not hide a typo match among live ones.
        let v = vocabulary(&["headlamp"], &["lamps"]);
        assert_eq!(v.expand("lamps", false), ["lamps", "headlamp"]);
        assert_eq!(v.expand("lamps", true), ["lamps"]);
    }

    #[test]
    fn expansions_are_capped_most_similar_first() {
        let words: Vec<String> = (0..500).map(|i| format!("lamp{i}")).collect();
        let refs: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .chain(["headlamp", "lamp"])
            .collect();
        let v = vocabulary(&refs, &[]);
        let expanded = v.expand("lamp", false);
        assert_eq!(expanded.len(), MAX_EXPANSIONS);
        assert_eq!(expanded[..3], ["lamp", "lamp0", "lamp1"]);
        assert!(
            !expanded.contains(&"headlamp".to_owned()),
            "words it begins come before words it is inside"
        );
    }

    #[tokio::test]
    async fn a_summary_is_fetched_once_per_ttl_and_again_after_invalidation() {
        let summary = Summary::<u32>::new("test", Duration::from_secs(60));
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let fetch = || async {
            Ok::<_, &str>(fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 100)
        };
        assert_eq!(*summary.get(fetch).await.unwrap(), 100);
        assert_eq!(*summary.get(fetch).await.unwrap(), 100);
        summary.update(|value| *value += 1).await;
        assert_eq!(*summary.get(fetch).await.unwrap(), 101);
        summary.invalidate().await;
        assert_eq!(*summary.get(fetch).await.unwrap(), 101, "fetched again");
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(
            summary
                .get(|| async { Err::<u32, _>("down") })
                .await
                .is_ok()
        );
        let uncached = Summary::<u32>::new("test", Duration::ZERO);
        let down = || async { Err::<u32, _>("down") };
        assert!(uncached.get(down).await.is_err());
        assert_eq!(*uncached.get(fetch).await.unwrap(), 102);
        assert_eq!(
            *uncached.get(down).await.unwrap(),
            102,
            "a failed refresh serves the previous value"
        );
    }
}
