//! Retrieval, one interface (SPEC §3 "AI tutor"): lesson text split into passages
//! (`lesson_passages`), indexed for full-text search, and `search`, which ranks the passages
//! that answer a student's free-text question best first, with `answerable` deciding when none
//! does ("your lessons and notes don't cover this").
//!
//! Passages are rewritten in the same transaction as their lesson (`reindex_lesson` from the
//! content service and the demo seeding); deleting a lesson removes them by ON DELETE CASCADE.
//! On SQLite, triggers keep the FTS5 table in step with `lesson_passages` (migration 9).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Statement, Value,
};
use uuid::Uuid;

use crate::db::Db;
use crate::entity::{lesson_passages, lessons};

/// A passage aims at this many words: enough context to answer from, short enough to cite.
const PASSAGE_MIN_WORDS: usize = 60;
const PASSAGE_MAX_WORDS: usize = 180;
/// A section's last piece shorter than this joins the passage before it rather than stand alone.
const PASSAGE_TAIL_WORDS: usize = 25;
/// At most this many content terms of a question go into the query; the rest add noise.
const MAX_QUERY_TERMS: usize = 16;
/// Candidates fetched from the index before the re-ranking by term coverage.
const MIN_CANDIDATES: u64 = 30;
/// The share of the question's weight (its content terms, each weighted by [`idf`]) the best
/// passage must hold for the tutor to answer from it. Below it, the lessons do not cover the
/// question: the words they share with it are the common ones, not the ones that say what it
/// is about.
pub const MIN_COVERAGE: f64 = 0.5;
/// How the score weighs term coverage against the index's own (BM25-style) rank.
const COVERAGE_WEIGHT: f64 = 0.5;
/// Two words of a question's compound ("water cycle") must stand at most this many words apart
/// in some candidate passage for the lessons to speak of the compound.
const COMPOUND_WINDOW: usize = 4;

/// One passage found by [`search`].
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub lesson_id: Uuid,
    pub passage_id: Uuid,
    pub heading: Option<String>,
    pub text: String,
    /// 0..=1, best first: term coverage blended with the index rank relative to the best
    /// candidate.
    pub score: f64,
    /// The share (0..=1) of the question's weight this passage (with its heading) holds: its
    /// content terms, each weighted by how rare it is among the passages (see [`search`]).
    pub coverage: f64,
}

// ---------------------------------------------------------------------------------------------
// Splitting

/// Splits a lesson's Markdown into passages of roughly 60–180 words along headings and
/// paragraphs; each carries the heading of its section (`None` before the first heading). A
/// paragraph longer than the maximum is cut at sentence ends.
pub fn split_passages(markdown: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut heading: Option<String> = None;
    let mut section: Vec<String> = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if let Some(title) = heading_text(trimmed) {
            flush_block(&mut block, &mut section);
            flush_section(&heading, &mut section, &mut out);
            heading = Some(title.to_string());
        } else if trimmed.is_empty() {
            flush_block(&mut block, &mut section);
        } else {
            block.push(line.trim_end());
        }
    }
    flush_block(&mut block, &mut section);
    flush_section(&heading, &mut section, &mut out);
    out
}

