//! "Did you mean": the known names closest to a wrong one, for "unknown X (known: …)"
//! messages in the dial plan, the knowledge base and anything else an admin types.

/// Up to five known names, closest to `wrong` first (edit distance), then "…" when there
/// are more; "none" when nothing is known.
pub fn closest(wrong: &str, known: &[&str]) -> String {
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (edit_distance(wrong, k), *k))
        .collect();
    scored.sort();
    let mut out: Vec<&str> = scored.iter().take(5).map(|(_, k)| *k).collect();
    if known.len() > 5 {
        out.push("…");
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_names_come_first_and_more_than_five_end_with_an_ellipsis() {
        assert_eq!(
            closest("lakcm", &["adó", "lakcim", "lak"]),
            "lakcim, lak, adó"
        );
        assert_eq!(closest("x", &[]), "none");
        let many = ["a", "b", "c", "d", "e", "f"];
        assert!(closest("a", &many).ends_with(", …"));
    }
}
