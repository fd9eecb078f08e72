//! Telegram's length limits, and long texts split into messages that fit.
//!
//! Telegram counts a message's text and a caption in UTF-16 code units of
//! the text after entity parsing: the plain text, before HTML escaping. So
//! split the plain text, then escape each piece (`&` is one unit, not five).

// The support desk that sends long texts lands in parallel; drop this once
// it calls in here.
#![allow(dead_code, reason = "no caller yet: the support desk lands separately")]

/// The longest message text, in UTF-16 units.
pub(crate) const MAX_TEXT: usize = 4096;
/// The longest caption of a photo or document, in UTF-16 units.
pub(crate) const MAX_CAPTION: usize = 1024;

/// Length as Telegram counts it: UTF-16 code units (an emoji is often 2).
pub(crate) fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Splits `text` into pieces of at most `limit` UTF-16 units, in order.
///
/// A text that fits is one piece, unchanged; an empty text is no pieces
/// (Telegram refuses an empty message, so there is nothing to send).
/// Otherwise each cut is made, in this order of preference, at the last
/// paragraph break (`\n\n`), line break, or space that leaves the piece at
/// least half the limit long; failing those, at the last char that fits,
/// moved back a little so as not to part an emoji from its modifiers or
/// joiners, or the two halves of a flag (a cheap check, not full Unicode
/// segmentation; never inside a char, so never inside a surrogate pair).
///
/// The whitespace at a cut is dropped: the piece before ends at its last
/// non-whitespace char and the next begins at its first non-whitespace char
/// (Telegram would trim it anyway, and a piece of only whitespace would be
/// refused). Nothing else is dropped: putting the dropped whitespace back
/// between the pieces gives `text`.
///
/// A `limit` below 2 is taken as 2, since one char may need 2 units. Pass a
/// smaller limit for a first piece that must leave room for a header.
pub(crate) fn split_for_telegram(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(2);
    let mut pieces = Vec::new();
    let mut rest = text;
    while utf16_len(rest) > limit {
        let fit = fitting_prefix(rest, limit);
        let cut = break_at(rest, fit, limit).unwrap_or_else(|| hard_cut(rest, fit));
        let piece = rest[..cut].trim_end();
        if !piece.is_empty() {
            pieces.push(piece.to_owned());
        }
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// The byte length of the longest prefix of `text` within `limit` units.
fn fitting_prefix(text: &str, limit: usize) -> usize {
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > limit {
            return at;
        }
    }
    text.len()
}

/// Where to cut at whitespace: the start of the last preferred break that
/// begins within the fitting prefix (the break itself is dropped, so it
/// need not fit) and leaves a piece of at least half the limit.
fn break_at(text: &str, fit: usize, limit: usize) -> Option<usize> {
    // Byte index after the char at `fit`, and after the one after that.
    let mut ends = text[fit..].char_indices().map(|(at, _)| fit + at).skip(1);
    let one = ends.next().unwrap_or(text.len());
    let two = ends.next().unwrap_or(text.len());
    let long_enough = |at: usize| utf16_len(text[..at].trim_end()) * 2 >= limit;
    [text[..two].rfind("\n\n"), text[..one].rfind('\n'), text[..one].rfind(' ')]
        .into_iter()
        .flatten()
        .find(|&at| long_enough(at))
}

/// Where to cut inside a run of text: at `fit`, or a few chars earlier if
/// that would split what is drawn as one symbol.
fn hard_cut(text: &str, fit: usize) -> usize {
    let mut cut = fit;
    // A handful of steps: a longer cluster is not worth keeping whole.
    for _ in 0..8 {
        let (Some(before), Some(after)) =
            (text[..cut].chars().next_back(), text[cut..].chars().next())
        else {
            break;
        };
        let splits_flag = is_regional_indicator(before)
            && is_regional_indicator(after)
            && text[..cut].chars().rev().take_while(|&c| is_regional_indicator(c)).count() % 2 == 1;
        if !(joins_previous(after) || before == ZWJ || splits_flag) {
            return cut;
        }
        cut -= before.len_utf8();
        if cut == 0 {
            break;
        }
    }
    // No good place near the limit (or none at all): cut at the limit.
    fit
}

const ZWJ: char = '\u{200D}';

/// Chars drawn as part of the char before them.
fn joins_previous(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'       // combining diacritical marks (й as и + ◌̆)
        | '\u{200C}'..='\u{200D}'     // zero-width (non-)joiner
        | '\u{20D0}'..='\u{20FF}'     // combining marks for symbols, keycap
        | '\u{FE00}'..='\u{FE0F}'     // variation selectors (emoji presentation)
        | '\u{1F3FB}'..='\u{1F3FF}'   // skin tones
        | '\u{E0020}'..='\u{E007F}'   // tags (subdivision flags)
    )
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every piece fits, none is empty, and the pieces are `text` in order
    /// with only whitespace between them.
    fn check(text: &str, limit: usize) -> Vec<String> {
        let pieces = split_for_telegram(text, limit);
        let mut rest = text;
        for piece in &pieces {
            assert!(utf16_len(piece) <= limit, "{} > {limit}: {piece:?}", utf16_len(piece));
            assert!(!piece.is_empty());
            if !rest.starts_with(piece.as_str()) {
                rest = rest.trim_start();
            }
            assert!(rest.starts_with(piece.as_str()), "lost text before {piece:?}");
            rest = &rest[piece.len()..];
        }
        assert!(rest.trim().is_empty(), "lost the end: {rest:?}");
        pieces
    }

    #[test]
    fn lengths_are_utf16_units() {
        assert_eq!(utf16_len(""), 0);
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("Привет"), 6);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("👍🏽"), 4);
        assert_eq!(utf16_len("&amp;"), 5);
    }

    #[test]
    fn a_text_that_fits_is_one_unchanged_piece() {
        assert_eq!(split_for_telegram("", MAX_TEXT), Vec::<String>::new());
        assert_eq!(split_for_telegram("  hi \n", MAX_TEXT), vec!["  hi \n"]);
        let exact = "я".repeat(MAX_TEXT);
        assert_eq!(split_for_telegram(&exact, MAX_TEXT), vec![exact.clone()]);
        let emoji = "😀".repeat(MAX_CAPTION / 2);
        assert_eq!(split_for_telegram(&emoji, MAX_CAPTION), vec![emoji.clone()]);
    }

    #[test]
    fn one_unit_over_the_limit_makes_two_pieces() {
        let text = format!("{} {}", "a".repeat(MAX_TEXT - 1), "b");
        assert_eq!(utf16_len(&text), MAX_TEXT + 1);
        assert_eq!(check(&text, MAX_TEXT), vec!["a".repeat(MAX_TEXT - 1), "b".to_owned()]);
        // An emoji that would straddle the limit goes to the next piece.
        let text = format!("{}😀", "a".repeat(MAX_TEXT - 1));
        assert_eq!(check(&text, MAX_TEXT), vec!["a".repeat(MAX_TEXT - 1), "😀".to_owned()]);
    }

    #[test]
    fn paragraphs_are_preferred_to_lines_and_lines_to_spaces() {
        let text = "first paragraph line\nsecond line of it\n\nnext paragraph words here";
        assert_eq!(
            check(text, 50),
            vec!["first paragraph line\nsecond line of it", "next paragraph words here"]
        );
        let text = "one longer line of words here\nanother line of words and more";
        assert_eq!(
            check(text, 40),
            vec!["one longer line of words here", "another line of words and more"]
        );
        let text = "words and words and words and words";
        assert_eq!(check(text, 20), vec!["words and words and", "words and words"]);
    }

    #[test]
    fn a_break_too_early_is_passed_over_for_a_later_one() {
        // The paragraph break would leave 2 units of 20: the space is used.
        let text = "ab\n\ncd ef gh ij kl mn op qr";
        assert_eq!(check(text, 20), vec!["ab\n\ncd ef gh ij kl", "mn op qr"]);
    }

    #[test]
    fn whitespace_at_a_cut_is_dropped_and_nothing_else() {
        let text = "alpha beta   \n\n\n   gamma delta";
        assert_eq!(check(text, 16), vec!["alpha beta", "gamma delta"]);
        // Leading whitespace of the whole text stays when it is not at a cut.
        let text = "  alpha beta gamma";
        assert_eq!(check(text, 14), vec!["  alpha beta", "gamma"]);
        // Whitespace-only stretches longer than the limit vanish at the cuts.
        let text = format!("a{}b", " ".repeat(50));
        assert_eq!(check(&text, 10), vec!["a", "b"]);
    }

    #[test]
    fn a_long_line_without_spaces_is_cut_anywhere() {
        let text = "x".repeat(10_000);
        let pieces = check(&text, MAX_TEXT);
        let lengths: Vec<usize> = pieces.iter().map(|p| utf16_len(p)).collect();
        assert_eq!(lengths, [4096, 4096, 1808]);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn emoji_are_never_cut_in_half() {
        let text = "😀".repeat(5000); // 10 000 units
        let pieces = check(&text, MAX_TEXT);
        assert_eq!(pieces.iter().map(|p| utf16_len(p)).collect::<Vec<_>>(), [4096, 4096, 1808]);
        assert_eq!(pieces.concat(), text);
        // An odd limit: one unit stays unused.
        let pieces = check(&"😀".repeat(10), 5);
        assert!(pieces.iter().all(|p| utf16_len(p) == 4));
    }

    #[test]
    fn emoji_with_modifiers_and_flags_stay_whole_when_cheap() {
        let thumbs = "👍🏽"; // 4 units: the hand and a skin tone
        let pieces = check(&thumbs.repeat(10), 10);
        assert!(pieces.iter().all(|p| p.as_str() == thumbs.repeat(2)), "{pieces:?}");
        let family = "👨\u{200D}👩\u{200D}👧"; // 8 units joined by ZWJ
        let pieces = check(&format!("ab{family}{family}"), 12);
        assert_eq!(pieces, vec![format!("ab{family}"), family.to_owned()]);
        let flags = "🇷🇺🇩🇪🇫🇷"; // three flags, 4 units each
        let pieces = check(&format!("a{flags}"), 10);
        assert_eq!(pieces, vec!["a🇷🇺🇩🇪".to_owned(), "🇫🇷".to_owned()]);
        // A cluster longer than the limit is cut anyway, between chars.
        let pieces = check(&format!("{family}{family}"), 6);
        assert!(pieces.len() >= 3);
    }

    #[test]
    fn cyrillic_is_split_at_words() {
        let text = "Здравствуйте! Ваш пароль сброшен, ссылка действует десять минут. ".repeat(200);
        let pieces = check(text.trim_end(), MAX_TEXT);
        assert_eq!(pieces.len(), 4);
        for piece in &pieces {
            assert!(piece.ends_with("минут."), "{}", &piece[piece.len() - 20..]);
        }
    }

    #[test]
    fn a_first_piece_can_leave_room_for_a_header() {
        let header = "Ticket #42 — Иван Петров\n\n";
        let body = "слово ".repeat(2000);
        let first = split_for_telegram(&body, MAX_TEXT - utf16_len(header));
        let message = format!("{header}{}", first[0]);
        assert!(utf16_len(&message) <= MAX_TEXT);
        assert!(utf16_len(&message) > MAX_TEXT - 10);
    }

    #[test]
    fn tiny_limits_still_make_progress() {
        assert_eq!(check("abc", 2), vec!["ab", "c"]);
        assert_eq!(split_for_telegram("😀😀", 0), vec!["😀", "😀"]);
        assert_eq!(split_for_telegram("abc", 1), vec!["ab", "c"]);
    }

    #[test]
    fn mixed_texts_always_fit_and_lose_nothing() {
        let words = ["мир", "😀", "a", "👍🏽", "\n", "\n\n", " ", "слово", "🇷🇺", "tail", "  "];
        // A cheap deterministic mix: every limit against texts of many shapes.
        for seed in 0..40usize {
            let text: String =
                (0..300).map(|i| words[(i * 7 + seed * 13 + i / 5) % words.len()]).collect();
            for limit in [2, 3, 5, 8, 13, 64, 100, 4096] {
                check(&text, limit);
            }
        }
    }
}
