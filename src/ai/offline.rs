//! The offline provider (SPEC §3 "Offline AI provider"): the default install's tutor, quiz
//! generator and embeddings, with no network and no cost. Deterministic — the same input gives
//! the same output on every machine — so it is also the test double of every AI feature.
//!
//! It never invents: the tutor quotes the passages it was given (cited), or says plainly that
//! the student's lessons and notes don't cover the question; quizzes are cloze questions over
//! key terms of the given text, with distractors drawn from the text's other key terms.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use futures_util::stream;
use rust_decimal::Decimal;

use super::provider::{
    ChatEvent, ChatStream, GeneratedQuestion, GeneratedQuiz, QuizRequest, TutorRequest,
};
use super::tokens;
use super::{Source, Usage};

pub const CHAT_MODEL: &str = "offline-tutor";
/// The offline embedding's name, stored with every chunk vector: vectors of another name
/// (`offline-lexical-256`, words and word pairs only, before subwords were added) are not
/// compared with its queries.
pub const EMBEDDING_MODEL: &str = "offline-subword-256";
/// Dimension of the offline embeddings.
pub const DIMENSIONS: usize = 256;
/// What a protected answer is replaced by wherever it would be quoted.
pub const MASK: &str = "▢▢▢";
/// The blank of a cloze question.
const BLANK: &str = "_____";

/// The offline provider. Stateless: everything it needs is in the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl Offline {
    /// A tutor reply, streamed sentence by sentence.
    pub fn tutor(&self, req: &TutorRequest) -> ChatStream {
        let reply = tutor_reply(req);
        let mut prompt = tokens::count_message(CHAT_MODEL, &req.question);
        for turn in &req.history {
            prompt += tokens::count_message_recurring(CHAT_MODEL, &turn.text);
        }
        for source in &req.sources {
            prompt += tokens::count_message_recurring(CHAT_MODEL, &source.text);
        }
        let usage = Usage {
            model: CHAT_MODEL.into(),
            prompt_tokens: tokens::to_u32(prompt),
            completion_tokens: tokens::to_u32(tokens::count(CHAT_MODEL, &reply)),
            cost: Decimal::ZERO,
        };
        let mut events: Vec<_> = stream_chunks(&reply)
            .into_iter()
            .map(|chunk| Ok(ChatEvent::Delta(chunk)))
            .collect();
        events.push(Ok(ChatEvent::Done(usage)));
        Box::pin(stream::iter(events))
    }

    /// Up to `num_questions` cloze questions over the key terms of the sources.
    pub fn generate_quiz(&self, req: &QuizRequest) -> GeneratedQuiz {
        let questions = cloze_questions(&req.sources, req.num_questions);
        let prompt: usize = req
            .sources
            .iter()
            .map(|s| tokens::count(CHAT_MODEL, &s.text))
            .sum();
        let completion: usize = questions
            .iter()
            .map(|q| {
                tokens::count(CHAT_MODEL, &q.question_text)
                    + q.options
                        .iter()
                        .map(|o| tokens::count(CHAT_MODEL, o))
                        .sum::<usize>()
                    + q.explanation
                        .as_deref()
                        .map_or(0, |e| tokens::count(CHAT_MODEL, e))
            })
            .sum();
        GeneratedQuiz {
            title: format!("{}: practice quiz", req.topic_title.trim()),
            questions,
            usage: Usage {
                model: CHAT_MODEL.into(),
                prompt_tokens: tokens::to_u32(prompt),
                completion_tokens: tokens::to_u32(completion),
                cost: Decimal::ZERO,
            },
        }
    }

    /// Lexical embeddings of the texts.
    pub fn embed(&self, texts: &[String]) -> (Vec<Vec<f32>>, Usage) {
        let vectors = texts.iter().map(|t| embed_one(t)).collect();
        let prompt: usize = texts.iter().map(|t| tokens::count(CHAT_MODEL, t)).sum();
        let usage = Usage {
            model: EMBEDDING_MODEL.into(),
            prompt_tokens: tokens::to_u32(prompt),
            completion_tokens: 0,
            cost: Decimal::ZERO,
        };
        (vectors, usage)
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers

const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "even",
    "explain",
    "few",
    "for",
    "from",
    "further",
    "get",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "like",
    "made",
    "make",
    "makes",
    "many",
    "may",
    "me",
    "mean",
    "means",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "two",
    "under",
    "until",
    "up",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "called",
    "known",
    "often",
    "usually",
    "every",
    "within",
    "without",
    "however",
    "therefore",
    "thus",
    "first",
    "second",
    "new",
    "way",
    "ways",
    "thing",
    "things",
    "example",
    "three",
    "another",
    "around",
    "across",
];

fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// FNV-1a: a stable hash, the same on every machine and Rust version (unlike `DefaultHasher`).
fn fnv(bytes: &[u8]) -> u64 {
    fnv_more(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a continued over more bytes: `fnv_more(fnv(a), b) == fnv(a ++ b)`.
fn fnv_more(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Lower-cased words (letters, digits, inner apostrophes and hyphens).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A light suffix-stripping stem, enough for "cells"/"cell" or "converting"/"converts" to meet.
fn stem(word: &str) -> String {
    let w = word.trim_end_matches("'s");
    for suffix in [
        "ational", "ations", "ation", "ments", "ment", "ness", "ing", "ies", "ied",
    ] {
        if w.len() > suffix.len() + 3
            && let Some(base) = w.strip_suffix(suffix)
        {
            return if suffix.starts_with("ie") {
                format!("{base}y")
            } else {
                base.to_string()
            };
        }
    }
    for suffix in ["es", "ed", "ly", "s", "e"] {
        if w.len() > suffix.len() + 3
            && let Some(base) = w.strip_suffix(suffix)
            && !base.ends_with('s')
        {
            return base.to_string();
        }
    }
    w.to_string()
}

/// Content words of a text: its words minus stop words and single letters.
fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_stopword(w) && (w.chars().count() > 1 || w.chars().all(char::is_numeric)))
        .collect()
}

/// Content stems of a text: what relevance is measured on.
fn content_stems(text: &str) -> Vec<String> {
    content_words(text).iter().map(|w| stem(w)).collect()
}

/// Markdown decoration removed (headings, list markers, emphasis, code ticks), one paragraph,
/// heading or list item per line: wrapped lines of a paragraph are joined again.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut joinable = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            joinable = false;
            continue;
        }
        let heading = line.starts_with('#');
        let item = ["- ", "* ", "> ", "+ "].iter().any(|m| line.starts_with(m))
            || line
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        let content = line.trim_start_matches('#').trim_start();
        let content = ["- ", "* ", "> ", "+ "]
            .iter()
            .find_map(|m| content.strip_prefix(m))
            .unwrap_or(content);
        if joinable && !heading && !item {
            out.push(' ');
        } else if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(content);
        joinable = !heading;
    }
    out.replace("**", "")
        .replace("__", "")
        .replace('`', "")
        .replace("[[", "")
        .replace("]]", "")
}

/// Sentences of a plain text: split after `.`, `!` or `?` followed by a space, and at blank or
/// list-like line breaks (a heading line is a sentence of its own).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            current.push(*c);
            let next = chars.get(i + 1);
            let after = chars.get(i + 2);
            if matches!(c, '.' | '!' | '?')
                && next.is_some_and(|n| n.is_whitespace())
                && after.is_some_and(|a| a.is_uppercase() || a.is_numeric() || *a == '"')
                && !ends_with_abbreviation(&current)
            {
                push_sentence(&mut out, &current);
                current.clear();
            }
        }
        push_sentence(&mut out, &current);
    }
    out
}

fn ends_with_abbreviation(text: &str) -> bool {
    let last = text.split_whitespace().last().unwrap_or("").to_lowercase();
    [
        "e.g.", "i.e.", "etc.", "vs.", "dr.", "mr.", "mrs.", "st.", "fig.", "approx.",
    ]
    .contains(&last.as_str())
        || (last.len() == 2 && last.ends_with('.'))
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
}

/// Case-insensitive, whole-word occurrences of `needle` in `haystack`, as byte ranges.
fn find_whole(haystack: &str, needle: &str) -> Vec<(usize, usize)> {
    Lowered::new(haystack).find_whole(needle)
}

/// A text prepared once for any number of [`Lowered::find_whole`] searches: each character
/// with its byte offset and its lower case when that is a single character, and the whole text
/// so lowered for a quick test of whether a needle can occur at all.
struct Lowered<'a> {
    text: &'a str,
    chars: Vec<(usize, char, Option<char>)>,
    lower: String,
}

