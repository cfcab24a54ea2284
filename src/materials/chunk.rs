//! Splitting a material's text into overlapping, token-aware chunks (text-splitter over the
//! cl100k tokenizer): Markdown along its structure (headings, lists, code blocks), other text
//! along paragraphs, sentences and words. Each chunk keeps its token count.

use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};

/// Tokens per chunk, at most.
pub const CHUNK_TOKENS: usize = 400;
/// Tokens a chunk shares with the one before it, so a passage cut at a boundary is still
/// found whole in one of the two.
pub const OVERLAP_TOKENS: usize = 60;

/// One chunk of text and its size in tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    pub token_count: usize,
}

/// The chunks of `text`, in order. CPU-bound: call it on a blocking thread for large texts.
pub fn split(text: &str, markdown: bool) -> Vec<Chunk> {
    let tokenizer = tiktoken_rs::cl100k_base_singleton();
    let config = match ChunkConfig::new(CHUNK_TOKENS).with_overlap(OVERLAP_TOKENS) {
        Ok(config) => config.with_sizer(tokenizer),
        // Unreachable with the constants above (the overlap is smaller than the capacity).
        Err(_) => ChunkConfig::new(CHUNK_TOKENS).with_sizer(tokenizer),
    };
    let pieces: Vec<&str> = if markdown {
        MarkdownSplitter::new(config).chunks(text).collect()
    } else {
        TextSplitter::new(config).chunks(text).collect()
    };
    pieces
        .into_iter()
        .map(|piece| Chunk {
            text: piece.to_string(),
            token_count: tokenizer.encode_ordinary(piece).len(),
        })
        .filter(|c| !c.text.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_becomes_overlapping_chunks_within_the_token_budget() {
        let sentence = "Mitochondria convert the energy of food into ATP for the cell. ";
        let text = sentence.repeat(400);
        let chunks = split(&text, false);
        assert!(chunks.len() > 5, "{}", chunks.len());
        for c in &chunks {
            assert!(c.token_count <= CHUNK_TOKENS, "{}", c.token_count);
            assert!(c.token_count > 0);
        }
        // Neighbours overlap: the start of a chunk occurs at the end of the one before.
        let head: String = chunks[1].text.chars().take(40).collect();
        assert!(chunks[0].text.contains(head.trim()), "{head:?}");
    }

    #[test]
    fn markdown_is_split_at_its_headings() {
        let section =
            |n: usize| format!("# Part {n}\n\n{}\n\n", "Osmosis moves water. ".repeat(150));
        let text: String = (1..=3).map(section).collect();
        let chunks = split(&text, true);
        assert!(chunks.iter().any(|c| c.text.starts_with("# Part 2")));
    }
}
