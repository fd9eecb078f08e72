//! Placeholder until the real module lands (being written beside this).

pub(crate) const MAX_TEXT: usize = 4096;
pub(crate) const MAX_CAPTION: usize = 1024;

pub(crate) fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

pub(crate) fn split_for_telegram(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = vec![String::new()];
    for ch in text.chars() {
        let last = pieces.last_mut().expect("one piece");
        if utf16_len(last) + ch.len_utf16() > limit {
            pieces.push(String::new());
        }
        pieces.last_mut().expect("one piece").push(ch);
    }
    pieces
}