fn heading_text(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches('#');
    let level = line.len() - rest.len();
    if (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')) {
        let title = rest.trim().trim_end_matches('#').trim();
        (!title.is_empty()).then_some(title)
    } else {
        None
    }
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Ends a paragraph: adds it to the section, cut at sentence ends when it is too long.
fn flush_block(block: &mut Vec<&str>, section: &mut Vec<String>) {
    if block.is_empty() {
        return;
    }
    let paragraph = block.join("\n");
    block.clear();
    if word_count(&paragraph) <= PASSAGE_MAX_WORDS {
        section.push(paragraph);
        return;
    }
    let mut piece = String::new();
    for sentence in sentences(&paragraph) {
        if !piece.is_empty() && word_count(&piece) + word_count(sentence) > PASSAGE_MAX_WORDS {
            section.push(std::mem::take(&mut piece));
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        piece.push_str(sentence.trim());
    }
    if !piece.is_empty() {
        section.push(piece);
    }
}

/// Sentences of `text`, each with its closing punctuation.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?')
            && bytes
                .get(i + 1)
                .is_none_or(|next| next.is_ascii_whitespace())
        {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        out.push(&text[start..]);
    }
    out
}

/// Ends a section: groups its paragraphs into passages of the target size.
fn flush_section(
    heading: &Option<String>,
    section: &mut Vec<String>,
    out: &mut Vec<(Option<String>, String)>,
) {
    let mut passages: Vec<String> = Vec::new();
    let mut current = String::new();
    for paragraph in section.drain(..) {
        let words = word_count(&paragraph);
        let have = word_count(&current);
        if !current.is_empty() && (have >= PASSAGE_MIN_WORDS || have + words > PASSAGE_MAX_WORDS) {
            passages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&paragraph);
    }
    if !current.is_empty() {
        match passages.last_mut() {
            Some(last)
                if word_count(&current) < PASSAGE_TAIL_WORDS
                    && word_count(last) + word_count(&current) <= PASSAGE_MAX_WORDS =>
            {
                last.push_str("\n\n");
                last.push_str(&current);
            }
            _ => passages.push(current),
        }
    }
    out.extend(passages.into_iter().map(|p| (heading.clone(), p)));
}

// ---------------------------------------------------------------------------------------------
// Indexing

/// Rewrites the passages of one lesson from its current text, inside the caller's transaction.
/// A lesson that no longer exists keeps no passages.
pub async fn reindex_lesson(
    conn: &impl ConnectionTrait,
    lesson_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let content: Option<String> = lessons::Entity::find_by_id(lesson_id)
        .select_only()
        .column(lessons::Column::Content)
        .into_tuple()
        .one(conn)
        .await?;
    index_lesson(conn, lesson_id, content.as_deref().unwrap_or(""), now).await
}

/// Rewrites the passages of `lesson_id` from `content` (a lesson just written).
pub async fn index_lesson(
    conn: &impl ConnectionTrait,
    lesson_id: Uuid,
    content: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    lesson_passages::Entity::delete_many()
        .filter(lesson_passages::Column::LessonId.eq(lesson_id))
        .exec(conn)
        .await?;
    let rows: Vec<lesson_passages::ActiveModel> = split_passages(content)
        .into_iter()
        .enumerate()
        .map(|(i, (heading, text))| lesson_passages::ActiveModel {
            id: Set(Uuid::now_v7()),
            lesson_id: Set(lesson_id),
            position: Set(i32::try_from(i + 1).unwrap_or(i32::MAX)),
            heading: Set(heading),
            passage_text: Set(text),
            created_at: Set(now),
        })
        .collect();
    if !rows.is_empty() {
        lesson_passages::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Writes the passages of every lesson that has none: lessons written before passages
/// existed (an older database), at `serve` start and by `seed-demo`. Returns how many lessons
/// it indexed (a lesson without text stays without passages, at the cost of one split).
pub async fn index_missing(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let indexed = Query::select()
        .column(lesson_passages::Column::LessonId)
        .from(lesson_passages::Entity)
        .to_owned();
    let missing: Vec<(Uuid, String)> = lessons::Entity::find()
        .select_only()
        .column(lessons::Column::Id)
        .column(lessons::Column::Content)
        .filter(lessons::Column::Id.not_in_subquery(indexed))
        .into_tuple()
        .all(conn)
        .await?;
    for (id, content) in &missing {
        index_lesson(conn, *id, content, now).await?;
    }
    Ok(missing.len())
}

/// At start-up and after seeding: [`index_missing`] in one write transaction, logged.
pub async fn index_missing_in(db: &Db, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let txn = db.begin_write().await?;
    let n = index_missing(&txn, now).await?;
    txn.commit().await?;
    if n > 0 {
        tracing::info!(lessons = n, "lesson passages indexed for retrieval");
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Searching

/// Words a question is made of that say nothing about its subject: they are dropped so that
/// "what does the Golgi apparatus do?" searches for `golgi apparatus`.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "actually",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
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
    "cannot",
    "could",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "else",
    "even",
    "ever",
    "exactly",
    "explain",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "give",
    "go",
    "goes",
    "going",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "help",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "kind",
    "know",
    "let",
    "like",
    "ll",
    "me",
    "mean",
    "meaning",
    "means",
    "meant",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "quite",
    "rather",
    "re",
    "really",
    "said",
    "same",
    "say",
    "says",
    "she",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "sort",
    "still",
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
    "thing",
    "things",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "understand",
    "until",
    "up",
    "us",
    "use",
    "used",
    "using",
    "ve",
    "very",
    "was",
    "wasn",
    "way",
    "we",
    "were",
    "weren",
    "what",
    "whats",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "yes",
    "you",
    "your",
    "yours",
    // Prepositions and the filler of questions ("what happens…", "why is it important…").
    "across",
    "against",
    "along",
    "among",
    "around",
    "beside",
    "beyond",
    "near",
    "onto",
    "per",
    "toward",
    "towards",
    "upon",
    "via",
    "within",
    "without",
    "called",
    "different",
    "find",
    "happen",
    "happened",
    "happening",
    "happens",
    "important",
    "importance",
    "look",
    "looks",
    "main",
    "make",
    "made",
    "makes",
    "many",
    "put",
    "special",
    "take",
    "takes",
    "try",
    "work",
    "works",
];

/// [`STOP_WORDS`] for lookups.
static STOP_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// The content terms of a student's question, lowercased, in order, without repeats: its
/// words minus stop words, American spellings mapped to the lessons' British ones.
pub fn query_terms(question: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    for word in question
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
    {
        if word.chars().count() < 2 || STOP_SET.contains(word.as_str()) {
            continue;
        }
        let word = british(&word);
        if seen.insert(word.clone()) {
            terms.push(word);
        }
        if terms.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    terms
}

/// `organize`, `factorizing`, `civilization` → the `-ise` spellings the lessons use.
fn british(word: &str) -> String {
    for (us, uk) in [
        ("ization", "isation"),
        ("izing", "ising"),
        ("ized", "ised"),
        ("izes", "ises"),
        ("ize", "ise"),
    ] {
        if let Some(stem) = word.strip_suffix(us)
            && stem.chars().count() >= 3
        {
            return format!("{stem}{uk}");
        }
    }
    word.to_string()
}

/// A light stemmer for measuring term coverage the same way on both backends (the indexes
/// stem with their own, Porter-style, stemmers).
fn stem(word: &str) -> String {
    // Lower case and accents folded; for ASCII (nearly every word) both in one copy.
    let mut w = if word.is_ascii() {
        word.to_ascii_lowercase()
    } else {
        fold_accents(&word.to_lowercase())
    };
    for (suffix, keep) in [
        ("isations", ""),
        ("isation", ""),
        ("ation", ""),
        ("ising", ""),
        ("ised", ""),
        ("ise", ""),
        ("ies", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("ly", ""),
        ("s", ""),
    ] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 3
            && !(suffix == "s" && base.ends_with('s'))
        {
            let len = base.len();
            w.truncate(len);
            w.push_str(keep);
            break;
        }
    }
    // `solve`/`solving`, `divide`/`dividing`: a final e is no part of the word's stem.
    if w.ends_with('e') && w.chars().count() > 4 {
        w.pop();
    }
    w
}

/// `Çatalhöyük` → `catalhoyuk`: students type names with or without their accents.
fn fold_accents(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// Endings that turn a word into a relative of the same meaning (`revolution`/`revolutionary`,
/// `chromosome`/`chromosomal`, `osmos`/`osmotic` after stemming). Prefix matching without such
/// a list took `differential` for `different` and `divide` for `dividend`.
const RELATED_ENDINGS: &[&str] = &[
    "e", "s", "es", "al", "ally", "ar", "ary", "ic", "ical", "ion", "ions", "er", "ers", "or",
    "ors", "y", "ment", "ments", "ist", "ists", "ism",
];

/// Two stems name the same word: equal, or one is the other (at least four letters) with one of
/// the [`RELATED_ENDINGS`].
fn same_word(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.chars().count() >= 4
        && long
            .strip_prefix(short)
            .is_some_and(|ending| RELATED_ENDINGS.contains(&ending))
}

/// How many passages' stems [`passage_stems`] remembers before it starts afresh.
const REMEMBERED_PASSAGES: usize = 8192;

/// The stems of passages searched before, by passage id, with the text they were taken from.
type StemMemory = HashMap<Uuid, (String, Arc<Vec<String>>)>;
static PASSAGE_STEMS: LazyLock<Mutex<StemMemory>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// [`stems`] of a candidate passage's text (its heading and body): the same passages come back
/// question after question, so each is stemmed once and remembered under its id, as long as its
/// text is the one remembered (a rewritten lesson's passages get new ids anyway).
fn passage_stems(id: Uuid, text: &str) -> Arc<Vec<String>> {
    if let Some((seen, words)) = PASSAGE_STEMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        && seen == text
    {
        return Arc::clone(words);
    }
    let words = Arc::new(stems(text));
    let mut memory = PASSAGE_STEMS.lock().unwrap_or_else(|e| e.into_inner());
    if memory.len() >= REMEMBERED_PASSAGES {
        memory.clear();
    }
    memory.insert(id, (text.to_string(), Arc::clone(&words)));
    words
}

/// The stems of `text`'s words, in order.
fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(stem)
        .collect()
}

/// The names a question mentions: runs of two or more adjacent capitalised content words
/// ("World War One", "French Revolution", "Pax Romana"), as indexes into `query_terms`. A
/// passage speaks of a name only when it holds its words next to each other, in order: a
/// lesson on the Industrial Revolution that mentions "world", "war" and "one" apart says
/// nothing about World War One. Students who type in lower case get no names, only terms.
pub fn names(question: &str) -> Vec<Vec<usize>> {
    let terms = query_terms(question);
    let mut out = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for word in question.split(|c: char| c.is_whitespace() || c == '-') {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let lower = british(&word.to_lowercase());
        let capitalised = word.chars().next().is_some_and(char::is_uppercase);
        match terms.iter().position(|t| *t == lower) {
            Some(i) if capitalised => run.push(i),
            _ => {
                if run.len() >= 2 {
                    out.push(std::mem::take(&mut run));
                }
                run.clear();
            }
        }
    }
    if run.len() >= 2 {
        out.push(run);
    }
    out
}

/// Pairs of the question's content terms that stand next to each other in it (indexes into
/// `query_terms`): "water cycle", "climate change", "solar cells", "mitotic index".
pub fn compounds(question: &str) -> Vec<(usize, usize)> {
    let terms = query_terms(question);
    let mut out = Vec::new();
    let mut previous: Option<usize> = None;
    for word in question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let current = terms
            .iter()
            .position(|t| *t == british(&word.to_lowercase()));
        if let (Some(a), Some(b)) = (previous, current)
            && a != b
        {
            out.push((a, b));
        }
        previous = current;
    }
    out
}

/// Whether `words` (a passage's stems) hold `a` and `b` within [`COMPOUND_WINDOW`] words of
/// each other.
fn holds_near(words: &[String], a: &str, b: &str) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        same_word(w, a)
            && words[i.saturating_sub(COMPOUND_WINDOW)..(i + COMPOUND_WINDOW + 1).min(words.len())]
                .iter()
                .any(|v| same_word(v, b))
    })
}

/// Whether `words` (a passage's stems) hold `phrase`'s stems next to each other, in order.
fn holds_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty()
        && words
            .windows(phrase.len())
            .any(|window| window.iter().zip(phrase).all(|(w, p)| same_word(w, p)))
}

