//! Token counting, so that usage is reported in the unit providers bill in even when a provider
//! does not say (the offline provider, a stream without a usage chunk), and so that the tutor's
//! history fits the model's context.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tiktoken_rs::CoreBPE;

use super::provider::Turn;

/// What each chat message costs beyond its text (role and separators), as OpenAI counts it.
const PER_MESSAGE: usize = 4;
/// How many texts [`count_recurring`] remembers per tokenizer before it starts afresh.
const REMEMBERED_TEXTS: usize = 4096;
/// Texts shorter than this (in bytes) are encoded each time: cheaper than remembering them.
const REMEMBERED_MIN_BYTES: usize = 64;

/// The tokenizer family of a model: `o200k_base` for the gpt-4o family and its successors,
/// `cl100k_base` for everything else.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Cl100k = 0,
    O200k = 1,
}

fn family(model: &str) -> Family {
    let o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
    ];
    if o200k.iter().any(|prefix| model.starts_with(prefix)) {
        Family::O200k
    } else {
        Family::Cl100k
    }
}

/// The tokenizer of a family, built once per process.
fn bpe(family: Family) -> &'static CoreBPE {
    match family {
        Family::O200k => tiktoken_rs::o200k_base_singleton(),
        Family::Cl100k => tiktoken_rs::cl100k_base_singleton(),
    }
}

/// Tokens of `text` for `model`.
pub fn count(model: &str, text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    bpe(family(model)).encode_ordinary(text).len()
}

/// Tokens of one chat message, its role overhead included.
pub fn count_message(model: &str, text: &str) -> usize {
    count(model, text) + PER_MESSAGE
}

/// Token counts of texts seen before, per tokenizer family.
static REMEMBERED: LazyLock<Mutex<[HashMap<String, usize>; 2]>> =
    LazyLock::new(|| Mutex::new([HashMap::new(), HashMap::new()]));

/// [`count`] for texts that come back from call to call — lesson passages sent as sources, a
/// thread's earlier messages — each encoded once and then remembered (the memory is bounded:
/// when full it starts afresh). The same figure as [`count`].
pub fn count_recurring(model: &str, text: &str) -> usize {
    if text.len() < REMEMBERED_MIN_BYTES {
        return count(model, text);
    }
    let family = family(model);
    let slot = family as usize;
    if let Some(&n) = REMEMBERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(slot)
        .and_then(|m| m.get(text))
    {
        return n;
    }
    let n = bpe(family).encode_ordinary(text).len();
    let mut remembered = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    let map = &mut remembered[slot];
    if map.len() >= REMEMBERED_TEXTS {
        map.clear();
    }
    map.insert(text.to_string(), n);
    n
}

/// [`count_message`] for a text that comes back from call to call (see [`count_recurring`]).
pub fn count_message_recurring(model: &str, text: &str) -> usize {
    count_recurring(model, text) + PER_MESSAGE
}

/// The newest turns of `history` whose messages fit in `budget` tokens, oldest first. A turn
/// that does not fit ends the history there: the model never sees a conversation with a hole.
pub fn trim_history(history: &[Turn], budget: usize, model: &str) -> Vec<Turn> {
    let mut used = 0;
    let mut kept = Vec::new();
    for turn in history.iter().rev() {
        let cost = count_message_recurring(model, &turn.text);
        if used + cost > budget {
            break;
        }
        used += cost;
        kept.push(turn.clone());
    }
    kept.reverse();
    kept
}

/// Saturating conversion for the `u32` fields of [`super::Usage`].
pub fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::provider::Role;

    fn turn(role: Role, text: &str) -> Turn {
        Turn {
            role,
            text: text.into(),
        }
    }

    #[test]
    fn counts_real_tokens_with_the_model_family_tokenizer() {
        assert_eq!(count("gpt-4o-mini", ""), 0);
        assert_eq!(count("gpt-4o-mini", "hello world"), 2);
        assert_eq!(count("offline-tutor", "hello world"), 2);
        assert!(count("gpt-4o", "Photosynthesis converts light energy.") >= 4);
    }

    #[test]
    fn remembered_counts_are_the_counts() {
        let text = "Photosynthesis converts light energy into chemical energy stored in glucose. "
            .repeat(3);
        for model in ["gpt-4o-mini", "offline-tutor"] {
            let fresh = count(model, &text);
            assert_eq!(count_recurring(model, &text), fresh);
            // The second time from memory, still the same.
            assert_eq!(count_recurring(model, &text), fresh);
            assert_eq!(count_message_recurring(model, &text), fresh + PER_MESSAGE);
        }
        assert_eq!(count_recurring("gpt-4o-mini", "hello world"), 2);
    }

    #[test]
    fn trimming_keeps_the_newest_turns_within_the_budget() {
        let history = vec![
            turn(Role::User, &"old question ".repeat(50)),
            turn(Role::Assistant, "a short answer"),
            turn(Role::User, "a newer question"),
            turn(Role::Assistant, "the newest answer"),
        ];
        let all = trim_history(&history, 10_000, "gpt-4o-mini");
        assert_eq!(all, history);
        let newest = trim_history(&history, 40, "gpt-4o-mini");
        assert_eq!(newest, history[1..].to_vec());
        let last = trim_history(&history, 10, "gpt-4o-mini");
        assert_eq!(last, history[3..].to_vec());
        assert!(trim_history(&history, 2, "gpt-4o-mini").is_empty());
    }
}
