//! The answer-leak guard (issue 8 item 5): the tutor explains and guides, but never hands over
//! the correct option of a quiz question the student has not yet submitted. The prompt asks a
//! hosted model for that and the offline provider masks the keys in what it quotes; this guard
//! enforces it on the server whatever the provider wrote, before a reply is streamed or stored.
//!
//! Matching is on a normal form, so "x=5", "X = 5" and "x  =  5" are one key: lower case, the
//! minus sign as a hyphen, and whitespace dropped except a single space between two letters
//! or digits. A key matches only as a whole (no letter or digit right before or after it), so
//! the key "7 cm" does not fire on "17 cm".
//!
//! Streamed replies are released a sentence at a time: a sentence is checked (and redacted)
//! whole before any of it leaves the server, so a key split across two deltas is still caught.

/// What replaces a key in a reply: the same mark the providers use when they mask one.
pub const MASK: &str = crate::ai::offline::MASK;

/// The keys one reply must not contain, in normal form.
#[derive(Debug, Clone, Default)]
pub struct AnswerKeys {
    keys: Vec<String>,
}

/// `text` in normal form, with the byte offset in `text` where each normal-form character
/// came from (and one past the end).
fn normalise(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    let mut pending_space: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            pending_space.get_or_insert(i);
            continue;
        }
        let c = match c {
            '\u{2212}' | '\u{2013}' | '\u{2010}' => '-',
            '\u{00d7}' => '*',
            c => c,
        };
        if let Some(at) = pending_space.take()
            && c.is_alphanumeric()
            && out.chars().last().is_some_and(char::is_alphanumeric)
        {
            out.push(' ');
            origin.push(at);
        }
        for lower in c.to_lowercase() {
            out.push(lower);
            // Every byte of the pushed character maps to where it came from.
            for _ in 0..lower.len_utf8() {
                origin.push(i);
            }
        }
    }
    origin.push(text.len());
    (out, origin)
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

impl AnswerKeys {
    /// The keys to protect; blank ones are dropped, duplicates kept once.
    pub fn new<I, S>(answers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys: Vec<String> = answers
            .into_iter()
            .map(|a| normalise(a.as_ref()).0)
            .filter(|k| !k.is_empty())
            .collect();
        // Longest first, so a key that contains another is masked whole.
        keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        keys.dedup();
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The byte ranges of `text` where a key occurs, in order, not overlapping.
    fn occurrences(&self, text: &str) -> Vec<(usize, usize)> {
        if self.keys.is_empty() {
            return Vec::new();
        }
        let (norm, origin) = normalise(text);
        let mut found: Vec<(usize, usize)> = Vec::new();
        for key in &self.keys {
            let mut from = 0;
            while let Some(pos) = norm[from..].find(key.as_str()) {
                let start = from + pos;
                let end = start + key.len();
                let before = norm[..start].chars().next_back();
                let after = norm[end..].chars().next();
                let first = key.chars().next();
                let last = key.chars().next_back();
                let glued_before = is_word_char(first) && is_word_char(before);
                let glued_after = is_word_char(last) && is_word_char(after);
                let bounded = !glued_before && !glued_after;
                if bounded {
                    // Back to `text`: from the first character's origin to the end of the last.
                    let raw_start = origin[start];
                    let raw_end = origin[end - 1]
                        + text[origin[end - 1]..]
                            .chars()
                            .next()
                            .map_or(0, char::len_utf8);
                    if !found
                        .iter()
                        .any(|&(s, e)| raw_start < e && s < raw_end.max(raw_start + 1))
                    {
                        found.push((raw_start, raw_end));
                    }
                }
                from = start + key.chars().next().map_or(1, char::len_utf8);
            }
        }
        found.sort_unstable();
        found
    }

    /// Whether `text` gives a key away.
    pub fn leaks(&self, text: &str) -> bool {
        !self.occurrences(text).is_empty()
    }

    /// `text` with every key replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let found = self.occurrences(text);
        if found.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in found {
            out.push_str(&text[at..start]);
            out.push_str(MASK);
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// Releases a streamed reply a sentence at a time, each redacted whole.
#[derive(Debug, Default)]
pub struct StreamGuard {
    keys: AnswerKeys,
    pending: String,
    redacted: bool,
}

impl StreamGuard {
    pub fn new(keys: AnswerKeys) -> Self {
        Self {
            keys,
            pending: String::new(),
            redacted: false,
        }
    }

    /// Takes a delta; returns the text now safe to send (possibly empty).
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        if self.keys.is_empty() {
            return std::mem::take(&mut self.pending);
        }
        // The last sentence end: a line break, or . ! ? followed by whitespace.
        let bytes = self.pending.as_bytes();
        let mut cut = None;
        for i in (0..bytes.len()).rev() {
            if bytes[i] == b'\n'
                || (matches!(bytes[i], b'.' | b'!' | b'?')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace))
            {
                cut = Some(i + 1);
                break;
            }
        }
        match cut {
            Some(cut) => {
                let rest = self.pending.split_off(cut);
                let done = std::mem::replace(&mut self.pending, rest);
                self.release(&done)
            }
            None => String::new(),
        }
    }

    /// The rest of the reply, at its end.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.release(&rest)
    }

    /// Whether anything had to be masked.
    pub fn redacted(&self) -> bool {
        self.redacted
    }

    fn release(&mut self, text: &str) -> String {
        let safe = self.keys.redact(text);
        if safe != text {
            self.redacted = true;
        }
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_in_any_spacing_and_case_but_only_whole() {
        let keys = AnswerKeys::new(["x = 5", "7 cm", "Divide by 4", "(7, 3)"]);
        assert!(keys.leaks("So x=5 is the answer"));
        assert!(keys.leaks("so X =  5."));
        assert!(keys.leaks("you should divide   BY 4 here"));
        assert!(keys.leaks("the pair (7,3) works"));
        assert!(keys.leaks("the width is 7 cm"));
        assert!(!keys.leaks("the width is 17 cm"));
        assert!(!keys.leaks("x = 50 is too big"));
        assert!(!keys.leaks("divide by 40"));
        assert!(!keys.leaks("nothing to see"));
    }

    #[test]
    fn redaction_masks_each_occurrence_and_keeps_the_rest() {
        let keys = AnswerKeys::new(["mitochondria", "x = 5"]);
        assert_eq!(
            keys.redact("The Mitochondria make ATP; mitochondria again, and x=5."),
            format!("The {MASK} make ATP; {MASK} again, and {MASK}.")
        );
        assert_eq!(keys.redact("Unrelated."), "Unrelated.");
        assert_eq!(
            AnswerKeys::new(["3 − 7"]).redact("gives 3 - 7 here"),
            format!("gives {MASK} here")
        );
    }

    #[test]
    fn a_key_split_across_deltas_is_still_masked_in_the_stream() {
        let mut guard = StreamGuard::new(AnswerKeys::new(["Divide by 4"]));
        let mut out = String::new();
        for delta in [
            "To undo it, div",
            "ide b",
            "y 4. Then check",
            " your work.",
            " Done",
        ] {
            out.push_str(&guard.push(delta));
        }
        out.push_str(&guard.finish());
        assert_eq!(
            out,
            format!("To undo it, {MASK}. Then check your work. Done")
        );
        assert!(guard.redacted());
    }

    #[test]
    fn without_keys_the_stream_passes_through_at_once() {
        let mut guard = StreamGuard::new(AnswerKeys::new(Vec::<String>::new()));
        assert_eq!(guard.push("half a sen"), "half a sen");
        assert_eq!(guard.finish(), "");
        assert!(!guard.redacted());
    }
}