/// How much a term of the question weighs: the square of its inverse document frequency
/// `ln(1 + n / (df + 1))` when it occurs in `df` of the `n` passages (squared as in the cosine
/// of TF-IDF vectors, where the question and the passage each weigh the term by its IDF). A
/// term in many passages ("equation", "cause") weighs little, one in a few ("discriminant")
/// much, one in none ("logarithmic", "Russian") most: a question about something the lessons
/// never name is not covered by them, however many of its common words they hold.
fn idf(n: i64, df: i64) -> f64 {
    let idf = (1.0 + n.max(0) as f64 / (df.max(0) as f64 + 1.0)).ln();
    idf * idf
}

/// The share (0..=1) of the question's weight that `text` holds: each of `terms` weighs its
/// `weights` entry and counts as held when a word of `text` is the same word; the words of a
/// name from [`names`] count only when `text` holds the name as a phrase.
fn coverage(
    terms: &[String],
    weights: &[f64],
    names: &[Vec<usize>],
    unheld: &HashSet<usize>,
    text: &str,
) -> f64 {
    let term_stems: Vec<String> = terms.iter().map(|t| stem(t)).collect();
    coverage_of(&term_stems, weights, names, unheld, &stems(text))
}

/// [`coverage`] over stems already taken: the question's terms' and the text's words'.
fn coverage_of(
    term_stems: &[String],
    weights: &[f64],
    names: &[Vec<usize>],
    unheld: &HashSet<usize>,
    words: &[String],
) -> f64 {
    let total: f64 = weights.iter().sum();
    if term_stems.is_empty() || total <= 0.0 {
        return 0.0;
    }
    let distinct: HashSet<&String> = words.iter().collect();
    let mut held: Vec<bool> = term_stems
        .iter()
        .enumerate()
        .map(|(i, t)| !unheld.contains(&i) && distinct.iter().any(|w| same_word(t, w)))
        .collect();
    for name in names {
        let phrase: Vec<String> = name.iter().map(|&i| term_stems[i].clone()).collect();
        if !holds_phrase(words, &phrase) {
            for &i in name {
                held[i] = false;
            }
        }
    }
    let found: f64 = held
        .iter()
        .zip(weights)
        .filter(|(h, _)| **h)
        .map(|(_, w)| w)
        .sum();
    found / total
}