impl<'a> Lowered<'a> {
    fn new(text: &'a str) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut lower = String::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            let mut l = c.to_lowercase();
            let single = match (l.next(), l.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            };
            // A character whose lower case is several never matches: NUL stands in for it.
            lower.push(single.unwrap_or('\0'));
            chars.push((i, c, single));
        }
        Self { text, chars, lower }
    }

    /// Case-insensitive, whole-word occurrences of `needle`, as byte ranges of the text.
    fn find_whole(&self, needle: &str) -> Vec<(usize, usize)> {
        let needle_str: String = needle.trim().chars().flat_map(char::to_lowercase).collect();
        if needle_str.is_empty() || !self.lower.contains(needle_str.as_str()) {
            return Vec::new();
        }
        let needle: Vec<char> = needle_str.chars().collect();
        let chars = &self.chars;
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let mut found = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let boundary_before = i == 0 || !is_word(chars[i - 1].1) || !is_word(needle[0]);
            if boundary_before && i + needle.len() <= chars.len() {
                let matches = needle
                    .iter()
                    .enumerate()
                    .all(|(k, n)| chars[i + k].2 == Some(*n));
                let end = i + needle.len();
                let boundary_after = end == chars.len()
                    || !is_word(chars[end].1)
                    || !is_word(needle[needle.len() - 1]);
                if matches && boundary_after {
                    let start_byte = chars[i].0;
                    let end_byte = chars.get(end).map_or(self.text.len(), |c| c.0);
                    found.push((start_byte, end_byte));
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        found
    }
}

/// `text` with every whole-word occurrence of `needle` replaced by `with`.
fn replace_whole(text: &str, needle: &str, with: &str) -> String {
    replace_ranges(text, &find_whole(text, needle), with)
}

/// `text` with each of the byte ranges `found` (in order, not overlapping) replaced by `with`.
fn replace_ranges(text: &str, found: &[(usize, usize)], with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for &(start, end) in found {
        out.push_str(&text[last..start]);
        out.push_str(with);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Masks every protected answer in `text` (case-insensitive, whole words); returns whether
/// anything was masked.
pub(crate) fn mask_protected(text: &str, protected: &[String]) -> (String, bool) {
    let mut out = text.to_string();
    let mut masked = false;
    // Longest first, so that "carbon dioxide" is masked whole before "carbon".
    let mut answers: Vec<&str> = protected
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    answers.sort_by_key(|a| std::cmp::Reverse(a.chars().count()));
    let mut lowered = Lowered::new(text);
    for answer in answers {
        let found = lowered.find_whole(answer);
        if !found.is_empty() {
            let replaced = replace_ranges(lowered.text, &found, MASK);
            drop(lowered);
            out = replaced;
            masked = true;
            lowered = Lowered::new(&out);
        }
    }
    drop(lowered);
    (out, masked)
}

/// A reply cut into sentence-sized deltas, so that SSE clients see it arrive in steps.
fn stream_chunks(reply: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for piece in reply.split_inclusive(['.', '?', '!', '\n']) {
        current.push_str(piece);
        if current.split_whitespace().count() >= 4 || piece.ends_with('\n') {
            chunks.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

// ---------------------------------------------------------------------------------------------
// Tutor

/// The passage chosen from one source: its number and the sentences that matter.
struct Passage {
    number: usize,
    sentences: Vec<String>,
    score: f64,
}

fn tutor_reply(req: &TutorRequest) -> String {
    if req.sources.is_empty() {
        return decline(req.topic_title.as_deref());
    }
    let query: HashSet<String> = content_stems(&req.question).into_iter().collect();
    // Inverse document frequency over all sentences of all sources: rare words weigh more.
    let per_source: Vec<Vec<String>> = req
        .sources
        .iter()
        .map(|s| sentences(&plain(&s.text)))
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    let all_sentences: usize = per_source.iter().map(Vec::len).sum();
    let sentence_stems: Vec<Vec<HashSet<String>>> = per_source
        .iter()
        .map(|ss| {
            ss.iter()
                .map(|s| content_stems(s).into_iter().collect())
                .collect()
        })
        .collect();
    for source in &sentence_stems {
        for stems in source {
            for q in &query {
                if stems.contains(q) {
                    *df.entry(q.as_str()).or_default() += 1;
                }
            }
        }
    }
    let idf = |term: &str| {
        let d = df.get(term).copied().unwrap_or(0) as f64;
        (1.0 + all_sentences as f64 / (1.0 + d)).ln()
    };

    let mut passages: Vec<Passage> = Vec::new();
    for (index, source) in per_source.iter().enumerate() {
        let mut scored: Vec<(usize, f64)> = sentence_stems[index]
            .iter()
            .enumerate()
            .map(|(i, stems)| {
                let score: f64 = query
                    .iter()
                    .filter(|q| stems.contains(*q))
                    .map(|q| idf(q))
                    .sum();
                (i, score)
            })
            .filter(|(i, score)| *score > 0.0 && source[*i].split_whitespace().count() >= 3)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let Some(best) = scored.first().map(|s| s.1) else {
            continue;
        };
        scored.retain(|s| s.1 >= best * 0.5);
        scored.truncate(2);
        scored.sort_by_key(|s| s.0);
        passages.push(Passage {
            number: index + 1,
            sentences: scored.iter().map(|(i, _)| source[*i].clone()).collect(),
            score: best,
        });
    }
    if passages.is_empty() {
        // The passages share no word with the question: quoting them would be quoting
        // something unrelated.
        return decline(req.topic_title.as_deref());
    }
    passages.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.number.cmp(&b.number)));
    // Passages that only share a common word with the question are noise beside the best.
    let best = passages[0].score;
    passages.retain(|p| p.score >= best * 0.5);
    passages.truncate(3);
    let top = passages[0].sentences.join(" ");
    passages.sort_by_key(|p| p.number);

    let mut any_masked = false;
    let mut quoted = Vec::new();
    for passage in &passages {
        let text = capitalise(&passage.sentences.join(" "));
        let (text, masked) = mask_protected(&text, &req.protected_answers);
        any_masked |= masked;
        quoted.push(format!("{} [{}]", text, passage.number));
    }

    let mut reply = String::from("Here is what your lessons and notes say:\n\n");
    for q in &quoted {
        reply.push_str("- ");
        reply.push_str(q);
        reply.push('\n');
    }
    reply.push('\n');
    if any_masked {
        reply.push_str(
            "Part of this is hidden (▢▢▢) because it answers a quiz question you have not \
             submitted yet. ",
        );
        reply.push_str(
            "Which word or phrase do you think fills the gap, and what in the passage points \
             you to it?",
        );
        return reply;
    }
    let term = guiding_term(&top, &req.sources, &req.question, &req.protected_answers);
    reply.push_str(&guiding_question(term.as_deref(), &req.question));
    reply
}

/// A list item quoted on its own reads as a sentence.
fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn decline(topic: Option<&str>) -> String {
    let looked = match topic {
        Some(t) if !t.trim().is_empty() => format!("I looked through \"{}\", but ", t.trim()),
        _ => "I looked, but ".to_string(),
    };
    format!(
        "{looked}your lessons and notes don't cover this, so I won't guess. Try rephrasing the \
         question with the words your lesson uses, or pick the topic it belongs to so I can look \
         there."
    )
}

/// The key term of the passage the reply leans on: a term shared with the question when there
/// is one (the student asked about it), else the strongest key term of the sources that the
/// passage mentions. Never a protected answer.
fn guiding_term(
    passage: &str,
    sources: &[Source],
    question: &str,
    protected: &[String],
) -> Option<String> {
    let query: HashSet<String> = content_stems(question).into_iter().collect();
    let passage = Lowered::new(passage);
    let terms = key_terms(sources);
    let terms: Vec<&Term> = terms
        .iter()
        .filter(|t| !passage.find_whole(&t.text).is_empty())
        .filter(|t| {
            let term = Lowered::new(&t.text);
            protected.iter().all(|p| term.find_whole(p).is_empty())
        })
        .collect();
    let from_question = terms
        .iter()
        .find(|t| content_stems(&t.text).iter().any(|s| query.contains(s)));
    from_question
        .or_else(|| terms.first())
        .map(|t| t.text.clone())
}

fn guiding_question(term: Option<&str>, question: &str) -> String {
    let seed = fnv(question.as_bytes()) as usize;
    match term {
        Some(term) => {
            let templates = [
                "To check your understanding: how would you explain {} in your own words, and \
                 why does it matter here?",
                "Think it through: what would go wrong without {}, and how do you know?",
                "Try this: how does {} connect to the rest of this topic?",
            ];
            templates[seed % templates.len()].replace("{}", term)
        }
        None => "To check your understanding: which sentence above answers your question \
                 best, and how would you put it in your own words?"
            .to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Key terms and quiz generation

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TermKind {
    /// `**bold**` in Markdown: the author marked it as key.
    Bold,
    /// "X is …" / "X are …": a defined term.
    Defined,
    /// A capitalised multi-word name.
    Name,
    /// A content word repeated in the text.
    Frequent,
}

#[derive(Debug, Clone)]
struct Term {
    text: String,
    kind: TermKind,
    source: usize,
    /// Occurrences in all sources: more is more central.
    weight: usize,
}

/// How many sets of sources [`key_terms`] remembers the terms of before it starts afresh.
const REMEMBERED_SOURCE_SETS: usize = 1024;

/// The key terms of sets of sources seen before, by their ids in order, with their texts.
type TermMemory = HashMap<Vec<uuid::Uuid>, (Vec<String>, Arc<Vec<Term>>)>;
static KEY_TERMS: LazyLock<Mutex<TermMemory>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// [`find_key_terms`] of `sources`: a student's questions about one topic draw on the same
/// passages again and again, so the terms of each set of sources are found once and remembered
/// under the sources' ids, as long as their texts are the ones remembered.
fn key_terms(sources: &[Source]) -> Arc<Vec<Term>> {
    let ids: Vec<uuid::Uuid> = sources.iter().map(|s| s.id).collect();
    if let Some((texts, terms)) = KEY_TERMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ids)
        && texts.iter().eq(sources.iter().map(|s| &s.text))
    {
        return Arc::clone(terms);
    }
    let terms = Arc::new(find_key_terms(sources));
    let texts = sources.iter().map(|s| s.text.clone()).collect();
    let mut memory = KEY_TERMS.lock().unwrap_or_else(|e| e.into_inner());
    if memory.len() >= REMEMBERED_SOURCE_SETS {
        memory.clear();
    }
    memory.insert(ids, (texts, Arc::clone(&terms)));
    terms
}

/// The key terms of `sources`, most telling first: bold, then defined, then named, then
/// frequent; within a kind, the most used.
fn find_key_terms(sources: &[Source]) -> Vec<Term> {
    let mut found: BTreeMap<String, Term> = BTreeMap::new();
    let mut add = |text: &str, kind: TermKind, source: usize| {
        let text = text.trim().trim_matches(|c: char| !c.is_alphanumeric());
        if text
            .chars()
            .any(|c| !(c.is_alphanumeric() || c == ' ' || c == '-' || c == '\''))
        {
            return;
        }
        // "Every cell", "many mitochondria", "Two organelles": the term is what follows.
        let mut text = text.to_string();
        while let Some((first, rest)) = text.split_once(' ')
            && is_stopword(&first.to_lowercase())
        {
            text = rest.trim().to_string();
        }
        let n_words = text.split_whitespace().count();
        if text.chars().count() < 3 || n_words == 0 || n_words > 4 {
            return;
        }
        let ws = words(&text);
        if ws.iter().all(|w| is_stopword(w)) {
            return;
        }
        let key = text.to_lowercase();
        match found.get_mut(&key) {
            Some(existing) if existing.kind <= kind => {}
            _ => {
                found.insert(
                    key,
                    Term {
                        text,
                        kind,
                        source,
                        weight: 0,
                    },
                );
            }
        }
    };
    let mut counts: HashMap<String, (usize, usize, String)> = HashMap::new();
    for (index, source) in sources.iter().enumerate() {
        // Bold terms, from the raw Markdown.
        for (i, part) in source.text.split("**").enumerate() {
            if i % 2 == 1 && !part.contains('\n') {
                add(part, TermKind::Bold, index);
            }
        }
        let text = plain(&source.text);
        for sentence in sentences(&text) {
            // "X is …" / "X are …" at the start of a sentence.
            for verb in [" is ", " are ", " was ", " were ", " refers to ", " means "] {
                if let Some(pos) = sentence.find(verb) {
                    let subject = &sentence[..pos];
                    let subject = strip_article(subject);
                    let n = subject.split_whitespace().count();
                    if (1..=3).contains(&n)
                        && !subject.contains(',')
                        && !is_stopword(&subject.to_lowercase())
                    {
                        add(subject, TermKind::Defined, index);
                    }
                    break;
                }
            }
            // Capitalised multi-word names (not counting the sentence's first word alone).
            let tokens: Vec<&str> = sentence.split_whitespace().collect();
            let mut run: Vec<&str> = Vec::new();
            for (i, token) in tokens.iter().enumerate() {
                let clean = token.trim_matches(|c: char| !c.is_alphanumeric());
                let capital = clean.chars().next().is_some_and(char::is_uppercase)
                    && !(i == 0 && is_stopword(&clean.to_lowercase()));
                let connector = !run.is_empty() && matches!(clean, "of" | "de" | "von" | "the");
                if (capital || connector) && !clean.is_empty() {
                    run.push(clean);
                }
                let ends = !(capital || connector)
                    || clean.is_empty()
                    || token.ends_with([',', '.', ';', ':', '!', '?', ')']);
                if ends {
                    flush_name(&mut run, &mut add, index);
                }
            }
            flush_name(&mut run, &mut add, index);
        }
        // Content words, counted over all sources.
        for word in words(&text) {
            if word.chars().count() >= 5
                && !is_stopword(&word)
                && !word.chars().all(char::is_numeric)
            {
                let entry = counts
                    .entry(stem(&word))
                    .or_insert((0, index, word.clone()));
                entry.0 += 1;
            }
        }
    }
    let mut frequent: Vec<_> = counts.into_iter().filter(|(_, c)| c.0 >= 2).collect();
    frequent.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    for (_, (_, source, word)) in frequent.into_iter().take(24) {
        add(&word, TermKind::Frequent, source);
    }
    let all_text: Vec<String> = sources.iter().map(|s| plain(&s.text)).collect();
    let lowered: Vec<Lowered> = all_text.iter().map(|t| Lowered::new(t)).collect();
    let mut terms: Vec<Term> = found
        .into_values()
        .map(|mut t| {
            let mut lower_form = None;
            for lowered in &lowered {
                let text = lowered.text;
                for (start, end) in lowered.find_whole(&t.text) {
                    t.weight += 1;
                    let form = &text[start..end];
                    if form.chars().next().is_some_and(char::is_lowercase) {
                        lower_form.get_or_insert_with(|| form.to_string());
                    }
                }
            }
            // Capitalised only because it opened a sentence: show it as the text writes it
            // elsewhere, so that case does not give the answer away.
            if let Some(form) = lower_form {
                t.text = form;
            }
            t
        })
        .filter(|t| t.weight > 0)
        .collect();
    terms.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(b.weight.cmp(&a.weight))
            .then(a.text.to_lowercase().cmp(&b.text.to_lowercase()))
    });
    terms
}

fn strip_article(subject: &str) -> &str {
    let trimmed = subject.trim();
    for article in ["The ", "A ", "An ", "the ", "a ", "an "] {
        if let Some(rest) = trimmed.strip_prefix(article) {
            return rest.trim();
        }
    }
    trimmed
}

fn flush_name(run: &mut Vec<&str>, add: &mut impl FnMut(&str, TermKind, usize), index: usize) {
    while run
        .last()
        .is_some_and(|w| matches!(*w, "of" | "de" | "von" | "the"))
    {
        run.pop();
    }
    if run.len() >= 2 {
        add(&run.join(" "), TermKind::Name, index);
    }
    run.clear();
}

/// A deterministic order of `items`, seeded by `seed`.
fn shuffle(items: &mut [String], seed: &str) {
    items.sort_by_key(|item| fnv(format!("{seed}\u{1f}{item}").as_bytes()));
}

fn cloze_questions(sources: &[Source], limit: usize) -> Vec<GeneratedQuestion> {
    if limit == 0 {
        return Vec::new();
    }
    let terms = key_terms(sources);
    let terms = terms.as_slice();
    let per_source: Vec<Vec<String>> = sources.iter().map(|s| sentences(&plain(&s.text))).collect();
    let mut used_sentences: HashSet<String> = HashSet::new();
    let mut questions = Vec::new();
    for term in terms {
        if questions.len() >= limit {
            break;
        }
        // The first sentence of the term's source (or any source) where it occurs exactly once.
        let candidate = std::iter::once(term.source)
            .chain((0..sources.len()).filter(|i| *i != term.source))
            .flat_map(|i| per_source[i].iter().map(move |s| (i, s)))
            .find(|(_, s)| {
                let n = s.split_whitespace().count();
                (5..=60).contains(&n)
                    && !used_sentences.contains(*s)
                    && find_whole(s, &term.text).len() == 1
                    && !s.ends_with('?')
            });
        let Some((source_index, sentence)) = candidate else {
            continue;
        };
        let stem_text = replace_whole(sentence, &term.text, BLANK);
        // The answer must not show elsewhere in the stem (as another form of the same word).
        let answer_stems: HashSet<String> = content_stems(&term.text).into_iter().collect();
        let stem_stems: HashSet<String> = content_stems(&stem_text).into_iter().collect();
        if !answer_stems.is_empty() && answer_stems.is_subset(&stem_stems) {
            continue;
        }
        let distractors = pick_distractors(term, terms, &stem_text);
        if distractors.is_empty() {
            continue;
        }
        let question_text = format!("Fill in the blank: {stem_text}");
        let mut options = vec![term.text.clone()];
        options.extend(distractors);
        shuffle(&mut options, &question_text);
        let heading = sources[source_index]
            .heading
            .as_deref()
            .map(|h| format!(" (\"{}\")", h.trim()))
            .unwrap_or_default();
        used_sentences.insert(sentence.clone());
        questions.push(GeneratedQuestion {
            question_text,
            options,
            correct_answer: term.text.clone(),
            explanation: Some(format!("From your lesson{heading}: \"{sentence}\"")),
            source_id: Some(sources[source_index].id),
        });
    }
    questions
}

/// Up to three other key terms of the same shape as `term` (kind, number of words, length),
/// none equal to, inside or containing the answer, and none already in the stem.
fn pick_distractors(term: &Term, terms: &[Term], stem_text: &str) -> Vec<String> {
    let answer = term.text.to_lowercase();
    let answer_stems: HashSet<String> = content_stems(&term.text).into_iter().collect();
    let words_of = |t: &str| t.split_whitespace().count();
    let mut candidates: Vec<&Term> = terms
        .iter()
        .filter(|t| {
            let lower = t.text.to_lowercase();
            lower != answer
                && !lower.contains(&answer)
                && !answer.contains(&lower)
                && content_stems(&t.text)
                    .iter()
                    .all(|s| !answer_stems.contains(s))
                && find_whole(stem_text, &t.text).is_empty()
        })
        .collect();
    candidates.sort_by_key(|t| {
        (
            t.kind != term.kind,
            words_of(&t.text).abs_diff(words_of(&term.text)),
            t.text.ends_with('s') != term.text.ends_with('s'),
            t.text.chars().count().abs_diff(term.text.chars().count()) / 4,
            fnv(format!("{}\u{1f}{}", term.text, t.text).as_bytes()),
        )
    });
    let mut picked: Vec<String> = Vec::new();
    for t in candidates {
        if picked.len() == 3 {
            break;
        }
        let lower = t.text.to_lowercase();
        if picked.iter().all(|p| {
            let p = p.to_lowercase();
            p != lower && !p.contains(&lower) && !lower.contains(&p)
        }) {
            picked.push(match_case(&t.text, &term.text));
        }
    }
    picked
}

/// A distractor in the answer's case style, so that capitalisation does not give it away.
fn match_case(distractor: &str, answer: &str) -> String {
    let answer_lower = answer.chars().next().is_some_and(char::is_lowercase);
    let single = distractor.split_whitespace().count() == 1;
    if answer_lower && single {
        distractor.to_lowercase()
    } else {
        distractor.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/// Character n-grams taken of each word, as fastText takes them by default: 3 to 6
/// characters of the word wrapped in `<` and `>`.
const SUBWORD_MIN: usize = 3;
const SUBWORD_MAX: usize = 6;

/// Signed feature hashing, L2-normalised, of three kinds of feature: stemmed words (weight 1),
/// pairs of neighbouring stems (0.5), and the character 3- to 6-grams of each word
/// (fastText-style subwords), which share the word's weight (each `1/√n` of its `n` grams).
/// The subwords are what the full-text index lacks: a misspelt or run-together word
/// ("glycolisis", "mitocondria") shares most of its grams with the word in the notes, where
/// the index, matching whole stemmed words, finds nothing. A feature seen `c` times counts
/// `1 + ln c` times its weight (sublinear term frequency, as in the SMART `ltc` weighting), so
/// a name repeated all through a passage does not outweigh the rest of the question.
/// Deterministic: features are summed in a fixed order; identical texts give identical vectors.
fn embed_one(text: &str) -> Vec<f32> {
    // The hash of each feature's text → (summed weight, occurrences).
    let mut features: BTreeMap<u64, (f32, u32)> = BTreeMap::new();
    let mut add = |hash: u64, weight: f32| {
        let entry = features.entry(hash).or_default();
        entry.0 += weight;
        entry.1 += 1;
    };
    let kept = content_words(text);
    let stems: Vec<String> = kept.iter().map(|w| stem(w)).collect();
    for s in &stems {
        add(fnv(s.as_bytes()), 1.0);
    }
    for pair in stems.windows(2) {
        // "first second"
        let first = fnv_more(fnv(pair[0].as_bytes()), b" ");
        add(fnv_more(first, pair[1].as_bytes()), 0.5);
    }
    // A gram's feature is `#` and its letters (`#<gly`), apart from any word of those letters.
    let gram_seed = fnv(b"#");
    let mut marked = String::new();
    let mut bounds: Vec<usize> = Vec::new();
    for word in &kept {
        marked.clear();
        marked.push('<');
        marked.push_str(word);
        marked.push('>');
        bounds.clear();
        bounds.extend(marked.char_indices().map(|(i, _)| i));
        bounds.push(marked.len());
        let chars = bounds.len() - 1;
        let lengths = (SUBWORD_MIN..=SUBWORD_MAX).filter(|n| *n <= chars);
        let grams: usize = lengths.clone().map(|n| chars + 1 - n).sum();
        let weight = 1.0 / (grams.max(1) as f32).sqrt();
        for n in lengths {
            for start in 0..=chars - n {
                let gram = &marked.as_bytes()[bounds[start]..bounds[start + n]];
                add(fnv_more(gram_seed, gram), weight);
            }
        }
    }
    let mut vector = vec![0f32; DIMENSIONS];
    for (&h, &(sum, count)) in &features {
        let count = count as f32;
        let weight = sum / count * (1.0 + count.ln());
        let index = (h % DIMENSIONS as u64) as usize;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        vector[index] += sign * weight;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use uuid::Uuid;

    use super::*;
    use crate::ai::SourceKind;

    fn source(n: u128, heading: &str, text: &str) -> Source {
        Source {
            kind: SourceKind::Lesson,
            id: Uuid::from_u128(n),
            parent_id: Uuid::from_u128(1000 + n),
            heading: Some(heading.into()),
            text: text.into(),
        }
    }

    fn biology() -> Vec<Source> {
        vec![
            source(
                1,
                "Photosynthesis",
                "**Photosynthesis** is the process plants use to turn light into chemical energy. \
                 It takes place in the **chloroplast**, which contains the green pigment \
                 **chlorophyll**. The plant takes in carbon dioxide and water and releases \
                 **oxygen** as a by-product.",
            ),
            source(
                2,
                "Respiration",
                "**Cellular respiration** releases the energy stored in glucose. It happens \
                 mostly in the **mitochondria**, the powerhouse of the cell. The energy is \
                 stored as **ATP**, which the cell spends to do work. Glucose is broken down \
                 step by step.",
            ),
            source(
                3,
                "Cells",
                "The **nucleus** holds the genetic material of the cell. The **cell membrane** \
                 controls what enters and leaves the cell. Ribosomes build proteins from amino \
                 acids.",
            ),
        ]
    }

    async fn reply(req: &TutorRequest) -> (String, Vec<ChatEvent>) {
        let events: Vec<ChatEvent> = Offline
            .tutor(req)
            .map(|e| e.expect("the offline tutor never fails"))
            .collect()
            .await;
        let text = events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::Delta(d) => Some(d.as_str()),
                ChatEvent::Done(_) => None,
            })
            .collect();
        (text, events)
    }

    #[tokio::test]
    async fn the_tutor_quotes_the_relevant_passages_cited_and_asks_a_guiding_question() {
        let req = TutorRequest {
            question: "Where does cellular respiration happen?".into(),
            sources: biology(),
            ..Default::default()
        };
        let (text, events) = reply(&req).await;
        assert!(text.contains("mitochondria"), "{text}");
        assert!(text.contains("[2]"), "{text}");
        assert!(
            !text.contains("chlorophyll"),
            "unrelated passage quoted: {text}"
        );
        assert!(text.trim_end().ends_with('?'), "{text}");
        // Streamed in several deltas, then exactly one Done, last, with real counts.
        assert!(events.len() >= 3, "{events:?}");
        let done: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Done(_)))
            .collect();
        assert_eq!(done.len(), 1);
        let Some(ChatEvent::Done(usage)) = events.last() else {
            panic!("Done is not last: {events:?}");
        };
        assert_eq!(usage.model, CHAT_MODEL);
        assert_eq!(usage.cost, Decimal::ZERO);
        assert_eq!(
            usage.completion_tokens as usize,
            tokens::count(CHAT_MODEL, &text)
        );
        assert!(usage.prompt_tokens > usage.completion_tokens / 4);
    }

    #[tokio::test]
    async fn the_tutor_declines_plainly_without_sources() {
        let req = TutorRequest {
            question: "Who won the 1998 World Cup?".into(),
            topic_title: Some("Cell biology".into()),
            ..Default::default()
        };
        let (text, _) = reply(&req).await;
        assert!(
            text.contains("your lessons and notes don't cover this"),
            "{text}"
        );
        assert!(text.contains("Cell biology"), "{text}");
        assert!(!text.contains('['), "{text}");

        // Passages that share nothing with the question are not quoted as if they answered it.
        let req = TutorRequest {
            question: "What is the capital of France?".into(),
            sources: biology(),
            ..Default::default()
        };
        let (text, _) = reply(&req).await;
        assert!(
            text.contains("your lessons and notes don't cover this"),
            "{text}"
        );
        assert!(!text.contains("[1]"), "{text}");
    }

    #[tokio::test]
    async fn protected_answers_are_masked_and_a_guiding_question_asked() {
        let req = TutorRequest {
            question: "Where does cellular respiration happen?".into(),
            sources: biology(),
            protected_answers: vec!["Mitochondria".into(), "ATP".into()],
            ..Default::default()
        };
        let (text, _) = reply(&req).await;
        assert!(!text.to_lowercase().contains("mitochondria"), "{text}");
        assert!(!text.contains("ATP"), "{text}");
        assert!(text.contains(MASK), "{text}");
        assert!(text.trim_end().ends_with('?'), "{text}");
        // Whole words only: "cat" does not mask "category".
        assert_eq!(
            mask_protected("A category of Cat.", &["cat".into()]).0,
            format!("A category of {MASK}.")
        );
    }

    #[test]
    fn cloze_questions_are_real_multiple_choice() {
        let req = QuizRequest {
            topic_title: "Biology".into(),
            num_questions: 5,
            sources: biology(),
        };
        let quiz = Offline.generate_quiz(&req);
        assert_eq!(quiz.questions.len(), 5, "{:#?}", quiz.questions);
        assert_eq!(quiz.usage.cost, Decimal::ZERO);
        assert!(quiz.usage.prompt_tokens > 0 && quiz.usage.completion_tokens > 0);
        let ids: HashSet<Uuid> = biology().iter().map(|s| s.id).collect();
        let mut stems = HashSet::new();
        for q in &quiz.questions {
            assert!(q.question_text.contains(BLANK), "{q:?}");
            assert!(stems.insert(q.question_text.clone()), "duplicate {q:?}");
            assert!((2..=4).contains(&q.options.len()), "{q:?}");
            let distinct: HashSet<String> = q.options.iter().map(|o| o.to_lowercase()).collect();
            assert_eq!(distinct.len(), q.options.len(), "{q:?}");
            assert_eq!(
                q.options.iter().filter(|o| **o == q.correct_answer).count(),
                1,
                "{q:?}"
            );
            assert!(
                find_whole(&q.question_text, &q.correct_answer).is_empty(),
                "the answer shows in its stem: {q:?}"
            );
            assert!(ids.contains(&q.source_id.unwrap()), "{q:?}");
            let explanation = q.explanation.as_deref().unwrap();
            assert!(
                find_whole(explanation, &q.correct_answer).len() == 1,
                "{q:?}"
            );
        }
        assert!(
            quiz.questions.iter().any(|q| q.options.len() == 4),
            "{:#?}",
            quiz.questions
        );
    }

    #[test]
    fn quiz_generation_is_deterministic_and_limited_by_the_text() {
        let req = QuizRequest {
            topic_title: "Biology".into(),
            num_questions: 50,
            sources: biology(),
        };
        let a = Offline.generate_quiz(&req);
        let b = Offline.generate_quiz(&req);
        assert_eq!(a, b);
        assert!(a.questions.len() < 50);
        let options: HashSet<Vec<String>> = a.questions.iter().map(|q| q.options.clone()).collect();
        // Shuffled: the answer is not always in the same place.
        let positions: HashSet<usize> = a
            .questions
            .iter()
            .map(|q| {
                q.options
                    .iter()
                    .position(|o| *o == q.correct_answer)
                    .unwrap()
            })
            .collect();
        assert!(positions.len() > 1, "{options:?}");
        let empty = QuizRequest {
            topic_title: "Nothing".into(),
            num_questions: 3,
            sources: vec![],
        };
        assert!(Offline.generate_quiz(&empty).questions.is_empty());
    }

    #[test]
    fn embeddings_are_normalised_deterministic_and_lexically_similar() {
        let texts = vec![
            "Mitochondria release energy from glucose in the cell.".to_string(),
            "The cell releases energy from glucose in its mitochondria.".to_string(),
            "The French Revolution began in 1789 in Paris.".to_string(),
            "Mitochondria release energy from glucose in the cell.".to_string(),
        ];
        let (vectors, usage) = Offline.embed(&texts);
        assert_eq!(usage.model, EMBEDDING_MODEL);
        assert!(usage.prompt_tokens > 0);
        assert_eq!(vectors.len(), 4);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for v in &vectors {
            assert_eq!(v.len(), DIMENSIONS);
            assert!((dot(v, v) - 1.0).abs() < 1e-5);
        }
        assert_eq!(vectors[0], vectors[3]);
        assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.3);
    }

    #[test]
    fn misspelt_words_still_point_towards_the_word_in_the_notes() {
        let embed = |t: &str| Offline.embed(&[t.to_string()]).0.remove(0);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for (typed, notes, other) in [
            ("glycolisis", "glycolysis", "titration"),
            ("mitocondria", "mitochondria", "equilibrium"),
            ("equilibrum", "equilibrium", "mitochondria"),
            ("mergesort", "merge sort", "binary search"),
        ] {
            let (t, n, o) = (embed(typed), embed(notes), embed(other));
            assert!(
                dot(&t, &n) > 0.2 && dot(&t, &n) > dot(&t, &o) + 0.15,
                "{typed}: {} with {notes}, {} with {other}",
                dot(&t, &n),
                dot(&t, &o)
            );
        }
        // Words kept apart by their letters stay apart.
        assert!(dot(&embed("mitosis"), &embed("meiosis")) < 0.2);
    }
}
