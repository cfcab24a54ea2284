//! Token counting, so that usage is reported in the unit providers bill in even when a provider
//! does not say (the offline provider, a stream without a usage chunk), and so that the tutor's
//! history fits the model's context.

use tiktoken_rs::CoreBPE;

use super::provider::Turn;

/// What each chat message costs beyond its text (role and separators), as OpenAI counts it.
const PER_MESSAGE: usize = 4;

/// The tokenizer of a model: `o200k_base` for the gpt-4o family and its successors,
/// `cl100k_base` for everything else. Both are built once per process.
fn bpe(model: &str) -> &'static CoreBPE {
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
        tiktoken_rs::o200k_base_singleton()
    } else {
        tiktoken_rs::cl100k_base_singleton()
    }
}

/// Tokens of `text` for `model`.
pub fn count(model: &str, text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    bpe(model).encode_ordinary(text).len()
}

/// Tokens of one chat message, its role overhead included.
pub fn count_message(model: &str, text: &str) -> usize {
    count(model, text) + PER_MESSAGE
}

/// The newest turns of `history` whose messages fit in `budget` tokens, oldest first. A turn
/// that does not fit ends the history there: the model never sees a conversation with a hole.
pub fn trim_history(history: &[Turn], budget: usize, model: &str) -> Vec<Turn> {
    let mut used = 0;
    let mut kept = Vec::new();
    for turn in history.iter().rev() {
        let cost = count_message(model, &turn.text);
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