/// The columns that count how many passages there are (`n`) and how many of them each term
/// occurs in (`d0`, `d1`, …), as the index sees it (its own stemming), over every lesson: the
/// weights of [`idf`]. Uncorrelated scalar subqueries, so both backends compute each once
/// however many rows carry them. PostgreSQL's placeholders are numbered from `first`.
fn frequency_columns(backend: DbBackend, terms: &[String], first: usize) -> (String, Vec<Value>) {
    let mut columns = vec!["(SELECT count(*) FROM lesson_passages) AS n".to_string()];
    let mut values: Vec<Value> = Vec::with_capacity(terms.len());
    for (i, term) in terms.iter().enumerate() {
        columns.push(match backend {
            DbBackend::Sqlite => format!(
                "(SELECT count(*) FROM lesson_passages_fts WHERE lesson_passages_fts MATCH ?) AS d{i}"
            ),
            _ => format!(
                "(SELECT count(*) FROM lesson_passages \
                 WHERE search_vector @@ to_tsquery('english', ${})) AS d{i}",
                first + i
            ),
        });
        values.push(match backend {
            DbBackend::Sqlite => format!("\"{term}\"").into(),
            _ => term.clone().into(),
        });
    }
    (columns.join(", "), values)
}

/// The passages that best answer `question`, best first, at most `limit`; only lessons of
/// `topic_id` when given. The question's content terms are OR-ed, so a natural question
/// matches passages holding some of them; the index ranks them BM25-style (SQLite FTS5
/// `bm25()`, heading weighted double; PostgreSQL `ts_rank` over the generated `tsvector`), and
/// the candidates are re-ranked by their coverage: the share of the question's weight they
/// hold, each term weighing the square of its IDF over all passages (the index's own counts,
/// so both backends weigh alike), where a term counts as held when the passage has the same
/// word (not merely one starting alike), the words of a capitalised name ([`names`]) only
/// side by side, and the rarer word of a compound the candidates never use ([`compounds`])
/// nowhere.
pub async fn search(
    conn: &impl ConnectionTrait,
    question: &str,
    topic_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Hit>, DbErr> {
    let terms = query_terms(question);
    if terms.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let names = names(question);
    let candidates = (limit * 3).max(MIN_CANDIDATES);
    let backend = conn.get_database_backend();
    let topic_clause = |placeholder: &str| match topic_id {
        Some(_) => {
            format!(" AND p.lesson_id IN (SELECT id FROM lessons WHERE topic_id = {placeholder})")
        }
        None => String::new(),
    };
    let limit_value: Value = i64::try_from(candidates).unwrap_or(i64::MAX).into();
    // Each branch yields rows with a rank where larger is better, each carrying the document
    // frequencies of the question's terms (one round trip for both).
    let (sql, values) = match backend {
        DbBackend::Sqlite => {
            let query = terms
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(" OR ");
            let (frequencies, mut values) = frequency_columns(backend, &terms, 1);
            let sql = format!(
                "SELECT p.id, p.lesson_id, p.heading, p.passage_text, \
                 -bm25(lesson_passages_fts, 0.0, 2.0, 1.0) AS rank, {frequencies} \
                 FROM lesson_passages_fts f JOIN lesson_passages p ON p.id = f.passage_id \
                 WHERE lesson_passages_fts MATCH ?{} ORDER BY rank DESC LIMIT ?",
                topic_clause("?")
            );
            values.push(query.into());
            if let Some(topic) = topic_id {
                values.push(topic.into());
            }
            values.push(limit_value);
            (sql, values)
        }
        _ => {
            let query = terms.join(" | ");
            let mut values: Vec<Value> = vec![query.into()];
            if let Some(topic) = topic_id {
                values.push(topic.into());
            }
            values.push(limit_value);
            let (frequencies, term_values) = frequency_columns(backend, &terms, values.len() + 1);
            let sql = format!(
                "SELECT p.id, p.lesson_id, p.heading, p.passage_text, \
                 ts_rank(p.search_vector, q, 1)::float8 AS rank, {frequencies} \
                 FROM lesson_passages p, to_tsquery('english', $1) q \
                 WHERE p.search_vector @@ q{} ORDER BY rank DESC LIMIT {}",
                topic_clause("$2"),
                if topic_id.is_some() { "$3" } else { "$2" }
            );
            values.extend(term_values);
            (sql, values)
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    // No candidate, no hit: the weights only rank candidates.
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let n: i64 = first.try_get("", "n")?;
    let mut weights = Vec::with_capacity(terms.len());
    for i in 0..terms.len() {
        weights.push(idf(n, first.try_get("", &format!("d{i}"))?));
    }
    let mut candidate_stems = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: Uuid = row.try_get("", "id")?;
        let heading: Option<String> = row.try_get("", "heading")?;
        let text: String = row.try_get("", "passage_text")?;
        let full = format!("{} {text}", heading.as_deref().unwrap_or(""));
        candidate_stems.push(passage_stems(id, &full));
    }
    // A compound of the question ("water cycle", "climate change") whose words no candidate
    // holds near each other names something the lessons do not speak of, even where they use
    // both words apart (the cell cycle, water potential): its rarer word, the one that says what
    // the question is about, is taken to be used in another sense and counts as held nowhere.
    let term_stems: Vec<String> = terms.iter().map(|t| stem(t)).collect();
    let mut unheld = HashSet::new();
    for (a, b) in compounds(question) {
        if !candidate_stems
            .iter()
            .any(|words| holds_near(words, &term_stems[a], &term_stems[b]))
        {
            unheld.insert(if weights[a] >= weights[b] { a } else { b });
        }
    }
    let mut hits = Vec::with_capacity(rows.len());
    let mut ranks = Vec::with_capacity(rows.len());
    for (row, words) in rows.into_iter().zip(&candidate_stems) {
        let heading: Option<String> = row.try_get("", "heading")?;
        let text: String = row.try_get("", "passage_text")?;
        let covered = coverage_of(&term_stems, &weights, &names, &unheld, words.as_slice());
        ranks.push(row.try_get::<f64>("", "rank")?);
        hits.push(Hit {
            lesson_id: row.try_get("", "lesson_id")?,
            passage_id: row.try_get("", "id")?,
            heading,
            text,
            score: 0.0,
            coverage: covered,
        });
    }
    let best = ranks.iter().copied().fold(0.0_f64, f64::max);
    for (hit, rank) in hits.iter_mut().zip(ranks) {
        let relative = if best > 0.0 { rank / best } else { 0.0 };
        hit.score = COVERAGE_WEIGHT * hit.coverage + (1.0 - COVERAGE_WEIGHT) * relative;
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(hits)
}

/// The share (0..=1) of `question`'s content terms that `text` holds, every term weighing
/// alike and a capitalised name counting only as a phrase: the decline rule's measure for text
/// outside the lesson index (a student's own material chunks), where no document frequencies
/// over the lessons apply.
pub fn plain_coverage(question: &str, text: &str) -> f64 {
    let terms = query_terms(question);
    let weights = vec![1.0; terms.len()];
    coverage(&terms, &weights, &names(question), &HashSet::new(), text)
}

/// The decline rule: the tutor answers from the hits only when the best one holds a good share
/// of the question's content terms; otherwise the lessons do not cover the question.
pub fn answerable(hits: &[Hit]) -> bool {
    hits.first().is_some_and(|h| h.coverage >= MIN_COVERAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_follow_headings_and_carry_them() {
        let md = "Intro line.\n\n## First\n\nOne paragraph here.\n\n## Second\n\nAnother one.\nSame paragraph.\n";
        let passages = split_passages(md);
        assert_eq!(
            passages,
            vec![
                (None, "Intro line.".to_string()),
                (Some("First".into()), "One paragraph here.".into()),
                (
                    Some("Second".into()),
                    "Another one.\nSame paragraph.".into()
                ),
            ]
        );
    }

    #[test]
    fn short_paragraphs_are_grouped_and_long_ones_cut_at_sentences() {
        let para = |n: usize| vec!["word"; n].join(" ") + ".";
        let md = format!(
            "# H\n\n{}\n\n{}\n\n{}\n\n{}",
            para(30),
            para(40),
            para(50),
            (0..30).map(|_| para(19)).collect::<Vec<_>>().join(" ")
        );
        let passages = split_passages(&md);
        for (heading, text) in &passages {
            assert_eq!(heading.as_deref(), Some("H"));
            let words = word_count(text);
            assert!(words <= PASSAGE_MAX_WORDS, "{words} words");
        }
        // 30 + 40 grouped (70 ≥ 60), then 50 alone, then 570 words cut into ≤ 180-word pieces.
        assert_eq!(word_count(&passages[0].1), 70);
        assert!(passages.len() >= 5, "{}", passages.len());
        let total: usize = passages.iter().map(|(_, t)| word_count(t)).sum();
        assert_eq!(total, 30 + 40 + 50 + 570);
    }

    #[test]
    fn a_short_tail_joins_the_passage_before() {
        let md = format!("## H\n\n{}\n\nTiny tail.", vec!["w"; 70].join(" "));
        let passages = split_passages(&md);
        assert_eq!(passages.len(), 1);
        assert!(passages[0].1.ends_with("Tiny tail."));
    }

    #[test]
    fn demo_lessons_split_into_passages_of_the_target_size() {
        let data = crate::demo::DemoData::load().expect("demo data");
        for lesson in data
            .subjects
            .iter()
            .flat_map(|s| &s.topics)
            .flat_map(|t| &t.lessons)
        {
            let passages = split_passages(&lesson.content);
            assert!(!passages.is_empty(), "{}", lesson.title);
            for (_, text) in &passages {
                assert!(word_count(text) <= PASSAGE_MAX_WORDS, "{}", lesson.title);
            }
        }
    }

    #[test]
    fn questions_become_their_content_terms() {
        assert_eq!(
            query_terms("What does the Golgi apparatus actually do?"),
            ["golgi", "apparatus"]
        );
        assert_eq!(
            query_terms("How do I factorize and why did civilization start?"),
            ["factorise", "civilisation", "start"]
        );
        assert!(query_terms("what is it?").is_empty());
    }

    #[test]
    fn words_match_their_relatives_only() {
        assert!(same_word(&stem("revolution"), &stem("revolutionary")));
        assert!(same_word(&stem("chromosomes"), &stem("chromosomal")));
        assert!(same_word(&stem("solving"), &stem("solve")));
        assert!(!same_word(&stem("differential"), &stem("different")));
        assert!(!same_word(&stem("relativity"), &stem("relatively")));
    }

    #[test]
    fn names_and_compounds_come_from_adjacent_words() {
        // "caused" is not capitalised: the name is World War One.
        assert_eq!(names("What caused World War One?"), [vec![1, 2, 3]]);
        assert!(names("what caused world war one").is_empty());
        assert_eq!(names("why did the French Revolution happen"), [vec![0, 1]]);
        // Adjacent content words only: "of" separates "equation" and "circle".
        assert_eq!(compounds("what is the water cycle"), [(0, 1)]);
        assert!(compounds("what is the equation of a circle").is_empty());
    }

    #[test]
    fn a_name_counts_only_as_a_phrase_and_rare_terms_weigh_most() {
        let terms = query_terms("what caused the French Revolution");
        let weights = [1.0; 3];
        let names = names("what caused the French Revolution");
        let none = HashSet::new();
        let apart = "The revolution in France was caused by debt; French wine.";
        assert!(coverage(&terms, &weights, &names, &none, apart) < 0.5);
        let together = "What caused the French Revolution of 1789?";
        assert!((coverage(&terms, &weights, &names, &none, together) - 1.0).abs() < 1e-9);
        // A term in no passage outweighs one in most of them.
        assert!(idf(100, 0) > 4.0 * idf(100, 60));
    }

    #[test]
    fn remembered_passage_stems_follow_the_text() {
        let id = Uuid::now_v7();
        let first = passage_stems(id, "Cells divide");
        assert_eq!(*first, stems("Cells divide"));
        assert_eq!(*passage_stems(id, "Cells divide"), *first);
        // The same id with another text is stemmed afresh.
        assert_eq!(
            *passage_stems(id, "Osmosis moves water"),
            stems("Osmosis moves water")
        );
    }

    #[test]
    fn coverage_matches_word_forms() {
        let terms = query_terms("dividing cells industrialization");
        let weights = [1.0; 3];
        let c = coverage(
            &terms,
            &weights,
            &[],
            &HashSet::new(),
            "A cell divides; Britain industrialised first.",
        );
        assert!((c - 1.0).abs() < 1e-9, "{c}");
        assert!(coverage(&terms, &weights, &[], &HashSet::new(), "nothing related") < 1e-9);
    }
}
